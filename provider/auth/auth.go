// Package auth builds Azure credentials for the four identity modes and
// reuses them per (cloud, tenant, identity), so tokens are cached by the
// credential until they near expiry instead of being fetched on every Mount.
// No credential reads or writes the process environment.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"sync"
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
// share one credential (and so its access tokens), and anything fetched for
// one may be served to the other; different keys never share anything. A
// key is formed only from proof the identity provider checks byte for byte,
// never from claims read out of an unverified token:
//
//   - service principal: tenant, client id and client secret (Entra ID
//     checks the secret; the same client id with another secret is another
//     key, and the secret is only hashed into the key);
//   - workload identity: tenant, client id and the SHA-256 of the exact
//     service-account token bytes (Entra ID verifies that token's signature;
//     a token that merely copies another's issuer and subject is other bytes
//     and so gets its own credential, whose token request Entra ID refuses);
//   - VM managed identity: the user-assigned identity id (the node's IMDS is
//     the proof: every caller of the provider on the node reaches the same
//     IMDS with the same answer);
//   - pod identity: the pod's namespace, name and uid (NMI answers per pod);
//     the token NMI returns is added by Proof before anything is shared.
//
// It is a hash: it never contains a secret or a token.
func Key(m *params.Mount) string {
	id := m.Identity
	parts := []string{id.Mode.String(), m.Cloud.ActiveDirectoryEndpoint, m.TenantID}
	switch id.Mode {
	case params.ServicePrincipal:
		parts = append(parts, id.ClientID, id.ClientSecret)
	case params.WorkloadIdentity:
		parts = append(parts, id.ClientID, tokenHash(id.FederatedToken))
	case params.VMManagedIdentity:
		parts = append(parts, id.UserAssignedIdentityID)
	case params.PodIdentity:
		parts = append(parts, m.PodNamespace, m.PodName, m.PodUID)
	}
	return hashParts(parts...)
}

func hashParts(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tokenHash is the SHA-256 of a token's exact bytes: two requests share a
// workload identity credential only when they carry the same token.
func tokenHash(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// Proof completes a Mount's identity key with what the identity provider
// answered, where the key alone is not the proof. For pod identity it asks
// NMI for this pod's Key Vault token (NMI's answer is cached per pod by the
// credential, so this costs no extra NMI request) and folds the token's hash
// into the key: content is shared only between Mounts of the same pod that
// NMI gave the same token. For every other mode the key is returned as is.
// An NMI refusal is returned unchanged (an *NMIError).
func Proof(ctx context.Context, m *params.Mount, cred azcore.TokenCredential, key string) (string, error) {
	if m.Identity.Mode != params.PodIdentity {
		return key, nil
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{KeyVaultScope(m.Cloud)}})
	if err != nil {
		return "", err
	}
	return hashParts(key, tokenHash(tok.Token)), nil
}

// KeyVaultScope is the token scope Key Vault's challenge names for a cloud:
// https://<vault DNS suffix>/.default.
func KeyVaultScope(env cloudenv.Env) string {
	return "https://" + env.KeyVaultDNSSuffix + "/.default"
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
		// The credential is keyed by this token's bytes, so it only ever
		// presents this one token.
		tok := id.FederatedToken
		cred, err := azidentity.NewClientAssertionCredential(m.TenantID, id.ClientID, func(context.Context) (string, error) {
			return tok, nil
		}, &azidentity.ClientAssertionCredentialOptions{
			ClientOptions:            c.clientOptions(m.Cloud),
			DisableInstanceDiscovery: disableDiscovery,
		})
		if err != nil {
			return nil, err
		}
		return &entry{cred: cred}, nil
	case params.VMManagedIdentity:
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: c.opts.Transport}}
		if id.UserAssignedIdentityID != "" && !breakIgnoreUserAssignedIdentity {
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

// BreakIgnoreUserAssignedIdentityEnv, set to "1" in the provider's
// environment, breaks it on purpose: managed identity then asks IMDS for the
// node's default identity whatever userAssignedIdentityID says. Only the
// break-on-purpose test of scenarios/target/local sets it, to show that
// identity/user-assigned-managed-identity notices.
const BreakIgnoreUserAssignedIdentityEnv = "KVCSI_BREAK_IGNORE_USER_ASSIGNED_IDENTITY"

var breakIgnoreUserAssignedIdentity = os.Getenv(BreakIgnoreUserAssignedIdentityEnv) == "1"

func isPublicAuthority(ad string) bool {
	for _, h := range []string{"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.microsoftonline.de"} {
		if strings.Contains(ad, "://"+h) {
			return true
		}
	}
	return false
}
