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
)

// The admin API listens on loopback only (plain HTTP, no auth): scenarios
// and benchmarks drive the emulator through it. It can read every secret, so
// it never listens elsewhere (Config.AdminAddr is checked).

type adminError struct {
	Error string `json:"error"`
}

func adminFail(w http.ResponseWriter, status int, format string, a ...any) {
	writeJSON(w, status, adminError{Error: fmt.Sprintf(format, a...)})
}

// SetSecretRequest is the admin body that adds a secret version.
type SetSecretRequest struct {
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Enabled     *bool             `json:"enabled,omitempty"`
}

// SetSecretResponse names the version the admin API created.
type SetSecretResponse struct {
	Version string `json:"version"`
	ID      string `json:"id"`
}

// Info describes the running emulator.
type Info struct {
	VaultURLs     map[string]string `json:"vaultURLs"`
	AuthorityHost string            `json:"authorityHost"`
	CAFile        string            `json:"caFile"`
	IMDSURL       string            `json:"imdsURL"`
	NMIURL        string            `json:"nmiURL"`
	// IdentityEndpoint and IdentityHeader are the App Service style values
	// for IDENTITY_ENDPOINT and IDENTITY_HEADER.
	IdentityEndpoint string `json:"identityEndpoint"`
	IdentityHeader   string `json:"identityHeader"`
	HTTPSAddr        string `json:"httpsAddr"`
}

// Settings are run-time knobs besides faults and limits.
type Settings struct {
	TokenTTL Duration `json:"tokenTTL,omitempty"`
}

func (s *Server) info() Info {
	in := Info{VaultURLs: map[string]string{}, AuthorityHost: s.AuthorityHost(), CAFile: s.CAFile(), IMDSURL: s.IMDSURL(), NMIURL: s.NMIURL(), HTTPSAddr: s.Addr()}
	in.IdentityEndpoint, in.IdentityHeader = s.IdentityEndpoint()
	_ = s.store.view(func(st *State) error {
		for n := range st.Vaults {
			in.VaultURLs[n] = s.VaultURL(n)
		}
		return nil
	})
	return in
}

func readAll(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		adminFail(w, http.StatusBadRequest, "reading the body: %v", err)
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		adminFail(w, http.StatusBadRequest, "the body is not valid JSON for this endpoint: %v", err)
		return false
	}
	return true
}

func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.info()) })
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, r *http.Request) {
		_ = s.store.view(func(st *State) error { writeJSON(w, 200, st); return nil })
	})
	mux.HandleFunc("POST /seed", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			adminFail(w, 400, "reading the seed: %v", err)
			return
		}
		sd, err := ParseSeed(body)
		if err == nil {
			err = s.ApplySeed(sd)
		}
		if err != nil {
			adminFail(w, 400, "%v", err)
			return
		}
		writeJSON(w, 200, s.info())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		s.reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /vaults/{vault}/secrets/{name}", func(w http.ResponseWriter, r *http.Request) {
		var req SetSecretRequest
		if !readAll(w, r, &req) {
			return
		}
		resp, err := s.setSecretVersion(r.PathValue("vault"), r.PathValue("name"), req)
		if err != nil {
			adminFail(w, 400, "%v", err)
			return
		}
		writeJSON(w, 200, resp)
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.faults.list()) })
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !readAll(w, r, &f) {
			return
		}
		f, err := s.faults.add(f)
		if err != nil {
			adminFail(w, 400, "%v", err)
			return
		}
		writeJSON(w, 200, f)
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) { s.faults.clear(); w.WriteHeader(204) })
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.faults.remove(r.PathValue("id")) {
			adminFail(w, 404, "no fault %q", r.PathValue("id"))
			return
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("GET /limits", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.limits.get()) })
	mux.HandleFunc("PUT /limits", func(w http.ResponseWriter, r *http.Request) {
		var l Limits
		if !readAll(w, r, &l) {
			return
		}
		if err := l.validate(); err != nil {
			adminFail(w, 400, "%v", err)
			return
		}
		s.limits.set(l)
		writeJSON(w, 200, l)
	})
	mux.HandleFunc("GET /counters", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, s.counters.list()) })
	mux.HandleFunc("DELETE /counters", func(w http.ResponseWriter, r *http.Request) { s.counters.reset(); w.WriteHeader(204) })
	mux.HandleFunc("PUT /settings", func(w http.ResponseWriter, r *http.Request) {
		var st Settings
		if !readAll(w, r, &st) {
			return
		}
		if st.TokenTTL < 0 {
			adminFail(w, 400, "tokenTTL must not be negative")
			return
		}
		s.ttl.Store(int64(st.TokenTTL))
		writeJSON(w, 200, st)
	})
	return mux
}

