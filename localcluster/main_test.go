package localcluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"
)

// The clusters are expensive, so each test binary shares one of each kind,
// started on first use, and TestMain stops them at the end.
var (
	cpOnce    sync.Once
	cpCluster *Cluster
	cpErr     error

	// fullMu guards the full cluster, which a test may stop (the teardown
	// test); the next node call starts a new one.
	fullMu      sync.Mutex
	fullCluster *Cluster
	fullErr     error // a failed start, reported to every later caller
	// baseline is the host before the first full cluster of this binary;
	// haveBaseline says one was taken.
	baseline     hostSnapshot
	haveBaseline bool
)

// TestMain stops the shared clusters and, if this binary ran a full
// cluster, checks that the host is as it was before (whatever -run or
// -shuffle selected): interfaces, mounts, cgroups, sysctls, host paths and
// processes.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runKilledRunHelper()
	}
	code := m.Run()
	for _, c := range []*Cluster{cpCluster, fullCluster} {
		if c != nil {
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "stop local cluster:", err)
				code = 1
			}
		}
	}
	if haveBaseline {
		if diffs := diffSnapshots(settledSnapshot(baseline), baseline); len(diffs) > 0 {
			fmt.Fprintln(os.Stderr, "FAIL: the host is not as it was before the tests (TestMain's host-restored check):")
			for _, d := range diffs {
				fmt.Fprintln(os.Stderr, "  "+d)
			}
			code = 1
		}
	}
	os.Exit(code)
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// controlPlane returns the shared API-only cluster (no root needed).
func controlPlane(t *testing.T) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a local control plane (etcd, kube-apiserver; -short, as in make test-unit, runs without one)")
	}
	cpOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cpCluster, cpErr = Start(ctx, Config{ControlPlaneOnly: true, Logger: testLogger()})
	})
	if cpErr != nil {
		t.Fatalf("start the control plane: %v", cpErr)
	}
	return cpCluster
}

// node returns the shared full cluster, starting it if no test has yet or
// one stopped it; it needs root.
func node(t *testing.T) *Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a kubelet, containerd and runc, creates a bridge and mounts")
	}
	if testing.Short() {
		t.Skip("needs a local cluster (-short, as in make test-unit, runs without one)")
	}
	fullMu.Lock()
	defer fullMu.Unlock()
	if fullCluster != nil {
		return fullCluster
	}
	if fullErr != nil {
		t.Fatalf("start the local cluster: %v", fullErr)
	}
	fail := func(err error) {
		fullErr = err
		t.Fatalf("start the local cluster: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	if !haveBaseline {
		// Hold the host lock until the binary exits: another package's
		// full cluster must neither be in the baseline nor start between
		// the teardown test's steps. (The exit releases it.)
		if err := acquireHostLock(ctx, testLogger()); err != nil {
			fail(err)
		}
		// A killed earlier run (ours or another package's) must not become
		// the baseline.
		if err := cleanupPreviousOwner(testRunDir, testLogger()); err != nil {
			fail(err)
		}
		if err := Cleanup(testRunDir); err != nil {
			fail(err)
		}
		// Processes of a cluster stopped just before (another package's)
		// may still be exiting: let them go before recording the baseline.
		for deadline := time.Now().Add(30 * time.Second); len(clusterProcesses()) > 0 && time.Now().Before(deadline); {
			time.Sleep(500 * time.Millisecond)
		}
		baseline, haveBaseline = takeSnapshot(), true
	}
	// The binary's loopback registry is configured from the start, as a
	// user would (TestAddonFromLoopbackRegistry pulls from it).
	c, err := Start(ctx, Config{RunDir: testRunDir, Logger: testLogger(), KeepRunDir: false,
		InsecureRegistries: []string{testRegistry().host}})
	if err != nil {
		fail(err)
	}
	fullCluster = c
	return c
}

// stopNode stops the shared full cluster; the next node call starts another.
func stopNode(t *testing.T) {
	t.Helper()
	fullMu.Lock()
	defer fullMu.Unlock()
	if fullCluster == nil {
		return
	}
	c := fullCluster
	fullCluster = nil
	if err := c.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// testRunDir is the full cluster's run directory in tests: fixed, so that a
// killed test run is cleaned up by the next one.
const testRunDir = "/var/lib/kvcsi/test-cluster"
