package local

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/driver/atomicwriter"
	"github.com/kvcsi/kvcsi/scenarios"
)

// TestTornReadsFailWithNonAtomicWriter is faults/torn-reads's mutation
// test: a driver whose atomic writer rewrites files in place (the
// break-on-purpose hook) lets the reader see empty, partial or mixed
// versions, and the scenario must say so.
func TestTornReadsFailWithNonAtomicWriter(t *testing.T) {
	tg := needTarget(t)
	ensureAddon(t, tg)
	setDriverEnv(t, tg, atomicwriter.BreakNonAtomicEnv, "1")
	defer setDriverEnv(t, tg, atomicwriter.BreakNonAtomicEnv, "")
	var torn scenarios.Scenario
	for _, sc := range scenarios.FaultScenarios() {
		if sc.Name == "faults/torn-reads" {
			torn = sc
		}
	}
	r := scenarios.Run(context.Background(), tg, scenarios.Options{Scenarios: []scenarios.Scenario{torn}, Progress: logWriter{t}, Timeout: 4 * time.Minute})[0]
	if r.Err == nil {
		t.Fatalf("faults/torn-reads passed with a non-atomic writer (figures: %s)", r.Figures)
	}
	if !strings.Contains(r.Err.Error(), "torn reads:") {
		t.Fatalf("faults/torn-reads failed, but not for torn reads: %v", r.Err)
	}
	t.Logf("faults/torn-reads failed as it must: %v (figures: %s)", r.Err, r.Figures)
}

// setDriverEnv sets (value "") or removes one environment variable of the
// driver's secrets-store container and waits for the DaemonSet to roll.
func setDriverEnv(t *testing.T, tg *Target, name, value string) {
	t.Helper()
	env := fmt.Sprintf(`{"name":%q,"value":%q}`, name, value)
	if value == "" {
		env = fmt.Sprintf(`{"name":%q,"$patch":"delete"}`, name)
	}
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"secrets-store","env":[` + env + `]}]}}}}`
	ctx := context.Background()
	k := tg.Kube()
	if _, err := k.Clientset.AppsV1().DaemonSets(addon.Namespace).Patch(ctx, addon.DriverName, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := scenarios.WaitDaemonSetRolled(ctx, k, addon.Namespace, addon.DriverName); err != nil {
		t.Fatal(err)
	}
}
