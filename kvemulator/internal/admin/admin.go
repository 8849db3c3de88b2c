// Package admin is the emulator's admin API: snapshot, seed, reset, secret
// versions, access policies, faults, limits, counters and settings. It can read every secret,
// so it listens on loopback only.
package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/dataplane"
	"github.com/kvcsi/kvcsi/kvemulator/internal/faults"
	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/seed"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Error is the admin API's error body.
type Error struct {
	Error string `json:"error"`
}

func adminFail(w http.ResponseWriter, status int, format string, a ...any) {
	kverr.WriteJSON(w, status, Error{Error: fmt.Sprintf(format, a...)})
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
	TokenTTL faults.Duration `json:"tokenTTL,omitempty"`
}

// Deps is what the admin API drives.
type Deps struct {
	Store    *store.Store
	Counters *faults.Counters
	Faults   *faults.Faults
	Limits   *faults.Limiter
	// Info describes the running emulator; VaultURL names a vault's URL.
	Info     func() Info
	VaultURL func(vault string) string
	// ApplySeed replaces the state; Reset returns to the seeded state.
	ApplySeed   func(*seed.Seed) error
	Reset       func()
	SetTokenTTL func(time.Duration)
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

// Handler serves the admin API behind guard.
func Handler(s Deps) http.Handler { return guard(routes(s)) }

func routes(s Deps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) { kverr.WriteJSON(w, 200, s.Info()) })
	mux.HandleFunc("GET /snapshot", func(w http.ResponseWriter, r *http.Request) {
		_ = s.Store.View(func(st *store.State) error { kverr.WriteJSON(w, 200, st); return nil })
	})
	mux.HandleFunc("POST /seed", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
		if err != nil {
			adminFail(w, 400, "reading the seed: %v", err)
			return
		}
		sd, err := seed.Parse(body)
		if err == nil {
			err = s.ApplySeed(sd)
		}
		if err != nil {
			adminFail(w, 400, "%v", err)
			return
		}
		kverr.WriteJSON(w, 200, s.Info())
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /vaults/{vault}/secrets/{name}", func(w http.ResponseWriter, r *http.Request) {
		var req SetSecretRequest
		if !readAll(w, r, &req) {
			return
		}
		resp, err := setSecretVersion(s, r.PathValue("vault"), r.PathValue("name"), req)
		if err != nil {
			adminFail(w, 400, "%v", err)
			return
		}
		kverr.WriteJSON(w, 200, resp)
	})
	mux.HandleFunc("PATCH /vaults/{vault}/access-policies/{identity}", accessPolicyRoute(s))
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) { kverr.WriteJSON(w, 200, s.Faults.List()) })
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		var f faults.Fault
		if !readAll(w, r, &f) {
			return
		}
		f, err := s.Faults.Add(f)
		if err != nil {
			adminFail(w, 400, "%v", err)
			return
		}
		kverr.WriteJSON(w, 200, f)
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) { s.Faults.Clear(); w.WriteHeader(204) })
	mux.HandleFunc("DELETE /faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !s.Faults.Remove(r.PathValue("id")) {
			adminFail(w, 404, "no fault %q", r.PathValue("id"))
			return
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("GET /limits", func(w http.ResponseWriter, r *http.Request) { kverr.WriteJSON(w, 200, s.Limits.Get()) })
	mux.HandleFunc("PUT /limits", func(w http.ResponseWriter, r *http.Request) {
		var l faults.Limits
		if !readAll(w, r, &l) {
			return
		}
		if err := l.Validate(); err != nil {
			adminFail(w, 400, "%v", err)
			return
		}
		s.Limits.Set(l)
		kverr.WriteJSON(w, 200, l)
	})
	mux.HandleFunc("GET /counters", func(w http.ResponseWriter, r *http.Request) { kverr.WriteJSON(w, 200, s.Counters.List()) })
	mux.HandleFunc("DELETE /counters", func(w http.ResponseWriter, r *http.Request) { s.Counters.Reset(); w.WriteHeader(204) })
	mux.HandleFunc("PUT /settings", func(w http.ResponseWriter, r *http.Request) {
		var st Settings
		if !readAll(w, r, &st) {
			return
		}
		if st.TokenTTL < 0 {
			adminFail(w, 400, "tokenTTL must not be negative")
			return
		}
		s.SetTokenTTL(time.Duration(st.TokenTTL))
		kverr.WriteJSON(w, 200, st)
	})
	return mux
}

// setSecretVersion adds a version to a secret, creating it if needed (for
// rotation scenarios).
func setSecretVersion(s Deps, vault, name string, req SetSecretRequest) (SetSecretResponse, error) {
	if err := dataplane.CheckObjectName(name); err != nil {
		return SetSecretResponse{}, err
	}
	if err := dataplane.CheckSecretValue(req.Value); err != nil {
		return SetSecretResponse{}, err
	}
	var resp SetSecretResponse
	err := s.Store.UpdateVault(strings.ToLower(vault), func(v *store.Vault) error {
		name := store.CanonicalIn(v.Secrets, name)
		obj := v.Secrets[name]
		if obj != nil && obj.Deleted != nil {
			return kverr.ErrDeletedButRecoverable(store.KindSecret, name)
		}
		if obj == nil {
			obj = &store.Object[store.SecretVersion]{Name: name}
			v.Secrets[name] = obj
		}
		ver := &store.SecretVersion{Version: store.NewVersionID(), Value: req.Value, ContentType: req.ContentType, Tags: req.Tags, Attributes: v.NewAttributes(&store.Attributes{Enabled: req.Enabled}, time.Now())}
		obj.Versions = append(obj.Versions, ver)
		resp = SetSecretResponse{Version: ver.Version, ID: strings.TrimSuffix(s.VaultURL(v.Name), "/") + "/secrets/" + name + "/" + ver.Version}
		return nil
	})
	return resp, err
}

// guard refuses what a web page could make a browser send to the loopback
// port: a Host that is not localhost or a loopback address (DNS rebinding: a
// name the attacker controls that resolves to 127.0.0.1), an Origin that is
// not loopback, and a state-changing request whose body is not JSON (or YAML,
// for /seed) — the only types a page can send without a CORS preflight,
// which this API never grants, are form and text types.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			adminFail(w, http.StatusForbidden, "the admin API answers only requests addressed to localhost or a loopback address, not Host %q", kverr.Truncate(r.Host, 100))
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || !loopbackHost(u.Host) {
				adminFail(w, http.StatusForbidden, "the admin API refuses cross-site requests (Origin %q)", kverr.Truncate(o, 100))
				return
			}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			yaml := mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml"
			if mt != "application/json" && !(yaml && r.URL.Path == "/seed") {
				adminFail(w, http.StatusUnsupportedMediaType, "%s %s needs Content-Type: application/json (POST /seed also takes application/yaml), not %q", r.Method, r.URL.Path, kverr.Truncate(r.Header.Get("Content-Type"), 100))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host value (with or without a port) is
// localhost or a loopback IP address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
