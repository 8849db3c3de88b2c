package scenarios

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kvcsi/kvcsi/refresh"
)

// tornReaderScript is the reader of faults/torn-reads: busybox ash with
// builtins only (no fork per read), in a tight loop until /tmp/stop exists.
// Each iteration enters the volume's current version through ..data (cd
// resolves it once, as a consumer reading several files consistently does)
// and reads both files. A read counts when both files still exist after
// it (the writer removes an old version once the new one is live: a read
// in a removed version is retried, counted as "retried"). Each file is
// "<n>:<padding>:<n>", both files of a version carry the same n:
// empty — a file read as nothing; partial — head and tail differ (a file
// caught mid-write); mixed — the two files carry different versions. At the
// end it writes the counts to /tmp/result.
const tornReaderScript = `r=0; m=0; p=0; e=0; g=0; v=0; last=
while [ ! -e /tmp/stop ]; do
  cd /mnt/secrets-store/..data/ 2>/dev/null || { g=$((g+1)); continue; }
  a=; b=
  read -r a < torna 2>/dev/null
  read -r b < tornb 2>/dev/null
  if [ ! -f torna ] || [ ! -f tornb ]; then g=$((g+1)); continue; fi
  r=$((r+1))
  if [ -z "$a" ] || [ -z "$b" ]; then e=$((e+1)); continue; fi
  if [ "${a%%:*}" != "${a##*:}" ] || [ "${b%%:*}" != "${b##*:}" ]; then p=$((p+1)); continue; fi
  if [ "${a%%:*}" != "${b%%:*}" ]; then m=$((m+1)); continue; fi
  if [ "${a%%:*}" != "$last" ]; then v=$((v+1)); last=${a%%:*}; fi
done
echo "reads=$r mixed=$m partial=$p empty=$e retried=$g versions=$v" > /tmp/result.tmp
mv /tmp/result.tmp /tmp/result
exec sleep 100000
`

func tornReaderPod() string {
	return `
kind: Pod
apiVersion: v1
metadata:
  name: reader
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: busybox
      image: registry.k8s.io/e2e-test-images/busybox:1.29-1
      command: ["/bin/sh", "-c", ` + strconv.Quote(tornReaderScript) + `]
      volumeMounts:
      - name: secrets-store01-inline
        mountPath: "/mnt/secrets-store"
        readOnly: true
  volumes:
    - name: secrets-store01-inline
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes:
          secretProviderClass: "torn"
`
}

// tornValue is version n of both files: the marker at both ends.
func tornValue(n int) string { return fmt.Sprintf("%d:%s:%d", n, strings.Repeat("x", 1000), n) }

// Torn-reads bounds: the pass condition, and a limit on the time the
// rotations may take so the scenario stays near two minutes.
const (
	tornMinRotations = 100
	tornMinReads     = 10000
	tornRotateFor    = 150 * time.Second
)

// csiVolumeDir is a pod's CSI volume mount on the node.
func csiVolumeDir(podUID, volume string) string {
	return filepath.Join("/var/lib/kubelet/pods", podUID, "volumes/kubernetes.io~csi", volume, "mount")
}

var faultsTornReads = Scenario{
	Name:    "faults/torn-reads",
	Section: "Enable and disable autorotation",
	Summary: "a busybox reader reads two files of one version in a tight loop across ≥100 rotations (driven by refresh on demand, one new version of both objects each): ≥10,000 reads, 0 mixed, 0 partial, 0 empty",
	Code:    []string{"driver/atomicwriter.Write", "driver/rotation.Rotator.refreshDue"},
	Run: func(ctx context.Context, env *Env) error {
		ft, err := faultTarget(env)
		if err != nil {
			return err
		}
		k := env.Target.Kube()
		v := env.Target.Vault()
		set := func(n int) error {
			for _, name := range []string{"torna", "tornb"} {
				if _, err := v.SetSecret(ctx, name, tornValue(n)); err != nil {
					return err
				}
			}
			return nil
		}
		if err := set(0); err != nil {
			return err
		}
		class := userMSIClass("torn", objects(object("objectName", "torna", "objectType", "secret"), object("objectName", "tornb", "objectType", "secret")), "")
		if err := env.startPod(ctx, "reader", class+"---"+tornReaderPod()); err != nil {
			return err
		}
		pod, err := k.Clientset.CoreV1().Pods(env.Namespace).Get(ctx, "reader", metav1.GetOptions{})
		if err != nil {
			return err
		}
		dir := csiVolumeDir(string(pod.UID), "secrets-store01-inline")
		// Rotate: a new version of both objects, then a refresh of the pod
		// (the provider reads the vault, not its cache), and wait on the
		// node until both files show it. The vault is not changed while a
		// rotation may be fetching, so every version the driver writes is
		// one complete pair.
		rotations := 0
		deadline := time.Now().Add(tornRotateFor)
		for n := 1; rotations < tornMinRotations+10 && time.Now().Before(deadline); n++ {
			if err := set(n); err != nil {
				return err
			}
			if _, err := refresh.Pod(ctx, k.Clientset, env.Namespace, "reader", time.Now()); err != nil {
				return err
			}
			want := tornValue(n)
			if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
				a, _ := ft.NodeFile(filepath.Join(dir, "torna"))
				b, _ := ft.NodeFile(filepath.Join(dir, "tornb"))
				return string(a) == want && string(b) == want, nil
			}); err != nil {
				return errorf("rotation %d did not reach the volume: %v", n, err)
			}
			rotations++
		}
		out, err := k.Exec(ctx, env.Namespace, "reader", "", "sh", "-c", "touch /tmp/stop; i=0; while [ ! -e /tmp/result ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; cat /tmp/result")
		if err != nil {
			return errorf("read the reader's counts: %v", err)
		}
		counts := map[string]int{}
		for _, f := range strings.Fields(out) {
			kv := strings.SplitN(f, "=", 2)
			if len(kv) == 2 {
				n, err := strconv.Atoi(kv[1])
				if err != nil {
					return errorf("reader output %q: %v", out, err)
				}
				counts[kv[0]] = n
			}
		}
		for _, key := range []string{"reads", "mixed", "partial", "empty", "retried", "versions"} {
			if _, ok := counts[key]; !ok {
				return errorf("reader output %q has no %s count", strings.TrimSpace(out), key)
			}
		}
		env.Figure("reads", counts["reads"])
		env.Figure("rotations", rotations)
		env.Figure("versions seen", counts["versions"])
		env.Figure("mixed", counts["mixed"])
		env.Figure("partial", counts["partial"])
		env.Figure("empty", counts["empty"])
		env.Figure("retried (old version removed)", counts["retried"])
		var bad []string
		if counts["mixed"]+counts["partial"]+counts["empty"] > 0 {
			bad = append(bad, fmt.Sprintf("torn reads: %d mixed, %d partial, %d empty", counts["mixed"], counts["partial"], counts["empty"]))
		}
		if rotations < tornMinRotations {
			bad = append(bad, fmt.Sprintf("only %d rotations in %s (want ≥%d)", rotations, tornRotateFor, tornMinRotations))
		}
		if counts["reads"] < tornMinReads {
			bad = append(bad, fmt.Sprintf("only %d reads (want ≥%d)", counts["reads"], tornMinReads))
		}
		if len(bad) > 0 {
			return errorf("%s", strings.Join(bad, "; "))
		}
		return nil
	},
}
