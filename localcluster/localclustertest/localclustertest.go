// Package localclustertest gives tests one real kube-apiserver per test
// binary: a ControlPlaneOnly local cluster (etcd, kube-apiserver with the
// CRDs, kube-controller-manager on loopback; no root needed), started on
// first use so that tests which need no server never pay for one. The
// add-on, deploy and driver integration tests share it; call Main from
// TestMain so it stops after the tests.
package localclustertest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/localcluster"
)

var (
	once    sync.Once
	cluster *localcluster.Cluster
	err     error
)

// Get returns the shared control plane, starting it on the first call;
// under -short (make test-unit) it skips the test instead. A failure to start
// is a test failure: the control plane needs neither root nor
// anything this machine lacks (its binaries are built into the cache).
func Get(t testing.TB) *localcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a local control plane (etcd, kube-apiserver; -short, as in make test-unit, runs without one)")
	}
	once.Do(func() {
		// Cold starts build kube-apiserver and etcd into the cache first.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		var log *slog.Logger
		if testing.Verbose() {
			log = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
		cluster, err = localcluster.Start(ctx, localcluster.Config{ControlPlaneOnly: true, Logger: log})
	})
	if err != nil {
		t.Fatalf("start the local control plane: %v", err)
	}
	return cluster
}

// Stop stops the control plane if one was started; call it from TestMain
// after m.Run.
func Stop() {
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localclustertest: stop the local control plane:", err)
		}
	}
}

// Main is a TestMain that stops the shared control plane after the tests.
func Main(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localclustertest: stop the local control plane:", err)
			code = 1
		}
	}
	os.Exit(code)
}
