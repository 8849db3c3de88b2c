package local

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/driver/csiplugin"
	"github.com/kvcsi/kvcsi/driver/daemon"
	"github.com/kvcsi/kvcsi/driver/tmpfs"
	"github.com/kvcsi/kvcsi/provider/server"
	"github.com/kvcsi/kvcsi/scenarios"
)

// The faults/ scenarios' mutation tests (issue 15): each breaks one
// guarantee in the real driver or provider through its break-on-purpose
// hook (a KVCSI_BREAK_* variable set on the DaemonSet's container), runs the
// one scenario that guards it, and asserts that the scenario fails, and for
// that reason. A mutation the scenario survives means the scenario checks
// too little. faults/torn-reads has its own in faults_test.go.

// mutationEnv is the switch of these tests: each rolls a DaemonSet twice and
// runs a fault scenario, minutes in all.
const mutationEnv = "KVCSI_MUTATION"

// mutation is one broken behaviour and what its scenario must say.
type mutation struct {
	scenario string
	// set sets (value "") or removes the break variable on its DaemonSet.
	set   func(t *testing.T, tg *Target, name, value string)
	env   string
	limit time.Duration
	// want: the scenario's error must contain every string of one of the
	// alternatives.
	want [][]string
}

func runMutation(t *testing.T, m mutation) {
	t.Helper()
	if os.Getenv(mutationEnv) != "1" {
		t.Skip("mutation tests run with make test-mutation (KVCSI_MUTATION=1); last recorded run in BENCHMARKS.md")
	}
	tg := needTarget(t)
	ensureAddon(t, tg)
	var sc scenarios.Scenario
	for _, s := range scenarios.FaultScenarios() {
		if s.Name == m.scenario {
			sc = s
		}
	}
	if sc.Run == nil {
		t.Fatalf("no scenario %s in the faults/ group", m.scenario)
	}
	m.set(t, tg, m.env, "1")
	defer m.set(t, tg, m.env, "")
	start := time.Now()
	r := scenarios.Run(context.Background(), tg, scenarios.Options{Scenarios: []scenarios.Scenario{sc}, Progress: logWriter{t}, Timeout: m.limit})[0]
	took := time.Since(start).Round(100 * time.Millisecond)
	if r.Err == nil {
		logAddonTail(t, tg, 60)
		t.Fatalf("%s passed with %s=1 (figures: %s, %s): the scenario does not check that guarantee", m.scenario, m.env, r.Figures, took)
	}
	if !matchesOne(r.Err.Error(), m.want) {
		t.Fatalf("%s failed with %s=1, but not for the broken guarantee (want %q): %v", m.scenario, m.env, m.want, r.Err)
	}
	t.Logf("%s failed as it must with %s=1 after %s: %v (figures: %s)", m.scenario, m.env, took, r.Err, r.Figures)
}

