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

// The clusters are expensive, so each test binary starts at most one of
// each kind, on first use, and TestMain stops them at the end.
var (
	cpOnce    sync.Once
	cpCluster *Cluster
	cpErr     error

	fullOnce    sync.Once
	fullCluster *Cluster
	fullErr     error
)

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
	os.Exit(code)
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// controlPlane returns the shared API-only cluster (no root needed).
func controlPlane(t *testing.T) *Cluster {
	t.Helper()
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

// node returns the shared full cluster; it needs root.
func node(t *testing.T) *Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a kubelet, containerd and runc, creates a bridge and mounts")
	}
	fullOnce.Do(func() {
		// Hold the host lock until the binary exits: another package's
		// full cluster must neither be in the baseline nor start between
		// the teardown test's steps. (The exit releases it.)
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
		defer cancel()
		if fullErr = acquireHostLock(ctx, testLogger()); fullErr != nil {
			return
		}
		// A killed earlier run (ours or another package's) must not become
		// the baseline.
		if fullErr = cleanupPreviousOwner(testRunDir, testLogger()); fullErr != nil {
			return
		}
		if fullErr = Cleanup(testRunDir); fullErr != nil {
			return
		}
		// Processes of a cluster stopped just before (another package's)
		// may still be exiting: let them go before recording the baseline.
		for deadline := time.Now().Add(30 * time.Second); len(clusterProcesses()) > 0 && time.Now().Before(deadline); {
			time.Sleep(500 * time.Millisecond)
		}
		baseline = takeSnapshot()
		fullCluster, fullErr = Start(ctx, Config{RunDir: testRunDir, Logger: testLogger(), KeepRunDir: false})
	})
	if fullErr != nil {
		t.Fatalf("start the local cluster: %v", fullErr)
	}
	return fullCluster
}

// testRunDir is the full cluster's run directory in tests: fixed, so that a
// killed test run is cleaned up by the next one.
const testRunDir = "/var/lib/kvcsi/test-cluster"
