// Package keyvault fetches secrets, keys and certificates with the Azure SDK
// clients. It keeps one set of clients per (vault, identity), collapses
// identical concurrent fetches of one identity into one call (singleflight),
// and serves repeats from a short-lived cache keyed by identity, so a pod
// never receives content its own identity was not given by Key Vault.
package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"golang.org/x/sync/singleflight"

	"github.com/kvcsi/kvcsi/provider/metrics"
	"github.com/kvcsi/kvcsi/provider/params"
	"github.com/kvcsi/kvcsi/provider/render"
)

// Options configure a Fetcher.
type Options struct {
	// Transport carries every Key Vault request.
	Transport policy.Transporter
	// CacheTTL is how long a fetched object is served again to the same
	// identity; 0 disables the cache.
	CacheTTL time.Duration
	// DisableSingleflight turns off collapsing of identical concurrent
	// fetches (for benchmarks).
	DisableSingleflight bool
	// Metrics records keyvault_request; nil records nothing.
	Metrics *metrics.Recorder
	// MaxRetries for 408/429/5xx and network errors; 0 means 3 (azcore's default).
	MaxRetries int
	// RetryDelay is the base backoff; 0 means azcore's 800ms.
	RetryDelay time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Target is who fetches from which vault.
type Target struct {
	VaultName   string
	VaultURL    string
	IdentityKey string
	Credential  azcore.TokenCredential
	// Fresh skips the cache lookup (the result is still stored): a first
	// mount must show the vault's current content, as upstream does, not
	// what another pod of the same identity fetched up to CacheTTL ago.
	Fresh bool
}

// Item is one fetched object version.
type Item struct {
	Secret *render.Secret
	Key    *render.JWK
	Cert   []byte
	// Version is the last segment of the Key Vault id.
	Version string
}

// Fetcher fetches objects; it is safe for concurrent use.
type Fetcher struct {
	o  Options
	sf singleflight.Group

	// joined, when set (tests), is called once a caller waits on a
	// singleflight call, so a test can hold the shared call until every
	// caller has joined it.
	joined func()

	mu        sync.Mutex
	clients   map[string]*clients
	cache     map[string]cached
	lastSweep time.Time
}

type clients struct {
	s        *azsecrets.Client
	k        *azkeys.Client
	c        *azcertificates.Client
	lastUsed time.Time
}

type cached struct {
	v   any
	exp time.Time
}

// New creates a Fetcher.
func New(o Options) *Fetcher {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 3
	}
	return &Fetcher{o: o, clients: map[string]*clients{}, cache: map[string]cached{}}
}

// BreakLogSecretValuesEnv, set to "1" in the provider's environment, breaks
// it on purpose: every fetched secret value is written to standard error
// (the container log). Only the break-on-purpose test of
// scenarios/target/local sets it, to show that security/no-secret-in-logs
// notices a leak.
const BreakLogSecretValuesEnv = "KVCSI_BREAK_LOG_SECRET_VALUES"

var breakLogSecretValues = os.Getenv(BreakLogSecretValuesEnv) == "1"

