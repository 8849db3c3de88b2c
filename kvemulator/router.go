package kvemulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Route is one data-plane operation. Every handler file registers its routes
// from init with registerRoutes, so the router never needs editing to add an
// operation (see doc.go).
type Route struct {
	Method string
	// Path is a net/http ServeMux path pattern relative to the vault root, e.g.
	// "/secrets/{name}/{version}". Use "{$}" for the SDK's trailing slash:
	// "/secrets/{name}/{$}" is "get the latest version".
	Path string
	// Kind is KindSecret, KindKey or KindCertificate: it selects the access-policy
	// permission list and the throttling class.
	Kind string
	// Permission is the access-policy permission the caller needs ("get",
	// "list", "set", "delete", "recover", "purge", "backup", "restore",
	// "create", "import", "update", "sign", "verify", "encrypt", "decrypt",
	// "wrapKey", "unwrapKey", "rotate", ...).
	Permission string
	// Op names the operation in counters and fault rules, e.g. "GetSecret".
	Op string
	// Throttle is the limit class; "" derives it from Kind ("secret" for
	// secrets and certificates, "key" for keys). Key creation uses "keyCreate".
	Throttle string
	// Handler does the work. It returns the status and a body to encode as JSON
	// (nil for none), or an error; an *APIError is written as is, any other
	// error becomes a logged 500.
	Handler func(c *Call) (int, any, error)
}

var routes []Route

// registerRoutes adds data-plane operations; call it from init.
func registerRoutes(rs ...Route) { routes = append(routes, rs...) }

// Principal is the caller, taken from a verified access token.
type Principal struct {
	TenantID string
	ObjectID string
	AppID    string
	Issuer   string
	Name     string // identity name from the seed, for counters
}

// vaultAddr is how the client addressed a vault: it decides the object ids,
// the challenge and the accepted token audiences.
type vaultAddr struct {
	vault     string
	base      string // "https://<host>[:port]", the vault root without slash
	resource  string // challenge resource, "https://<suffix>[:port]"
	authority string // "https://<login host>[:port]"
}

type ctxKey int

const addrKey ctxKey = 1

// Call is one data-plane request after routing, authentication and
// authorization: what a handler needs and nothing process-wide.
type Call struct {
	W          http.ResponseWriter
	R          *http.Request
	Route      *Route
	Vault      string // vault name
	Base       string // "https://<host>[:port]" as the client addressed the vault
	APIVersion string
	Principal  *Principal
	Now        time.Time
	srv        *Server
}

// Name is the {name} path value.
func (c *Call) Name() string { return c.R.PathValue("name") }

// VersionParam is the {version} path value ("" for latest).
func (c *Call) VersionParam() string { return c.R.PathValue("version") }