// ApplySeed replaces the whole state with the seed's and makes it the state
// Reset returns to.
func (s *Server) ApplySeed(sd *Seed) error {
	st, err := sd.build(time.Now())
	if err != nil {
		return err
	}
	s.store.mu.Lock()
	s.initial = st
	s.store.st = cloneState(st)
	s.store.mu.Unlock()
	s.store.persist()
	return nil
}

// reset returns to the seeded state and clears faults, counters and limits.
func (s *Server) reset() {
	s.store.mu.Lock()
	s.store.st = cloneState(s.initial)
	s.store.mu.Unlock()
	s.store.persist()
	s.faults.clear()
	s.counters.reset()
	if s.cfg.DisableThrottling {
		l := DefaultLimits()
		l.Enabled = false
		s.limits.set(l)
	} else {
		s.limits.set(DefaultLimits())
	}
	s.ttl.Store(0)
}

// setSecretVersion adds a version to a secret, creating it if needed (for
// rotation scenarios).
func (s *Server) setSecretVersion(vault, name string, req SetSecretRequest) (SetSecretResponse, error) {
	if err := checkObjectName(name); err != nil {
		return SetSecretResponse{}, err
	}
	if err := checkSecretValue(req.Value); err != nil {
		return SetSecretResponse{}, err
	}
	var resp SetSecretResponse
	err := s.store.updateVault(strings.ToLower(vault), func(v *Vault) error {
		name := canonicalIn(v.Secrets, name)
		obj := v.Secrets[name]
		if obj != nil && obj.Deleted != nil {
			return ErrDeletedButRecoverable(KindSecret, name)
		}
		if obj == nil {
			obj = &Object[SecretVersion]{Name: name}
			v.Secrets[name] = obj
		}
		ver := &SecretVersion{Version: NewVersionID(), Value: req.Value, ContentType: req.ContentType, Tags: req.Tags, Attributes: v.newAttributes(&Attributes{Enabled: req.Enabled}, time.Now())}
		obj.Versions = append(obj.Versions, ver)
		resp = SetSecretResponse{Version: ver.Version, ID: strings.TrimSuffix(s.VaultURL(v.Name), "/") + "/secrets/" + name + "/" + ver.Version}
		return nil
	})
	return resp, err
}

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
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("kvemulator admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var ae adminError
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
func (a *AdminClient) Seed(seed []byte) error { return a.do("POST", "/seed", seed, nil) }

// Snapshot returns the whole state, secret values included.
func (a *AdminClient) Snapshot() (*State, error) {
	st := newState()
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

// Sum adds the counters that match the filter (empty fields match all;
// status 0 matches every status).
func Sum(cs []Counter, filter CounterKey) int64 {
	var n int64
	for _, c := range cs {
		if (filter.Vault == "" || c.Vault == filter.Vault) && (filter.Object == "" || c.Object == filter.Object) &&
			(filter.Op == "" || c.Op == filter.Op) && (filter.Identity == "" || c.Identity == filter.Identity) &&
			(filter.Status == 0 || c.Status == filter.Status) {
			n += c.Count
		}
	}
	return n
}
