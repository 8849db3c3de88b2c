package kvemulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/admin"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// AdminClient talks to the admin API of a running emulator (in-process or
// the kvemulator binary).
type AdminClient struct {
	base string
	hc   *http.Client
}

// NewAdminClient returns a client for the admin API at base
// ("http://127.0.0.1:port").
func NewAdminClient(base string) *AdminClient {
	return &AdminClient{base: strings.TrimSuffix(base, "/"), hc: &http.Client{Timeout: 2 * time.Minute}}
}

func (a *AdminClient) do(method, path string, in, out any) error {
	return a.doAs("application/json", method, path, in, out)
}

func (a *AdminClient) doAs(contentType, method, path string, in, out any) error {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, body)
	if err != nil {
		return err
	}
	// The admin API refuses a state change without a JSON (or, for a seed,
	// YAML) body type: the guard against requests a web page could send.
	req.Header.Set("Content-Type", contentType)
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("kvemulator admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var ae admin.Error
		if json.Unmarshal(b, &ae) == nil && ae.Error != "" {
			return fmt.Errorf("kvemulator admin %s %s: %s", method, path, ae.Error)
		}
		return fmt.Errorf("kvemulator admin %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// SetSecret adds a new version of a secret and returns its version id.
func (a *AdminClient) SetSecret(vault, name, value string) (string, error) {
	resp, err := a.SetSecretWith(vault, name, SetSecretRequest{Value: value})
	return resp.Version, err
}

// SetSecretWith adds a version with content type, tags or enabled state.
func (a *AdminClient) SetSecretWith(vault, name string, req SetSecretRequest) (SetSecretResponse, error) {
	var resp SetSecretResponse
	err := a.do("POST", "/vaults/"+url.PathEscape(vault)+"/secrets/"+url.PathEscape(name), req, &resp)
	return resp, err
}

// SetAccessPolicy changes what identity (a seed name, client id or object
// id) may do on vault by access policy: each kind given in ch replaces the
// identity's permissions on that kind (an empty list takes them all away).
// It returns the policy before and after; the data plane applies it from the
// next request (403 Forbidden, innererror AccessDenied, for a permission
// taken away).
func (a *AdminClient) SetAccessPolicy(vault, identity string, ch AccessPolicyChange) (AccessPolicyResult, error) {
	var out AccessPolicyResult
	err := a.do("PATCH", "/vaults/"+url.PathEscape(vault)+"/access-policies/"+url.PathEscape(identity), ch, &out)
	return out, err
}

// AddFault installs a fault rule and returns it with its id.
func (a *AdminClient) AddFault(f Fault) (Fault, error) {
	var out Fault
	err := a.do("POST", "/faults", f, &out)
	return out, err
}

// Faults lists the active fault rules.
func (a *AdminClient) Faults() ([]Fault, error) {
	var out []Fault
	err := a.do("GET", "/faults", nil, &out)
	return out, err
}

// RemoveFault deletes one rule; ClearFaults deletes all.
func (a *AdminClient) RemoveFault(id string) error {
	return a.do("DELETE", "/faults/"+url.PathEscape(id), nil, nil)
}

// ClearFaults removes every fault rule.
func (a *AdminClient) ClearFaults() error { return a.do("DELETE", "/faults", nil, nil) }

// Limits returns the throttling limits; SetLimits replaces them.
func (a *AdminClient) Limits() (Limits, error) {
	var l Limits
	err := a.do("GET", "/limits", nil, &l)
	return l, err
}

// SetLimits replaces the throttling limits.
func (a *AdminClient) SetLimits(l Limits) error { return a.do("PUT", "/limits", l, nil) }

// Counters returns the request counters.
func (a *AdminClient) Counters() ([]Counter, error) {
	var out []Counter
	err := a.do("GET", "/counters", nil, &out)
	return out, err
}

// ResetCounters zeroes the counters.
func (a *AdminClient) ResetCounters() error { return a.do("DELETE", "/counters", nil, nil) }

// Reset returns to the seeded state and clears faults, counters and limits.
func (a *AdminClient) Reset() error { return a.do("POST", "/reset", nil, nil) }

// Seed replaces the state with a YAML or JSON seed.
func (a *AdminClient) Seed(seed []byte) error {
	return a.doAs("application/yaml", "POST", "/seed", seed, nil)
}

// Snapshot returns the whole state, secret values included.
func (a *AdminClient) Snapshot() (*State, error) {
	st := store.NewState()
	err := a.do("GET", "/snapshot", nil, st)
	return st, err
}

// Info returns the URLs and CA path of the emulator.
func (a *AdminClient) Info() (Info, error) {
	var in Info
	err := a.do("GET", "/info", nil, &in)
	return in, err
}

// SetSettings changes run-time settings (token lifetime).
func (a *AdminClient) SetSettings(st Settings) error { return a.do("PUT", "/settings", st, nil) }