// ID renders an object id: <base>/<collection>/<name>[/<version>], where
// collection is "secrets", "keys", "certificates", "deletedsecrets", ...
func (c *Call) ID(collection, name, version string) string {
	id := c.Base + "/" + collection + "/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

// maxBody bounds request bodies; the service refuses larger ones too.
const maxBody = 2 << 20

// Decode reads a JSON body into v. Any problem is a BadParameter that says
// what is wrong; unknown fields are accepted, as the service does.
func (c *Call) Decode(v any) error {
	body, err := io.ReadAll(io.LimitReader(c.R.Body, maxBody+1))
	if err != nil {
		return ErrBadParameter("reading the request body failed: %v", err)
	}
	return decodeBody(body, v)
}

// decodeBody is the request decoder shared by every handler (and fuzzed).
func decodeBody(body []byte, v any) error {
	if len(body) > maxBody {
		return ErrBadParameter("The request body is larger than %d bytes.", maxBody)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return ErrBadParameter("The request body is empty; send a JSON object.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return ErrBadParameter("The request body is not valid: field %q must be a JSON %s, not %s.", te.Field, te.Type.Kind(), te.Value)
		}
		return ErrBadParameter("The request body is not valid JSON: %v", err)
	}
	return nil
}

// Update runs fn on the vault under the store's write lock and schedules
// persistence when fn succeeds.
func (c *Call) Update(fn func(v *Vault) error) error { return c.srv.store.updateVault(c.Vault, fn) }

// View runs fn on the vault under the read lock.
func (c *Call) View(fn func(v *Vault) error) error { return c.srv.store.viewVault(c.Vault, fn) }

// Server returns the emulator, for handlers that need its configuration.
func (c *Call) Server() *Server { return c.srv }

// Supported api-versions: 7.2 through the newest the Go SDK modules send.
var apiVersions = []string{"7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}

func checkAPIVersion(r *http.Request) (string, *APIError) {
	v := r.URL.Query().Get("api-version")
	if v == "" {
		return "", ErrBadParameter("The api-version query parameter is missing; add ?api-version=%s (supported: %s).", apiVersions[len(apiVersions)-1], strings.Join(apiVersions, ", "))
	}
	if !slices.Contains(apiVersions, v) {
		return "", ErrBadParameter("The specified version (%s) is not recognized. Consider using the latest supported version (%s); supported: %s.", v, apiVersions[len(apiVersions)-1], strings.Join(apiVersions, ", "))
	}
	return v, nil
}

// buildDataMux registers every route with the pipeline around it.
func (s *Server) buildDataMux() *http.ServeMux {
	mux := http.NewServeMux()
	for i := range routes {
		rt := &routes[i]
		mux.HandleFunc(rt.Method+" "+rt.Path, func(w http.ResponseWriter, r *http.Request) { s.serveOp(w, r, rt) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.serveOp(w, r, nil) })
	return mux
}

// statusWriter remembers the status for counters.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serveOp is the data-plane pipeline: api-version, injected faults, the
// challenge and token check, the access policy, throttling, then the handler.
func (s *Server) serveOp(w http.ResponseWriter, r *http.Request, rt *Route) {
	addr := r.Context().Value(addrKey).(vaultAddr)
	sw := &statusWriter{ResponseWriter: w}
	op := "Unknown"
	if rt != nil {
		op = rt.Op
	}
	object := r.PathValue("name")
	var principal *Principal
	defer func() {
		ident := ""
		if principal != nil {
			ident = principal.Name
			if ident == "" {
				ident = principal.AppID
			}
		}
		s.counters.add(CounterKey{Vault: addr.vault, Object: object, Op: op, Identity: ident, Status: sw.status})
		// Names and ids only: never a header, a body or a query value.
		s.log.Debug("request", "vault", addr.vault, "op", op, "object", object, "identity", ident, "status", sw.status)
	}()

	apiVersion, aerr := checkAPIVersion(r)
	if aerr != nil {
		s.writeError(sw, r, addr, aerr)
		return
	}
	if s.faults.apply(sw, r, addr.vault, object, op) {
		return
	}
	p, aerr := s.authenticate(r, addr)
	if aerr != nil {
		s.writeError(sw, r, addr, aerr)
		return
	}
	principal = p
	if rt == nil {
		s.writeError(sw, r, addr, &APIError{Status: http.StatusNotFound, Code: "NotFound",
			Message: "The path " + r.Method + " " + r.URL.Path + " is not a Key Vault operation this emulator serves."})
		return
	}
	if aerr := s.authorize(addr.vault, p, rt); aerr != nil {
		s.writeError(sw, r, addr, aerr)
		return
	}
	if aerr := s.limits.take(addr.vault, throttleClass(rt)); aerr != nil {
		s.writeError(sw, r, addr, aerr)
		return
	}
	if object != "" {
		object = s.store.canonicalName(addr.vault, rt.Kind, object)
		r.SetPathValue("name", object)
	}
	c := &Call{W: sw, R: r, Route: rt, Vault: addr.vault, Base: addr.base, APIVersion: apiVersion, Principal: p, Now: time.Now(), srv: s}
	status, body, err := rt.Handler(c)
	if err != nil {
		var ae *APIError
		if !errors.As(err, &ae) {
			s.log.Error("handler failed", "op", rt.Op, "vault", addr.vault, "object", object, "err", err)
			ae = ErrInternal()
		}
		s.writeError(sw, r, addr, ae)
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	writeJSON(sw, status, body)
}

func throttleClass(rt *Route) string {
	if rt.Throttle != "" {
		return rt.Throttle
	}
	if rt.Kind == KindKey {
		return "key"
	}
	return "secret"
}

// writeError writes an APIError, with the challenge header on a 401.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, addr vaultAddr, e *APIError) {
	if e.Challenge {
		w.Header().Set("WWW-Authenticate", s.challenge(addr))
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, e)
}

// challenge is the header the SDK's bearer policy parses: no spaces or '='
// inside the values, authority with the tenant as its path.
func (s *Server) challenge(addr vaultAddr) string {
	tenant := s.store.vaultTenant(addr.vault)
	return `Bearer authorization="` + addr.authority + "/" + tenant + `", resource="` + addr.resource + `"`
}

// splitHostPort splits a Host header; the port is "" when absent.
func splitHostPort(hostport string) (host, port string) {
	host = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	}
	return strings.ToLower(strings.TrimSuffix(host, ".")), port
}

func withPort(host, port string) string {
	if port == "" {
		return host
	}
	return host + ":" + port
}

// resolveVault maps a request host to a vault: <vault>.<suffix>,
// <vault>.vault.azure.net with AzureNames, and localhost/127.0.0.1 to the
// default vault.
func (s *Server) resolveVault(hostport string) (vaultAddr, bool) {
	host, port := splitHostPort(hostport)
	suffixes := []string{s.cfg.DNSSuffix}
	if s.cfg.AzureNames {
		suffixes = append(suffixes, azureVaultSuffix)
	}
	for _, suf := range suffixes {
		if name, ok := strings.CutSuffix(host, "."+suf); ok && name != "" && !strings.Contains(name, ".") {
			login := s.cfg.LoginHost
			if suf == azureVaultSuffix {
				login = azureLoginHost
			}
			return vaultAddr{vault: name, base: "https://" + withPort(host, port), resource: "https://" + withPort(suf, port), authority: "https://" + withPort(login, port)}, true
		}
	}
	if host == "localhost" || host == "127.0.0.1" || host == "::1" {
		return vaultAddr{vault: s.defaultVault(), base: "https://" + withPort(hostForURL(host), port), resource: "https://" + withPort(hostForURL(host), port), authority: "https://" + withPort(s.cfg.LoginHost, port)}, true
	}
	return vaultAddr{}, false
}

func hostForURL(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func (s *Server) isLoginHost(hostport string) bool {
	host, _ := splitHostPort(hostport)
	return host == s.cfg.LoginHost || host == azureLoginHost
}

// ServeHTTP dispatches by host: login host → Entra ID, vault hosts → data plane.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.isLoginHost(r.Host) {
		s.entra.ServeHTTP(w, r)
		return
	}
	addr, ok := s.resolveVault(r.Host)
	if !ok {
		writeJSON(w, http.StatusNotFound, ErrBadParameter("The host %q is neither a vault (<vault>.%s) nor the login host (%s).", r.Host, s.cfg.DNSSuffix, s.cfg.LoginHost))
		return
	}
	if !s.store.hasVault(addr.vault) {
		s.counters.add(CounterKey{Vault: addr.vault, Op: "Unknown", Status: http.StatusNotFound})
		writeJSON(w, http.StatusNotFound, ErrVaultNotFound(addr.vault))
		return
	}
	s.data.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), addrKey, addr)))
}
