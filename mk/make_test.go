// Package mk holds the Makefile fragments; its tests check what the targets
// would run (`make -n`), so a newcomer's `make run` or `make e2e` does what the
// README says.
package mk

import (
	"os/exec"
	"strings"
	"testing"
)

// makeN returns what `make -n target` would run in the repository root.
func makeN(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("needs make: not installed")
	}
	cmd := exec.Command("make", append([]string{"-n", "--no-print-directory"}, args...)...)
	cmd.Dir = ".."
	// The Makefile's defaults, not this shell's.
	for _, kv := range cmd.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "KUBECONFIG", "KIND_CLUSTER_NAME", "KIND", "MAKEFLAGS", "MAKELEVEL", "MFLAGS":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestE2ENamesTheKvcsiCluster: make e2e creates, uses and deletes the kind
// cluster named kvcsi (docs/scenarios.md), never kind's default "kind".
func TestE2ENamesTheKvcsiCluster(t *testing.T) {
	out := makeN(t, "e2e")
	if !strings.Contains(out, "--kind-cluster='kvcsi'") {
		t.Errorf("make -n e2e does not name the kind cluster kvcsi:\n%s", out)
	}
	if strings.Contains(out, "--kind-cluster='kind'") {
		t.Errorf("make -n e2e names kind's default cluster:\n%s", out)
	}
	for _, target := range []string{"kind-up", "kind-down", "images-kind-load"} {
		if o := makeN(t, target); !strings.Contains(o, "kvcsi") {
			t.Errorf("make -n %s does not name the kvcsi cluster:\n%s", target, o)
		}
	}
}

// TestPackageTargetsCheckDepsFirst: every target that needs Debian packages
// runs `make deps` before any build, so a fresh machine is told what is
// missing before a half-hour cold build, not after it.
func TestPackageTargetsCheckDepsFirst(t *testing.T) {
	const depsMark = "hack/apt-packages.txt"
	for _, target := range []string{"run", "images", "cluster-up", "e2e", "test"} {
		out := makeN(t, target)
		i := strings.Index(out, depsMark)
		if i < 0 {
			t.Errorf("make %s does not check the Debian packages (make deps):\n%s", target, out)
			continue
		}
		if j := strings.Index(out, "go run"); j >= 0 && j < i {
			t.Errorf("make %s builds before it checks the Debian packages:\n%s", target, out)
		}
	}
}

// TestDefaultGoalIsHelp: `make` alone lists the targets.
func TestDefaultGoalIsHelp(t *testing.T) {
	out := makeN(t)
	if !strings.Contains(out, "grep") || strings.Contains(out, "go build") {
		t.Errorf("make with no target does not run help:\n%s", out)
	}
}
