package daemon

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient/spcclienttest"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/csiplugin"
	"github.com/kvcsi/kvcsi/driver/metrics"
)

func TestMetricsAndHealthz(t *testing.T) {
	sc, _, err := spcclienttest.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := csiplugin.New(csiplugin.Config{DriverName: "d", NodeID: "n", SPCs: csiplugin.SPCsFromClient(sc), Refresher: &content.Refresher{}, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	rec := metrics.New()
	rec.NodePublishOK("azure")
	rec.RotationReconciled(false, time.Millisecond)
	h := httptest.NewServer((&Driver{rec: rec, srv: srv}).httpHandler())
	defer h.Close()
	get := func(path string) (int, string) {
		resp, err := h.Client().Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `total_node_publish{os_type=`) || !strings.Contains(body, "total_rotation_reconcile{") {
		t.Fatalf("/metrics = %d\n%s", code, body)
	}
}

func TestPprofHandlerServesProfiles(t *testing.T) {
	h := httptest.NewServer(pprofHandler())
	defer h.Close()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
		resp, err := h.Client().Get(h.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s = %d", path, resp.StatusCode)
		}
	}
	if resp, err := h.Client().Get(h.URL + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("/metrics on the pprof listener = %d, want 404", resp.StatusCode)
		}
	}
}
