package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEveryDocumentedMetricIsExposedWhenRecorded(t *testing.T) {
	r := New()
	r.NodePublishOK("azure")
	r.NodePublishFailed("azure", "ProviderNotFound")
	r.NodeUnpublishOK()
	r.NodeUnpublishFailed()
	r.SecretSynced("azure", 150*time.Millisecond)
	r.RotationReconciled(true, 300*time.Millisecond)
	r.RotationFailed(false, "")

	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`total_node_publish{os_type="` + osType + `",provider="azure"} 1`,
		`total_node_publish_error{error_type="ProviderNotFound",os_type="` + osType + `",provider="azure"} 1`,
		`total_node_unpublish{os_type="` + osType + `"} 1`,
		`total_node_unpublish_error{os_type="` + osType + `"} 1`,
		`total_sync_k8s_secret{os_type="` + osType + `",provider="azure"} 1`,
		`sync_k8s_secret_duration_sec_count{os_type="` + osType + `"} 1`,
		`total_rotation_reconcile{os_type="` + osType + `",rotated="true"} 1`,
		`total_rotation_reconcile_error{error_type="Unknown",os_type="` + osType + `",rotated="false"} 1`,
		`rotation_reconcile_duration_sec_count{os_type="` + osType + `"} 1`,
		`sync_k8s_secret_duration_sec_bucket{os_type="` + osType + `",le="0.1"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
}

func TestNilRecorderIsSafe(t *testing.T) {
	var r *Recorder
	r.NodePublishOK("x")
	r.NodePublishFailed("x", "y")
	r.NodeUnpublishOK()
	r.NodeUnpublishFailed()
	r.SecretSynced("x", time.Second)
	r.RotationReconciled(false, time.Second)
	r.RotationFailed(true, "z")
}

func TestBucketsSpanUpstreamRange(t *testing.T) {
	if Buckets[0] != 0.1 || Buckets[len(Buckets)-1] < 1.99 || Buckets[len(Buckets)-1] > 2.01 {
		t.Fatalf("buckets %v, want 0.1..2.0", Buckets)
	}
}
