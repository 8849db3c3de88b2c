package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kvcsi/kvcsi/scenarios"
)

// smokeScenarios is what runs on the default path (the local cluster, in
// `go test ./...` and `make test`), where scenarios/target/local already runs
// the whole catalogue: what the kind target does differently — the emulator
// deployed in the cluster and reached through host aliases and a
// port-forward (admin counters included), the add-on enabled from the
// harness — with one mount, one identity, one sync and one rotation.
var smokeScenarios = []string{
	"addon/enable",
	"mount/secret",
	"identity/user-assigned-managed-identity",
	"sync/opaque-secret",
	"rotation/autorotation",
}

// TestCatalogue runs the catalogue (all of it on a given cluster, as `make
// e2e` does; smokeScenarios on the local cluster), in catalogue order, as one
// feature each: name = scenario name, labels group=<group> and
// section=<documentation section>, so `--feature '^rotation/'` or `--labels
// group=sync` select them. The scenario code is the one `kvcsi scenarios run`
// uses, unchanged.
func TestCatalogue(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	var feats []features.Feature
	for _, sc := range scenarios.Catalogue() {
		if !runAll && !slices.Contains(smokeScenarios, sc.Name) {
			continue
		}
		group, _, _ := strings.Cut(sc.Name, "/")
		feats = append(feats, features.New(sc.Name).
			WithLabel("group", group).
			WithLabel("section", sc.Section).
			Assess(sc.Summary, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
				if tgt == nil {
					t.Fatal("no target: the suite's setup failed (see above)")
				}
				r := scenarios.Run(ctx, tgt, scenarios.Options{Scenarios: []scenarios.Scenario{sc}, Progress: testWriter{t}, Timeout: 5 * time.Minute})
				if r[0].Skipped() {
					// The target cannot run it (e.g. faults/ need process control of
					// the local cluster); the scenario says why.
					t.Skip(r[0].Err.Error())
				}
				if err := r[0].Err; err != nil {
					t.Fatalf("%s: %v", sc.Name, err)
				}
				return ctx
			}).Feature())
	}
	testenv.Test(t, feats...)
}

// testWriter sends the runner's progress to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestSmokeScenariosExist keeps smokeScenarios in the catalogue.
func TestSmokeScenariosExist(t *testing.T) {
	for _, name := range smokeScenarios {
		if _, ok := scenarios.Find(name); !ok {
			t.Errorf("smoke scenario %s is not in the catalogue", name)
		}
	}
}
