package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultRunDir is the run directory the CLI uses when none is given:
// DefaultFullRunDir for root, a per-user directory under the temporary
// directory otherwise (enough for a ControlPlaneOnly cluster).
func DefaultRunDir() string {
	if os.Geteuid() == 0 {
		return DefaultFullRunDir
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("kvcsi-cluster-%d", os.Geteuid()))
}

// KubeconfigPathIn is the admin kubeconfig of the cluster in runDir.
func KubeconfigPathIn(runDir string) string {
	return filepath.Join(runDir, "kubeconfig", "admin.kubeconfig")
}

// Down stops the cluster whose state is in runDir, whoever started it, and
// removes runDir: Cleanup, then the directory itself.
func Down(runDir string) error {
	if err := Cleanup(runDir); err != nil {
		return err
	}
	return removeAllNoMounts(runDir)
}

// Status describes a cluster found in a run directory.
type Status struct {
	RunDir     string
	Kubeconfig string
	// Processes maps a process name to whether it is alive.
	Processes map[string]bool
	// APIReady is true when /readyz answered ok.
	APIReady bool
	// Nodes maps a node name to its Ready condition status.
	Nodes map[string]string
	// Err is why the API could not be asked.
	Err error
}

func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run dir:    %s\nkubeconfig: %s\n", s.RunDir, s.Kubeconfig)
	names := make([]string, 0, len(s.Processes))
	for n := range s.Processes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		state := "running"
		if !s.Processes[n] {
			state = "NOT running"
		}
		fmt.Fprintf(&b, "process:    %-24s %s\n", n, state)
	}
	fmt.Fprintf(&b, "apiserver:  ready=%v\n", s.APIReady)
	for n, r := range s.Nodes {
		fmt.Fprintf(&b, "node:       %s Ready=%s\n", n, r)
	}
	if s.Err != nil {
		fmt.Fprintf(&b, "error:      %v\n", s.Err)
	}
	return b.String()
}

// Running reports whether every recorded process runs and the API is ready.
func (s Status) Running() bool {
	if !s.APIReady || len(s.Processes) == 0 {
		return false
	}
	for _, alive := range s.Processes {
		if !alive {
			return false
		}
	}
	return true
}

// GetStatus inspects the cluster in runDir: its recorded processes, the
// apiserver's readiness and the nodes.
func GetStatus(ctx context.Context, runDir string) (Status, error) {
	s := Status{RunDir: runDir, Kubeconfig: KubeconfigPathIn(runDir), Processes: map[string]bool{}, Nodes: map[string]string{}}
	ents, err := os.ReadDir(filepath.Join(runDir, "pids"))
	if errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("no cluster in %s (start one with `kvcsi cluster up`)", runDir)
	}
	if err != nil {
		return s, err
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(runDir, "pids", e.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		name := strings.TrimSuffix(e.Name(), ".pid")
		alive := false
		if len(f) == 2 {
			if pid, err := strconv.Atoi(f[0]); err == nil {
				exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
				alive = err == nil && strings.TrimSuffix(exe, " (deleted)") == f[1]
			}
		}
		s.Processes[name] = alive
	}
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		s.Err = err
		return s, nil
	}
	rc.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		s.Err = err
		return s, nil
	}
	if _, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		s.Err = err
		return s, nil
	}
	s.APIReady = true
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		s.Err = err
		return s, nil
	}
	for _, n := range nodes.Items {
		s.Nodes[n.Name] = "Unknown"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				s.Nodes[n.Name] = string(c.Status)
			}
		}
	}
	return s, nil
}
