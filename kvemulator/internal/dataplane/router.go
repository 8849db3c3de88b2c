package dataplane

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/entra"
	"github.com/kvcsi/kvcsi/kvemulator/internal/faults"
	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Route is one data-plane operation; routes.go lists them all.
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

// Principal is the caller, taken from a verified access token.
type Principal struct {
	TenantID string
	ObjectID string
	AppID    string
	Issuer   string
	Name     string // identity name from the seed, for counters
}

// Addr is how the client addressed a vault: it decides the object ids, the
// challenge and the accepted token audiences.
type Addr struct {
	Vault     string
	Base      string // "https://<host>[:port]", the vault root without slash
	Resource  string // challenge resource, "https://<suffix>[:port]"
	Authority string // "https://<login host>[:port]"
}

type ctxKey int

const addrKey ctxKey = 1

// Plane is the data plane of every vault: the pipeline around the routes.
type Plane struct {
	Store    *store.Store
	Tokens   *entra.Issuer
	Counters *faults.Counters
	Faults   *faults.Faults
	Limits   *faults.Limiter
	Log      *slog.Logger
	// CertificateCreateDelay: a created certificate's operation answers
	// inProgress this long (0: completed on the first poll).
	CertificateCreateDelay time.Duration
	mux                    *http.ServeMux
}

// Serve answers one request addressed to a vault that exists.
func (s *Plane) Serve(w http.ResponseWriter, r *http.Request, addr Addr) {
	if s.mux == nil {
		s.mux = s.buildMux()
	}
	s.mux.ServeHTTP(w, settingsPath(r).WithContext(context.WithValue(r.Context(), addrKey, addr)))
}

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
	p          *Plane
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
		return kverr.ErrBadParameter("reading the request body failed: %v", err)
	}
	return decodeBody(body, v)
}

// decodeBody is the request decoder shared by every handler (and fuzzed).
func decodeBody(body []byte, v any) error {
	if len(body) > maxBody {
		return kverr.ErrBadParameter("The request body is larger than %d bytes.", maxBody)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return kverr.ErrBadParameter("The request body is empty; send a JSON object.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return kverr.ErrBadParameter("The request body is not valid: field %q must be a JSON %s, not %s.", te.Field, te.Type.Kind(), te.Value)
		}
		return kverr.ErrBadParameter("The request body is not valid JSON: %v", err)
	}
	return nil
}

// Update runs fn on the vault under the store's write lock and schedules
// persistence when fn succeeds.
func (c *Call) Update(fn func(v *store.Vault) error) error { return c.p.Store.UpdateVault(c.Vault, fn) }

// View runs fn on the vault under the read lock.
func (c *Call) View(fn func(v *store.Vault) error) error { return c.p.Store.ViewVault(c.Vault, fn) }

// buildMux registers every route with the pipeline around it.
func (s *Plane) buildMux() *http.ServeMux {
	mux := http.NewServeMux()
	rs := routes()
	for i := range rs {
		rt := &rs[i]
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
func (s *Plane) serveOp(w http.ResponseWriter, r *http.Request, rt *Route) {
	addr := r.Context().Value(addrKey).(Addr)
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
		// Object names are request data: they are counted only for an authenticated caller
		// (and the counter map is bounded besides), so anonymous traffic cannot grow it.
		counted := object
		if principal == nil {
			counted = ""
		}
		s.Counters.Add(faults.CounterKey{Vault: addr.Vault, Object: counted, Op: op, Identity: ident, Status: sw.status})
		// Names and ids only: never a header, a body or a query value.
		s.Log.Debug("request", "vault", addr.Vault, "op", op, "object", kverr.Truncate(object, 128), "identity", ident, "status", sw.status)
	}()

	apiVersion, aerr := checkAPIVersion(r)
	if aerr != nil {
		s.writeError(sw, r, addr, aerr)
		return
	}
	if s.Faults.Apply(sw, r, addr.Vault, object, op) {
		return
	}
	p, aerr := s.authenticate(r, addr)
	if aerr != nil {
		s.writeError(sw, r, addr, aerr)
		return
	}
	principal = p
	if rt == nil {
		s.writeError(sw, r, addr, &kverr.APIError{Status: http.StatusNotFound, Code: "NotFound",
			Message: "The path " + r.Method + " " + r.URL.Path + " is not a Key Vault operation this emulator serves."})
		return
	}
	if aerr := s.authorize(addr.Vault, p, rt); aerr != nil {
		s.writeError(sw, r, addr, aerr)
		return
	}
	if aerr := s.Limits.Take(addr.Vault, throttleClass(rt)); aerr != nil {
		s.writeError(sw, r, addr, aerr)
		return
	}
	if object != "" {
		object = s.Store.CanonicalName(addr.Vault, rt.Kind, object)
		r.SetPathValue("name", object)
	}
	c := &Call{W: sw, R: r, Route: rt, Vault: addr.Vault, Base: addr.Base, APIVersion: apiVersion, Principal: p, Now: time.Now(), p: s}
	status, body, err := rt.Handler(c)
	if err != nil {
		var ae *kverr.APIError
		if !errors.As(err, &ae) {
			s.Log.Error("handler failed", "op", rt.Op, "vault", addr.Vault, "object", object, "err", err)
			ae = kverr.ErrInternal()
		}
		s.writeError(sw, r, addr, ae)
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	kverr.WriteJSON(sw, status, shapeForVersion(apiVersion, body))
}

func throttleClass(rt *Route) string {
	if rt.Throttle != "" {
		return rt.Throttle
	}
	if rt.Kind == store.KindKey {
		return "key"
	}
	return "secret"
}

// writeError writes an APIError, with the challenge header on a 401.
func (s *Plane) writeError(w http.ResponseWriter, r *http.Request, addr Addr, e *kverr.APIError) {
	if e.Challenge {
		w.Header().Set("WWW-Authenticate", s.challenge(addr))
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	kverr.WriteJSON(w, e.Status, e)
}

// challenge is the header the SDK's bearer policy parses: no spaces or '='
// inside the values, authority with the tenant as its path.
func (s *Plane) challenge(addr Addr) string {
	tenant := s.Store.VaultTenant(addr.Vault)
	return `Bearer authorization="` + addr.Authority + "/" + tenant + `", resource="` + addr.Resource + `"`
}
