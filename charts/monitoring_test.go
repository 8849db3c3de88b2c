package charts

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	drivermetrics "github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/rotation"
	providermetrics "github.com/kvcsi/kvcsi/provider/metrics"
)

// externalMetrics are the only names the queries may use that kvcsi's
// binaries do not export: Prometheus's own scrape health and kube-state-metrics'
// DaemonSet status (the "not ready" alerts).
var externalMetrics = []string{"up", "kube_daemonset_status_number_unavailable"}

// exportedMetrics gathers the driver's and the provider's registries after one
// observation of every series kind, so each family is exposed as a scrape of
// the running binaries shows it (histograms as _bucket, _sum, _count).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	d := drivermetrics.New()
	d.NodePublishOK("azure")
	d.NodePublishFailed("azure", "NotFound")
	d.NodeUnpublishOK()
	d.NodeUnpublishFailed()
	d.SecretSynced("azure", time.Millisecond)
	d.RotationReconciled(true, time.Millisecond)
	d.RotationFailed(true, "SecretSyncFailed")
	p := providermetrics.New()
	p.KeyVault(time.Millisecond, "foo", "secret", "throttled")
	p.GRPC(time.Millisecond, "Mount", "OK", "")
	p.Warning("objects")
	names := map[string]bool{}
	for _, g := range []prometheus.Gatherer{d.Registry(), p.Registry()} {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			n := mf.GetName()
			names[n] = true
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
			}
		}
	}
	// Registered by the rotator when rotation runs; driver/rotation's
	// TestRefreshOnDemandOncePerValueBypassingTheCache gathers it.
	names[rotation.RefreshMetric] = true
	return names
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects: what is
// left after label matchers, ranges, grouping clauses, strings, function
// calls and keywords are taken out.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, m := range promIdent.FindAllStringSubmatch(e, -1) {
		name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[0]), "("))
		if m[1] != "" || promKeywords[strings.ToLower(name)] {
			continue // a function or aggregation, or a keyword
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNamesOfPromQL(t *testing.T) {
	got := metricNames(`histogram_quantile(0.99, sum by (le) (rate(keyvault_request_bucket{error="throttled", x=~"a(b)"}[5m]))) > 2 or up{job="a/b"} == 0`)
	if !slices.Equal(got, []string{"keyvault_request_bucket", "up"}) {
		t.Errorf("metricNames = %v", got)
	}
}

// monitoringQueries renders the chart with every monitoring option on and
// returns the dashboard and every PromQL expression (alerts and panels).
func monitoringQueries(t *testing.T) (dashboard map[string]any, queries []string) {
	t.Helper()
	objs := render(t, map[string]any{"monitoring": map[string]any{
		"dashboard":      map[string]any{"enabled": true},
		"podMonitor":     map[string]any{"enabled": true},
		"prometheusRule": map[string]any{"enabled": true},
	}})
	cm := mustFind(t, objs, "ConfigMap", "kvcsi-grafana-dashboard")
	if cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v lack grafana_dashboard=1", cm.GetLabels())
	}
	raw, _, _ := unstructured.NestedString(cm.Object, "data", "kvcsi.json")
	if err := json.Unmarshal([]byte(raw), &dashboard); err != nil {
		t.Fatalf("the dashboard JSON does not parse: %v", err)
	}
	panels, _ := dashboard["panels"].([]any)
	if len(panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	for _, p := range panels {
		targets, _ := p.(map[string]any)["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %v has no query", p.(map[string]any)["title"])
		}
		for _, tg := range targets {
			queries = append(queries, tg.(map[string]any)["expr"].(string))
		}
	}
	rule := mustFind(t, objs, "PrometheusRule", "kvcsi-alerts")
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	alerts := 0
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			rm := r.(map[string]any)
			queries = append(queries, rm["expr"].(string))
			alerts++
			if a, _ := rm["annotations"].(map[string]any); a["summary"] == nil || a["description"] == nil {
				t.Errorf("alert %v lacks summary or description", rm["alert"])
			}
		}
	}
	if alerts == 0 {
		t.Fatal("the PrometheusRule has no alerts")
	}
	for _, name := range []string{"secrets-store-csi-driver", "secrets-store-provider-azure"} {
		mustFind(t, objs, "PodMonitor", name)
	}
	return dashboard, queries
}

// TestMonitoringQueriesUseExportedMetrics: every dashboard panel and alert
// selects only metrics the driver and the provider export (or the two
// external ones), so no query is silently empty.
func TestMonitoringQueriesUseExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	_, queries := monitoringQueries(t)
	used := map[string]bool{}
	for _, q := range queries {
		names := metricNames(q)
		if len(names) == 0 {
			t.Errorf("query %q selects no metric", q)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] && !slices.Contains(externalMetrics, n) {
				t.Errorf("query %q uses %s, which neither the driver nor the provider exports", q, n)
			}
		}
	}
	// The alerts the issue asks for are there.
	for _, n := range []string{"total_node_publish_error", "total_rotation_reconcile_error", "keyvault_request_count", "keyvault_request_bucket", "kube_daemonset_status_number_unavailable"} {
		if !used[n] {
			t.Errorf("no query uses %s", n)
		}
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("metrics used: %s", strings.Join(names, ", "))
}

// TestMonitoringIsOptIn: the defaults render no monitoring object.
func TestMonitoringIsOptIn(t *testing.T) {
	for _, o := range render(t, nil) {
		switch o.GetKind() {
		case "PrometheusRule", "PodMonitor":
			t.Errorf("default values render %s %s", o.GetKind(), o.GetName())
		case "ConfigMap":
			if o.GetName() == "kvcsi-grafana-dashboard" {
				t.Error("default values render the dashboard")
			}
		}
	}
}
