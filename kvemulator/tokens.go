package kvemulator

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// issuer signs the access tokens the emulator hands out and verifies them on
// the data plane. Its key lives in the state or TLS directory when one is
// configured, so tokens survive a restart like the rest of the state.
type issuer struct {
	key      *rsa.PrivateKey
	kid      string
	verified sync.Map // sha256(token) → AccessClaims
	cached   atomic.Int64
}

// AccessClaims are the claims of an emulator access token (a v1 Entra token
// as Key Vault receives it).
type AccessClaims struct {
	TenantID string `json:"tid"`
	ObjectID string `json:"oid"`
	AppID    string `json:"appid"`
	IDType   string `json:"idtyp,omitempty"`
	Name     string `json:"kvemu_identity,omitempty"`
	jwt.RegisteredClaims
}

const tokenKeyFile = "token-signing.key"

func newIssuer(dir string) (*issuer, error) {
	var key *rsa.PrivateKey
	path := ""
	if dir != "" {
		path = filepath.Join(dir, tokenKeyFile)
		if b, err := os.ReadFile(path); err == nil {
			blk, _ := pem.Decode(b)
			if blk == nil {
				return nil, fmt.Errorf("%s holds no PEM block; delete it to generate a new token signing key", path)
			}
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w; delete it to generate a new token signing key", path, err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%s is not an RSA key; delete it to generate a new token signing key", path)
			}
			key = rk
		}
	}
	if key == nil {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		key = k
		if path != "" {
			der, _ := x509.MarshalPKCS8PrivateKey(k)
			if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				return nil, fmt.Errorf("writing token signing key: %w", err)
			}
		}
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(der)
	return &issuer{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:12])}, nil
}

// stsIssuer is the v1 issuer Key Vault sees for a tenant.
func stsIssuer(tenant string) string { return "https://sts.windows.net/" + tenant + "/" }

// issue signs an access token for identity and audience valid for ttl.
func (is *issuer) issue(id Identity, audience string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	exp := now.Add(ttl)
	claims := AccessClaims{
		TenantID: id.TenantID, ObjectID: id.ObjectID, AppID: id.ClientID, IDType: "app", Name: id.Name,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    stsIssuer(id.TenantID),
			Subject:   id.ObjectID,
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Minute)),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        NewVersionID(),
		},
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = is.kid
	s, err := t.SignedString(is.key)
	return s, exp, err
}

// jwks is the public key set, served at the discovery keys endpoint.
func (is *issuer) jwks() map[string]any {
	pub := is.key.PublicKey
	return map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": is.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}
}

// keyVaultAudiences are the audiences a vault accepts besides the resource of
// its own challenge: the public Key Vault resource (what clients configured
// for the public cloud ask for) and the Key Vault application id.
var keyVaultAudiences = []string{"https://vault.azure.net", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"}

func audienceOK(aud []string, addr vaultAddr) bool {
	host, _ := splitHostPort(strings.TrimPrefix(addr.resource, "https://"))
	want := append([]string{addr.resource, "https://" + host}, keyVaultAudiences...)
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

// verifiedCacheMax bounds the cache of verified tokens; it is cleared when full.
const verifiedCacheMax = 4096

// verify checks a token's signature and time claims. A token whose signature
// already verified is found in a cache keyed by its hash, so the RSA
// verification runs once per token rather than once per request; the expiry
// is still checked every time.
func (is *issuer) verify(tok string) (AccessClaims, error) {
	key := sha256.Sum256([]byte(tok))
	if c, ok := is.verified.Load(key); ok {
		claims := c.(AccessClaims)
		if claims.ExpiresAt == nil || !time.Now().Before(claims.ExpiresAt.Time) {
			return claims, jwt.ErrTokenExpired
		}
		return claims, nil
	}
	var claims AccessClaims
	_, err := jwt.ParseWithClaims(tok, &claims, func(t *jwt.Token) (any, error) {
		return &is.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithLeeway(0), jwt.WithExpirationRequired())
	if err != nil {
		return claims, err
	}
	if is.cached.Add(1) > verifiedCacheMax {
		is.verified.Clear()
		is.cached.Store(1)
	}
	is.verified.Store(key, claims)
	return claims, nil
}

// authenticate checks the bearer token: signature, expiry, audience and the
// vault's tenant. Every failure is a 401 with the challenge, as the service
// answers, so a client can fetch a fresh token.
func (s *Server) authenticate(r *http.Request, addr vaultAddr) (*Principal, *APIError) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, ErrMissingToken()
	}
	claims, err := s.tokens.verify(strings.TrimSpace(tok))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrUnauthorized("AKV10022: The access token has expired; get a new token from the token endpoint.")
	case err != nil:
		return nil, ErrUnauthorized("AKV10000: The access token could not be validated: its signature does not verify with this emulator's signing key, or it is malformed.")
	}
	if !audienceOK(claims.Audience, addr) {
		return nil, ErrUnauthorized(fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", addr.resource, strings.Join(claims.Audience, ",")))
	}
	if tenant := s.store.vaultTenant(addr.vault); !strings.EqualFold(claims.TenantID, tenant) {
		return nil, ErrUnauthorized(fmt.Sprintf("AKV10032: Invalid issuer. Expected one of %s, found %s.", stsIssuer(tenant), claims.Issuer))
	}
	return &Principal{TenantID: claims.TenantID, ObjectID: claims.ObjectID, AppID: claims.AppID, Issuer: claims.Issuer, Name: claims.Name}, nil
}

// verifyServiceAccountToken checks a workload-identity assertion: a
// Kubernetes service-account JWT signed by one of the configured keys, with
// the configured issuer and the audience api://AzureADTokenExchange.
func (s *Server) verifyServiceAccountToken(assertion string) (*jwt.RegisteredClaims, error) {
	if len(s.saKeys) == 0 {
		return nil, errors.New("the emulator has no service-account issuer keys; start it with Config.ServiceAccountKeys or --service-account-key-file")
	}
	var lastErr error
	for _, k := range s.saKeys {
		var claims jwt.RegisteredClaims
		opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"}), jwt.WithAudience("api://AzureADTokenExchange"), jwt.WithExpirationRequired()}
		if s.cfg.ServiceAccountIssuer != "" {
			opts = append(opts, jwt.WithIssuer(s.cfg.ServiceAccountIssuer))
		}
		_, err := jwt.ParseWithClaims(assertion, &claims, func(t *jwt.Token) (any, error) {
			switch k.(type) {
			case *rsa.PublicKey, *ecdsa.PublicKey:
				return k, nil
			}
			return nil, fmt.Errorf("unsupported service-account key type %T", k)
		}, opts...)
		if err == nil {
			return &claims, nil
		}
		lastErr = err
		if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			break
		}
	}
	return nil, lastErr
}
