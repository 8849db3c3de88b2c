package sim

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/localcluster"
)

// needsSim skips without what the sim needs: root (tmpfs mounts, mount
// namespaces), unshare, and the control-plane binaries (`make k8s-bins`).
func needsSim(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the drivers mount tmpfs targets and the providers run in their own mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux) to give each provider its own /etc/hosts")
	}
	dir, err := localcluster.BinaryCacheDir()
	if err != nil {
		t.Skipf("needs the control-plane binaries (make k8s-bins): %v", err)
	}
	if _, err := os.Stat(dir + "/kube-apiserver-" + localcluster.KubernetesVersion); err != nil {
		t.Skipf("needs the control-plane binaries in %s (make k8s-bins)", dir)
	}
}

// TestSmallSim runs the small sim of `make test` — 100 pods on 5 nodes, two
// classes, service principals (a shared identity per node, which the rotation
// bound is about) — through rotation (which mounts every pod first) and churn, and
// asserts the invariants only: every pod Running, every file correct, no 429,
// steady rotation cycles within distinct objects × nodes each (plus one round of
// slack, see checkInvariants), no leak after churn.
func TestSmallSim(t *testing.T) {
	needsSim(t)
	for _, w := range []string{"rotation", "churn"} {
		t.Run(w, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			res, err := Run(ctx, Options{
				Workload: w, Nodes: 5, Pods: 100, Objects: 3, Classes: 2, Identities: 2, IdentityMode: ServicePrincipal,
				RotationInterval: 10 * time.Second, SyncPeriod: 20 * time.Second, ChurnCycles: 2,
				RunDir: t.TempDir(), OutDir: t.TempDir(), Timeout: 5 * time.Minute,
				Progress: &testWriter{t: t},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range CheckInvariants(res) {
				t.Error(b)
			}
		})
	}
}

// testWriter logs whole lines (the summary table is written in pieces).
type testWriter struct {
	t   *testing.T
	buf []byte
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
