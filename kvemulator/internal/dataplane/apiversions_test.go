package dataplane

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckAPIVersionAcceptsTheServiceVersions(t *testing.T) {
	for _, v := range []string{"2016-10-01", "7.0", "7.1", "7.2", "7.3-preview", "7.4-preview.1", "7.5-preview.1", "7.6-preview.2", "7.6", "2025-07-01", "2026-04-01"} {
		r := httptest.NewRequest("GET", "/secrets/x?api-version="+v, nil)
		if got, err := checkAPIVersion(r); err != nil || got != v {
			t.Errorf("api-version %s: got %q, %v; want accepted", v, got, err)
		}
	}
	for _, v := range []string{"1.0", "7.7", "7.4-preview", ""} {
		r := httptest.NewRequest("GET", "/secrets/x?api-version="+v, nil)
		_, err := checkAPIVersion(r)
		if err == nil || err.Status != 400 || err.Code != "BadParameter" {
			t.Errorf("api-version %q: got %v, want 400 BadParameter", v, err)
			continue
		}
		if v != "" && !strings.Contains(err.Message, "The specified version ("+v+") is not recognized") {
			t.Errorf("api-version %q: message %q", v, err.Message)
		}
	}
}

func TestShapeForVersionLeavesOutLaterFields(t *testing.T) {
	type attrs struct {
		Enabled         bool   `json:"enabled"`
		RecoverableDays int    `json:"recoverableDays,omitempty"`
		RecoveryLevel   string `json:"recoveryLevel,omitempty"`
		Exportable      bool   `json:"exportable,omitempty"`
	}
	body := struct {
		ID         string `json:"id"`
		Attributes attrs  `json:"attributes"`
	}{"https://kv/keys/k/1", attrs{true, 90, "Recoverable+Purgeable", true}}

	render := func(v string) map[string]any {
		b, err := json.Marshal(shapeForVersion(v, body))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m["attributes"].(map[string]any)
	}
	for v, want := range map[string][]string{
		"2015-06-01": {"enabled"},
		"7.0":        {"enabled", "recoveryLevel"},
		"7.2":        {"enabled", "recoveryLevel", "recoverableDays"},
		"7.4":        {"enabled", "recoveryLevel", "recoverableDays", "exportable"},
	} {
		a := render(v)
		if len(a) != len(want) {
			t.Errorf("api-version %s: attributes %v, want exactly %v", v, a, want)
		}
		for _, k := range want {
			if _, ok := a[k]; !ok {
				t.Errorf("api-version %s: attributes %v lack %s", v, a, k)
			}
		}
	}
	if got := render("7.0")["recoveryLevel"]; got != "Recoverable+Purgeable" {
		t.Errorf("values survive reshaping: recoveryLevel %v", got)
	}
}
