package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kvcsi/kvcsi/kvemulator/internal/entra"
	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// hostOnly drops the port of a host[:port].
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// keyVaultAudiences are the audiences a vault accepts besides the resource of
// its own challenge: the public Key Vault resource (what clients configured
// for the public cloud ask for) and the Key Vault application id.
var keyVaultAudiences = []string{"https://vault.azure.net", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"}

func audienceOK(aud []string, addr Addr) bool {
	host := hostOnly(strings.TrimPrefix(addr.Resource, "https://"))
	want := append([]string{addr.Resource, "https://" + host}, keyVaultAudiences...)
	for _, a := range aud {
		a = strings.TrimSuffix(a, "/")
		for _, w := range want {
			if strings.EqualFold(a, w) {
				return true
			}
		}
	}
	return false
}

// authenticate checks the bearer token: signature, expiry, audience and the
// vault's tenant. Every failure is a 401 with the challenge, as the service
// answers, so a client can fetch a fresh token.
func (s *Plane) authenticate(r *http.Request, addr Addr) (*Principal, *kverr.APIError) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, kverr.ErrMissingToken()
	}
	claims, err := s.Tokens.Verify(strings.TrimSpace(tok))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, kverr.ErrUnauthorized("AKV10022: The access token has expired; get a new token from the token endpoint.")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, kverr.ErrUnauthorized("AKV10022: The access token is not valid yet (its nbf is in the future); check the clocks, or get a new token.")
	case errors.Is(err, entra.ErrTimeClaim), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, kverr.ErrUnauthorized("AKV10000: The access token could not be validated: " + errText(err) + ".")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return nil, kverr.ErrUnauthorized("AKV10000: The access token could not be validated: its signature does not verify with this emulator's signing key.")
	case err != nil:
		return nil, kverr.ErrUnauthorized("AKV10000: The access token could not be validated: it is malformed (a JWT is three base64url parts, header.payload.signature).")
	}
	if want := entra.STSIssuer(claims.TenantID); !strings.EqualFold(claims.Issuer, want) {
		return nil, kverr.ErrUnauthorized(fmt.Sprintf("AKV10032: Invalid issuer. Expected %s, found %s.", want, kverr.Truncate(claims.Issuer, 100)))
	}
	if !audienceOK(claims.Audience, addr) {
		return nil, kverr.ErrUnauthorized(fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", addr.Resource, strings.Join(claims.Audience, ",")))
	}
	if tenant := s.Store.VaultTenant(addr.Vault); !strings.EqualFold(claims.TenantID, tenant) {
		return nil, kverr.ErrUnauthorized(fmt.Sprintf("AKV10032: Invalid issuer. Expected one of %s, found %s.", entra.STSIssuer(tenant), claims.Issuer))
	}
	p := &Principal{TenantID: claims.TenantID, ObjectID: claims.ObjectID, AppID: claims.AppID, Issuer: claims.Issuer}
	// The seed name (for counters) is bookkeeping kept here, not in the token.
	if id, ok := s.Store.IdentityBy(func(i *store.Identity) bool {
		return strings.EqualFold(i.ObjectID, claims.ObjectID) && strings.EqualFold(i.TenantID, claims.TenantID)
	}); ok {
		p.Name = id.Name
	}
	return p, nil
}

// authorize applies the vault's access policies, as the service does for
// vaults without RBAC: no matching permission is 403 Forbidden/AccessDenied.
func (s *Plane) authorize(vault string, p *Principal, rt *Route) *kverr.APIError {
	var allowed bool
	location := store.DefaultLocation
	_ = s.Store.ViewVault(vault, func(v *store.Vault) error {
		if v.Location != "" {
			location = v.Location
		}
		allowed = slices.ContainsFunc(v.Permissions(p.ObjectID, rt.Kind), func(x string) bool {
			return strings.EqualFold(x, rt.Permission) || strings.EqualFold(x, "all")
		})
		return nil
	})
	if !allowed {
		return kverr.ErrForbidden(p.AppID, p.ObjectID, p.Issuer, rt.Kind, rt.Permission, vault, location)
	}
	return nil
}

// errText names a claim problem without quoting the token.
func errText(err error) string {
	if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		return "it has no exp claim"
	}
	return err.Error()
}
