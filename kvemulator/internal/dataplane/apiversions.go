package dataplane

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
)

// apiVersions is every data-plane api-version the service accepts for the
// vault operations, oldest first: the stable and preview folders of
// Azure/azure-rest-api-specs specification/keyvault/data-plane/Microsoft.KeyVault
// (stable 2015-06-01, 2016-10-01, 7.0–7.6, 2025-07-01; previews 7.0-preview
// through 2026-01-01-preview) and 2026-04-01, the newest the Go SDK modules
// send. The order decides the response shape: a field added in some version
// is left out of answers to requests with an older one.
var apiVersions = []string{
	"2015-06-01",
	"2016-10-01",
	"7.0-preview", "7.0",
	"7.1-preview", "7.1",
	"7.2-preview", "7.2",
	"7.3-preview", "7.3",
	"7.4-preview.1", "7.4",
	"7.5-preview.1", "7.5",
	"7.6-preview.1", "7.6-preview.2", "7.6",
	"2025-06-01-preview", "2025-07-01", "2025-07-01-preview",
	"2026-01-01-preview", "2026-04-01",
}

// latestAPIVersion is what error messages suggest.
const latestAPIVersion = "2026-04-01"

// apiVersionRank orders api-versions; -1 for an unknown one.
func apiVersionRank(v string) int { return slices.Index(apiVersions, v) }

func checkAPIVersion(r *http.Request) (string, *kverr.APIError) {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return "", kverr.ErrBadParameter("The api-version query parameter is missing; add ?api-version=%s (supported: %s).", latestAPIVersion, strings.Join(apiVersions, ", "))
	}
	if apiVersionRank(v) < 0 {
		return "", kverr.ErrBadParameter("The specified version (%s) is not recognized. Consider using the latest supported version (%s); supported: %s.", v, latestAPIVersion, strings.Join(apiVersions, ", "))
	}
	return v, nil
}

// fieldsSince are response fields (any depth) that a version added: answers
// to older versions leave them out, as the service's do.
var fieldsSince = []struct {
	version string
	fields  []string
}{
	{"2016-10-01", []string{"recoveryLevel", "recoveryId", "scheduledPurgeDate", "deletedDate", "managed"}},
	{"7.1", []string{"recoverableDays"}},
	{"7.3", []string{"exportable", "release_policy", "rotationPolicy"}},
	{"7.5", []string{"hsmPlatform"}},
	{"7.6", []string{"attestation", "preserveCertOrder"}},
}

// dropped is the set of fields an answer to version v leaves out; nil when
// it leaves out none (v is at least as new as every entry of fieldsSince).
func dropped(v string) map[string]bool {
	rank := apiVersionRank(v)
	var out map[string]bool
	for _, f := range fieldsSince {
		if rank >= apiVersionRank(f.version) {
			continue
		}
		if out == nil {
			out = map[string]bool{}
		}
		for _, name := range f.fields {
			out[name] = true
		}
	}
	return out
}

// shapeForVersion renders body as an answer to api-version v: unchanged for
// current versions, without the later fields for older ones.
func shapeForVersion(v string, body any) any {
	drop := dropped(v)
	if drop == nil || body == nil {
		return body
	}
	b, err := json.Marshal(body)
	if err != nil {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return body
	}
	prune(generic, drop)
	return generic
}

func prune(v any, drop map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if drop[k] {
				delete(x, k)
				continue
			}
			prune(child, drop)
		}
	case []any:
		for _, child := range x {
			prune(child, drop)
		}
	}
}
