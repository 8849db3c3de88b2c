// Package auth builds Azure credentials for the four identity modes and
// reuses them per (cloud, tenant, identity), so tokens are cached by the
// credential until they near expiry instead of being fetched on every Mount.
// No credential reads or writes the process environment.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/kvcsi/kvcsi/provider/cloudenv"
	"github.com/kvcsi/kvcsi/provider/params"
)

// Options are process-level settings shared by every credential.
type Options struct {
	// Transport carries every token request (TLS trust and name resolution
	// are configured on it by the caller).
	Transport policy.Transporter
	// NMIEndpoint is the pod identity NMI base URL, e.g. http://localhost:2579.
	NMIEndpoint string
	// IdleTTL drops credentials unused for this long; default 30m.
	IdleTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Credentials hands out reusable credentials.
type Credentials struct {
	opts Options
	mu   sync.Mutex
	m    map[string]*entry
}

type entry struct {
	cred     azcore.TokenCredential
	assert   *atomic.Value // workload identity: the newest service-account token
	lastUsed time.Time
}

// New creates a credential cache.
func New(o Options) *Credentials {
	if o.IdleTTL <= 0 {
		o.IdleTTL = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NMIEndpoint == "" {
		o.NMIEndpoint = "http://localhost:2579"
	}
	return &Credentials{opts: o, m: map[string]*entry{}}
}

// Key identifies who a Mount authenticates as. Two Mounts with equal keys
// would receive the same tokens, so anything fetched for one may be served
// to the other; different keys must never share fetched content. It is a
// hash: it never contains a secret.
func Key(m *params.Mount) string {
	id := m.Identity
	parts := []string{id.Mode.String(), m.Cloud.ActiveDirectoryEndpoint, m.TenantID}
	switch id.Mode {
	case params.ServicePrincipal:
		parts = append(parts, id.ClientID, id.ClientSecret)
	case params.WorkloadIdentity:
		parts = append(parts, id.ClientID, tokenSubject(id.FederatedToken))
	case params.VMManagedIdentity:
		parts = append(parts, id.UserAssignedIdentityID)
	case params.PodIdentity:
		parts = append(parts, m.PodNamespace, m.PodName)
	}
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tokenSubject returns the issuer and subject of a service-account JWT:
// Entra ID federation trusts (issuer, subject), so pods of one service account
// are one identity. The token comes from kubelet through the driver. An
// unparsable token is its own identity.
func tokenSubject(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) == 3 {
		if b, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			var c struct {
				Iss string `json:"iss"`
				Sub string `json:"sub"`
			}
			if json.Unmarshal(b, &c) == nil && c.Iss != "" && c.Sub != "" {
				return "sub\x00" + c.Iss + "\x00" + c.Sub
			}
		}
	}
	s := sha256.Sum256([]byte(tok))
	return "tok\x00" + hex.EncodeToString(s[:])
}

// Get returns the credential for a Mount and its identity key.
func (c *Credentials) Get(m *params.Mount) (azcore.TokenCredential, string, error) {
	key := Key(m)
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if now.Sub(e.lastUsed) > c.opts.IdleTTL {
			delete(c.m, k)
		}
	}
	if e, ok := c.m[key]; ok {
		e.lastUsed = now
		if e.assert != nil {
			e.assert.Store(m.Identity.FederatedToken)
		}
		return e.cred, key, nil
	}
	e, err := c.build(m)
	if err != nil {
		return nil, "", err
	}
	e.lastUsed = now
	c.m[key] = e
	return e.cred, key, nil
}

func (c *Credentials) clientOptions(env cloudenv.Env) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: env.ActiveDirectoryEndpoint, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: c.opts.Transport,
	}
}

func (c *Credentials) build(m *params.Mount) (*entry, error) {
	id := m.Identity
	// Instance discovery asks login.microsoftonline.com about the authority;
	// a private cloud's authority is unknown there.
	disableDiscovery := cloudenv.IsStack(m.Cloud.Name) || !isPublicAuthority(m.Cloud.ActiveDirectoryEndpoint)
	switch id.Mode {
	case params.ServicePrincipal:
		cred, err := azidentity.NewClientSecretCredential(m.TenantID, id.ClientID, id.ClientSecret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            c.clientOptions(m.Cloud),
			DisableInstanceDiscovery: disableDiscovery,
		})
		if err != nil {
			return nil, err
		}
		return &entry{cred: cred}, nil
	case params.WorkloadIdentity:
		v := &atomic.Value{}
		v.Store(id.FederatedToken)
		cred, err := azidentity.NewClientAssertionCredential(m.TenantID, id.ClientID, func(context.Context) (string, error) {
			return v.Load().(string), nil
		}, &azidentity.ClientAssertionCredentialOptions{
			ClientOptions:            c.clientOptions(m.Cloud),
			DisableInstanceDiscovery: disableDiscovery,
		})
		if err != nil {
			return nil, err
		}
		return &entry{cred: cred, assert: v}, nil
	case params.VMManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: c.opts.Transport}}
		if id.UserAssignedIdentityID != "" {
			o.ID = azidentity.ClientID(id.UserAssignedIdentityID)
		}
		cred, err := azidentity.NewManagedIdentityCredential(o)
		if err != nil {
			return nil, err
		}
		return &entry{cred: cred}, nil
	default:
		return &entry{cred: newNMICredential(c.opts.NMIEndpoint, m.PodNamespace, m.PodName, c.opts.Transport, c.opts.Now)}, nil
	}
}

func isPublicAuthority(ad string) bool {
	for _, h := range []string{"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.microsoftonline.de"} {
		if strings.Contains(ad, "://"+h) {
			return true
		}
	}
	return false
}
