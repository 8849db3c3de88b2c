package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/kvcsi/kvcsi/scenarios"
)

// TestCatalogue runs every scenario, in catalogue order, as one feature each:
// name = scenario name, labels group=<group> and section=<documentation
// section>, so `--feature '^rotation/'` or `--labels group=sync` select them.
// The scenario code is the one `kvcsi scenarios run` uses, unchanged.
func TestCatalogue(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	var feats []features.Feature
	for _, sc := range scenarios.Catalogue() {
		group, _, _ := strings.Cut(sc.Name, "/")
		feats = append(feats, features.New(sc.Name).
			WithLabel("group", group).
			WithLabel("section", sc.Section).
			Assess(sc.Summary, func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
				if tgt == nil {
					t.Fatal("no target: the suite's setup failed (see above)")
				}
				r := scenarios.Run(ctx, tgt, scenarios.Options{Scenarios: []scenarios.Scenario{sc}, Progress: testWriter{t}, Timeout: 5 * time.Minute})
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
