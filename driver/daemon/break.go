package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-logr/logr"

	"github.com/kvcsi/kvcsi/driver/tmpfs"
)

// The break-on-purpose hooks of the driver process. Each exists only for
// one mutation test (scenarios/target/local/faults_mutation_test.go), which
// shows that the scenario guarding the behaviour fails when it is broken;
// never set them anywhere else.
const (
	// BreakUnmountOnExitEnv breaks the driver's exit for scenario
	// faults/driver-restart-keeps-mounts: on SIGTERM the driver "cleans up"
	// by unmounting and removing every volume of its own on the node, as a
	// driver that ties its mounts to its own lifetime would, so every pod
	// loses its files while the driver restarts.
	BreakUnmountOnExitEnv = "KVCSI_BREAK_UNMOUNT_ON_EXIT"
	// BreakRotateUnmountedEnv breaks rotation's "is the volume still
	// mounted" check for scenario faults/target-unmounted-underneath: a
	// target counts as mounted when its directory exists, so a tmpfs
	// unmounted behind the driver's back gets the secrets written to the
	// node's disk.
	BreakRotateUnmountedEnv = "KVCSI_BREAK_ROTATE_UNMOUNTED_TARGET"
	// BreakAPIServerNeverReconnectEnv breaks the driver's Kubernetes client
	// for scenario faults/apiserver-outage-during-rotation: once a request
	// to the apiserver fails to connect, every later request fails with
	// that error, as a client holding a dead connection (or a circuit
	// breaker that never closes) would, so after an apiserver outage the
	// driver neither rotates nor republishes nor syncs Secrets until it is
	// restarted.
	BreakAPIServerNeverReconnectEnv = "KVCSI_BREAK_APISERVER_NEVER_RECONNECT"
)

var (
	breakUnmountOnExit   = os.Getenv(BreakUnmountOnExitEnv) != ""
	breakRotateUnmounted = os.Getenv(BreakRotateUnmountedEnv) != ""
	breakNeverReconnect  = os.Getenv(BreakAPIServerNeverReconnectEnv) != ""
)

// kubeletPods is the kubelet's pods directory, mounted at the same path in
// the driver container (CONTRIBUTING: the kubelet root is /var/lib/kubelet on
// every target).
const kubeletPods = "/var/lib/kubelet/pods"

// brokenUnmountOnExit is the broken exit: every CSI volume of driverName
// under the kubelet's pods directory is unmounted and removed.
func brokenUnmountOnExit(driverName string, log logr.Logger) {
	if !breakUnmountOnExit {
		return
	}
	targets, _ := filepath.Glob(filepath.Join(kubeletPods, "*", "volumes", "kubernetes.io~csi", "*", "mount"))
	for _, target := range targets {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(target), "vol_data.json"))
		if err != nil {
			continue
		}
		var vd struct {
			DriverName string `json:"driverName"`
		}
		if json.Unmarshal(b, &vd) != nil || vd.DriverName != driverName {
			continue
		}
		err = tmpfs.Unmount(target)
		log.Info("broken on purpose: volume unmounted at exit", "env", BreakUnmountOnExitEnv, "target", target, "error", err)
	}
}

// brokenTargetMounted is rotation's TargetMounted when broken (the
// directory exists), or nil (rotation's own check) when not.
func brokenTargetMounted() func(string) (bool, error) {
	if !breakRotateUnmounted {
		return nil
	}
	return func(target string) (bool, error) {
		st, err := os.Stat(target)
		return err == nil && st.IsDir(), nil
	}
}

// brokenNeverReconnect wraps the driver's apiserver transport when broken:
// the first request that fails below HTTP (the apiserver unreachable) makes
// every later request fail with the same error.
func brokenNeverReconnect(rt http.RoundTripper) http.RoundTripper {
	if !breakNeverReconnect {
		return rt
	}
	return &stickyFailure{next: rt}
}

type stickyFailure struct {
	next http.RoundTripper
	mu   sync.Mutex
	err  error
}

func (s *stickyFailure) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	resp, err := s.next.RoundTrip(req)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		s.mu.Lock()
		if s.err == nil {
			s.err = fmt.Errorf("apiserver connection lost for good (broken on purpose, %s): %w", BreakAPIServerNeverReconnectEnv, err)
		}
		s.mu.Unlock()
	}
	return resp, err
}