func matchesOne(msg string, alternatives [][]string) bool {
	for _, all := range alternatives {
		ok := true
		for _, s := range all {
			ok = ok && strings.Contains(msg, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// mutated are the scenarios the mutation tests break (this file and
// faults_mutation_emulator_test.go; torn-reads has its own in faults_test.go).
var mutated = []string{
	"faults/provider-crash-during-mount",
	"faults/apiserver-outage-during-rotation",
	"faults/kubelet-restart",
	"faults/target-unmounted-underneath",
	"faults/driver-restart-keeps-mounts",
	"faults/partial-provider-failure",
	"faults/keyvault-throttling-storm",
	"faults/keyvault-errors-and-latency",
	"faults/emulator-restart-persists",
}

// TestMutationControlPassesUnbroken is the mutations' control: the same
// scenarios on the same cluster with nothing broken pass, so a failure below
// is the mutation's doing, not the cluster's.
func TestMutationControlPassesUnbroken(t *testing.T) {
	if os.Getenv(mutationEnv) != "1" {
		t.Skip("mutation tests run with make test-mutation (KVCSI_MUTATION=1); last recorded run in BENCHMARKS.md")
	}
	tg := needTarget(t)
	ensureAddon(t, tg)
	want := map[string]bool{}
	for _, n := range mutated {
		want[n] = true
	}
	var list []scenarios.Scenario
	for _, s := range scenarios.FaultScenarios() {
		if want[s.Name] {
			list = append(list, s)
		}
	}
	if len(list) != len(mutated) {
		t.Fatalf("found %d of the %d scenarios in the faults/ group", len(list), len(mutated))
	}
	for _, r := range scenarios.Run(context.Background(), tg, scenarios.Options{Scenarios: list, Progress: logWriter{t}, Timeout: 15 * time.Minute}) {
		if r.Err != nil {
			t.Errorf("%s fails unbroken: %v", r.Scenario.Name, r.Err)
			continue
		}
		t.Logf("%s passes unbroken (figures: %s)", r.Scenario.Name, r.Figures)
	}
}

func TestMutationProviderCrashEmptyMount(t *testing.T) {
	// NodePublishVolume reports success with an empty tmpfs while the
	// provider is down: the pods mounting then run without their file.
	runMutation(t, mutation{
		scenario: "faults/provider-crash-during-mount",
		set:      setDriverEnv, env: csiplugin.BreakEmptyMountEnv, limit: 6 * time.Minute,
		want: [][]string{{"[cat /mnt/secrets-store/crash1] in", "/mounting-"}},
	})
}

func TestMutationDriverRestartUnmountsOnExit(t *testing.T) {
	// The driver unmounts its volumes when it exits: the mounts are gone
	// while it restarts.
	runMutation(t, mutation{
		scenario: "faults/driver-restart-keeps-mounts",
		set:      setDriverEnv, env: daemon.BreakUnmountOnExitEnv, limit: 8 * time.Minute,
		want: [][]string{{"with the driver pod deleted, pod held-", "read drv1 on the node"}},
	})
}

func TestMutationAPIServerOutageNeverReconnects(t *testing.T) {
	// The driver's apiserver client never recovers from the outage: no
	// rotation, republish or Secret sync afterwards. (A rotator that only
	// gives up a volume after an apiserver error is not enough: with
	// rotation on, the CSIDriver has requiresRepublish and kubelet's
	// republish rotates the volume anyway; see BENCHMARKS.md.)
	runMutation(t, mutation{
		scenario: "faults/apiserver-outage-during-rotation",
		set:      setDriverEnv, env: daemon.BreakAPIServerNeverReconnectEnv, limit: 6 * time.Minute,
		want: [][]string{{"mount not rotated after the outage"}},
	})
}

func TestMutationKubeletRestartMountsTwice(t *testing.T) {
	// NodePublishVolume mounts a second tmpfs on a target that already is
	// one (kubelet publishes again after its restart): the held pods no
	// longer get the new version (their containers still see the first
	// tmpfs), and the scenario finds the second mount table entry.
	runMutation(t, mutation{
		scenario: "faults/kubelet-restart",
		set:      setDriverEnv, env: tmpfs.BreakMountTwiceEnv, limit: 8 * time.Minute,
		want: [][]string{{"after the restart: pod held-", "mounted again on top"}},
	})
}

func TestMutationPartialFailureSkipsFailedObject(t *testing.T) {
	// The provider returns the objects it could fetch and skips the one
	// that failed: the rotation "succeeds" with four of five files.
	runMutation(t, mutation{
		scenario: "faults/partial-provider-failure",
		set:      setProviderEnv, env: server.BreakSkipFailedObjectsEnv, limit: 6 * time.Minute,
		want: [][]string{{"the rotation with part3", "was reported complete"}},
	})
}

func TestMutationTargetUnmountedWrittenToDisk(t *testing.T) {
	// Rotation takes an existing directory for a mounted volume: the
	// secrets go to the node's disk.
	runMutation(t, mutation{
		scenario: "faults/target-unmounted-underneath",
		set:      setDriverEnv, env: daemon.BreakRotateUnmountedEnv, limit: 6 * time.Minute,
		want: [][]string{{"written to the node's disk in the unmounted target"}},
	})
}

// logAddonTail logs the last n lines of each add-on container log (driver,
// provider, sidecars) that the node holds: what the broken component did
// while its scenario passed.
func logAddonTail(t *testing.T, tg *Target, n int) {
	logs, err := tg.ComponentLogs(context.Background())
	if err != nil {
		t.Logf("add-on logs: %v", err)
		return
	}
	for path, b := range logs {
		if !strings.HasPrefix(path, PodLogsDir) || !strings.Contains(path, "secrets-store") {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		t.Logf("%s, last %d lines:\n%s", path, len(lines), strings.Join(lines, "\n"))
	}
}