// shouldRetry is azcore's default policy, except that a vault name that does
// not resolve is final: retrying cannot make the vault exist.
func shouldRetry(resp *http.Response, err error) bool {
	if err != nil {
		var dns *net.DNSError
		return !(errors.As(err, &dns) && dns.IsNotFound)
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (f *Fetcher) clientsFor(t Target) (*clients, error) {
	key := t.IdentityKey + "|" + t.VaultURL
	now := f.o.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[key]; ok {
		c.lastUsed = now
		return c, nil
	}
	for k, c := range f.clients {
		if now.Sub(c.lastUsed) > 30*time.Minute {
			delete(f.clients, k)
		}
	}
	co := azcore.ClientOptions{Transport: f.o.Transport, Retry: policy.RetryOptions{
		MaxRetries: brokenMaxRetries(int32(f.o.MaxRetries)), RetryDelay: f.o.RetryDelay, ShouldRetry: shouldRetry,
	}}
	s, err := azsecrets.NewClient(t.VaultURL, t.Credential, &azsecrets.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, err
	}
	k, err := azkeys.NewClient(t.VaultURL, t.Credential, &azkeys.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, err
	}
	c, err := azcertificates.NewClient(t.VaultURL, t.Credential, &azcertificates.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, err
	}
	cl := &clients{s: s, k: k, c: c, lastUsed: now}
	f.clients[key] = cl
	return cl, nil
}

// Get fetches one object version ("" = latest).
func (f *Fetcher) Get(ctx context.Context, t Target, typ, name, version string) (*Item, error) {
	v, err := f.shared(ctx, t, "get|"+typ+"|"+name+"|"+version, func(ctx context.Context) (any, error) {
		return f.get(ctx, t, typ, name, version)
	})
	if it := brokenEmptyItem(typ, err); it != nil {
		return it, nil
	}
	if err != nil {
		return nil, err
	}
	return v.(*Item), nil
}

// EnabledVersions lists an object's enabled versions, newest first.
func (f *Fetcher) EnabledVersions(ctx context.Context, t Target, typ, name string) ([]string, error) {
	v, err := f.shared(ctx, t, "versions|"+typ+"|"+name, func(ctx context.Context) (any, error) {
		return f.versions(ctx, t, typ, name)
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// shared runs fn at most once per identity and key at a time, and caches
// its success for CacheTTL.
func (f *Fetcher) shared(ctx context.Context, t Target, what string, fn func(context.Context) (any, error)) (any, error) {
	key := t.IdentityKey + "|" + t.VaultURL + "|" + what
	if v, ok := f.lookup(key); ok && !t.Fresh {
		return v, nil
	}
	run := func(ctx context.Context) (any, error) {
		v, err := fn(ctx)
		if err == nil {
			f.store(key, v)
		}
		return v, err
	}
	if f.o.DisableSingleflight {
		return run(ctx)
	}
	ch := f.sf.DoChan(key, func() (any, error) {
		// The shared call must not die with the first caller's
		// cancellation; it keeps that caller's deadline as a bound.
		base := context.WithoutCancel(ctx)
		var cancel context.CancelFunc
		if dl, ok := ctx.Deadline(); ok {
			base, cancel = context.WithDeadline(base, dl)
		} else {
			base, cancel = context.WithTimeout(base, 2*time.Minute)
		}
		defer cancel()
		return run(base)
	})
	if f.joined != nil {
		f.joined()
	}
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *Fetcher) lookup(key string) (any, bool) {
	if f.o.CacheTTL <= 0 {
		return nil, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cache[key]
	if !ok || !f.o.Now().Before(c.exp) {
		return nil, false
	}
	return c.v, true
}

func (f *Fetcher) store(key string, v any) {
	if f.o.CacheTTL <= 0 {
		return
	}
	now := f.o.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	// Drop expired entries at least once per TTL, so secret values do not
	// stay in memory long after they stopped being served.
	if now.Sub(f.lastSweep) >= f.o.CacheTTL {
		f.lastSweep = now
		for k, c := range f.cache {
			if !now.Before(c.exp) {
				delete(f.cache, k)
			}
		}
	}
	f.cache[key] = cached{v: v, exp: now.Add(f.o.CacheTTL)}
}

func (f *Fetcher) observe(start time.Time, vault, name, typ string, err error) {
	reason := ""
	if err != nil {
		reason = Classify(err, vault).Reason
	}
	f.o.Metrics.KeyVault(f.o.Now().Sub(start), name, typ, reason)
}

func (f *Fetcher) get(ctx context.Context, t Target, typ, name, version string) (item *Item, err error) {
	cl, err := f.clientsFor(t)
	if err != nil {
		return nil, err
	}
	start := f.o.Now()
	defer func() { f.observe(start, t.VaultName, name, typ, err) }()
	switch typ {
	case params.TypeSecret:
		r, err := cl.s.GetSecret(ctx, name, version, nil)
		if err != nil {
			return nil, err
		}
		s := &render.Secret{CertBacked: r.KID != nil && *r.KID != ""}
		if r.Value != nil {
			s.Value = *r.Value
		}
		if breakLogSecretValues {
			fmt.Fprintf(os.Stderr, "BROKEN ON PURPOSE (%s): secret %s = %s\n", BreakLogSecretValuesEnv, name, s.Value)
		}
		if r.ContentType != nil {
			s.ContentType = *r.ContentType
		}
		it := &Item{Secret: s}
		if r.ID != nil {
			it.Version = r.ID.Version()
		}
		return it, nil
	case params.TypeKey:
		r, err := cl.k.GetKey(ctx, name, version, nil)
		if err != nil {
			return nil, err
		}
		if r.Key == nil {
			return nil, errors.New("key vault returned a key without its JSON web key")
		}
		j := &render.JWK{N: r.Key.N, E: r.Key.E, X: r.Key.X, Y: r.Key.Y}
		if r.Key.Kty != nil {
			j.Kty = string(*r.Key.Kty)
		}
		if r.Key.Crv != nil {
			j.Crv = string(*r.Key.Crv)
		}
		it := &Item{Key: j}
		if r.Key.KID != nil {
			it.Version = r.Key.KID.Version()
		}
		return it, nil
	default:
		r, err := cl.c.GetCertificate(ctx, name, version, nil)
		if err != nil {
			return nil, err
		}
		it := &Item{Cert: r.CER}
		if r.ID != nil {
			it.Version = r.ID.Version()
		}
		return it, nil
	}
}

func (f *Fetcher) versions(ctx context.Context, t Target, typ, name string) ([]string, error) {
	cl, err := f.clientsFor(t)
	if err != nil {
		return nil, err
	}
	var vs []versionInfo
	switch typ {
	case params.TypeSecret:
		vs, err = listVersions(ctx, f, t.VaultName, name, typ, cl.s.NewListSecretPropertiesVersionsPager(name, nil), func(r azsecrets.ListSecretPropertiesVersionsResponse) (out []versionInfo) {
			for _, it := range r.Value {
				if it != nil && it.ID != nil && it.Attributes != nil {
					out = append(out, newVersionInfo(it.Attributes.Enabled, it.Attributes.Created, it.ID.Version()))
				}
			}
			return out
		})
	case params.TypeKey:
		vs, err = listVersions(ctx, f, t.VaultName, name, typ, cl.k.NewListKeyPropertiesVersionsPager(name, nil), func(r azkeys.ListKeyPropertiesVersionsResponse) (out []versionInfo) {
			for _, it := range r.Value {
				if it != nil && it.KID != nil && it.Attributes != nil {
					out = append(out, newVersionInfo(it.Attributes.Enabled, it.Attributes.Created, it.KID.Version()))
				}
			}
			return out
		})
	default:
		vs, err = listVersions(ctx, f, t.VaultName, name, typ, cl.c.NewListCertificatePropertiesVersionsPager(name, nil), func(r azcertificates.ListCertificatePropertiesVersionsResponse) (out []versionInfo) {
			for _, it := range r.Value {
				if it != nil && it.ID != nil && it.Attributes != nil {
					out = append(out, newVersionInfo(it.Attributes.Enabled, it.Attributes.Created, it.ID.Version()))
				}
			}
			return out
		})
	}
	if err != nil {
		return nil, err
	}
	sortNewestFirst(vs)
	var out []string
	for _, v := range vs {
		if v.enabled && v.version != "" {
			out = append(out, v.version)
		}
	}
	return out, nil
}

// sortNewestFirst orders a version listing newest first: by created,
// descending. Created has one-second resolution, so versions made in the same
// second tie; the listing order is then the only signal left, and of a tie
// the version listed later is taken as the newer (the emulator lists oldest
// first; for the real service an assumption: docs/provider.md says so and
// the aks scenarios space versions more than a second apart). A version
// without created sorts last.
func sortNewestFirst(vs []versionInfo) {
	for i := range vs {
		vs[i].pos = i
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if !vs[i].created.Equal(vs[j].created) {
			return vs[i].created.After(vs[j].created)
		}
		return vs[i].pos > vs[j].pos
	})
}

type versionInfo struct {
	pos     int
	version string
	enabled bool
	created time.Time
}

func newVersionInfo(enabled *bool, created *time.Time, version string) versionInfo {
	v := versionInfo{version: version, enabled: enabled == nil || *enabled}
	if created != nil {
		v.created = *created
	}
	return v
}

// listVersions pages through a version listing, recording each page as one
// Key Vault request.
func listVersions[R any](ctx context.Context, f *Fetcher, vault, name, typ string, p *runtime.Pager[R], items func(R) []versionInfo) ([]versionInfo, error) {
	var vs []versionInfo
	for p.More() {
		start := f.o.Now()
		r, err := p.NextPage(ctx)
		f.observe(start, vault, name, typ, err)
		if err != nil {
			return nil, err
		}
		vs = append(vs, items(r)...)
	}
	return vs, nil
}
