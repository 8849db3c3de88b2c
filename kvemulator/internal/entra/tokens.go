// Package entra is the emulator's Entra ID side: the login host (OIDC
// metadata, the token endpoint for client secrets and workload-identity
// assertions), the managed-identity endpoints (IMDS, App Service, NMI) and
// the access-token issuer the data plane verifies against.
package entra

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// issuer signs the access tokens the emulator hands out and verifies them on
// the data plane. Its key lives in the state or TLS directory when one is
// configured, so tokens survive a restart like the rest of the state.
type Issuer struct {
	key      *rsa.PrivateKey
	kid      string
	verified sync.Map // sha256(token) → AccessClaims
	cached   atomic.Int64
}

// AccessClaims are the claims of an emulator access token (a v1 Entra token
// as Key Vault receives it) that the data plane reads. Tokens carry only what
// Entra's do: which seeded identity a token belongs to is looked up by its
// oid and tid, not written into it.
type AccessClaims struct {
	TenantID string `json:"tid"`
	ObjectID string `json:"oid"`
	AppID    string `json:"appid"`
	IDType   string `json:"idtyp,omitempty"`
	Version  string `json:"ver,omitempty"`
	jwt.RegisteredClaims
}

const tokenKeyFile = "token-signing.key"

func NewIssuer(dir string) (*Issuer, error) {
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
			if err := store.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				return nil, fmt.Errorf("writing token signing key: %w", err)
			}
		}
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(der)
	return &Issuer{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:12])}, nil
}

// STSIssuer is the v1 issuer Key Vault sees for a tenant.
func STSIssuer(tenant string) string { return "https://sts.windows.net/" + tenant + "/" }

// issue signs an access token for identity and audience valid for ttl.
func (is *Issuer) Issue(id store.Identity, audience string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	exp := now.Add(ttl)
	// As Entra's v1 access tokens: aud a single string, ver "1.0", uti (not
	// jti) as the token's unique id, and no claim Entra does not send.
	claims := jwt.MapClaims{
		"aud":   audience,
		"iss":   STSIssuer(id.TenantID),
		"iat":   now.Unix(),
		"nbf":   now.Add(-5 * time.Minute).Unix(),
		"exp":   exp.Unix(),
		"appid": id.ClientID,
		"idtyp": "app",
		"oid":   id.ObjectID,
		"sub":   id.ObjectID,
		"tid":   id.TenantID,
		"uti":   store.NewVersionID(),
		"ver":   "1.0",
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = is.kid
	s, err := t.SignedString(is.key)
	return s, exp, err
}

// jwks is the public key set, served at the discovery keys endpoint.
func (is *Issuer) JWKS() map[string]any {
	pub := is.key.PublicKey
	return map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": is.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}
}

// verifiedCacheMax bounds the cache of verified tokens; it is cleared when full.
const verifiedCacheMax = 4096

// verify checks a token's signature and time claims. A token whose signature
// already verified is found in a cache keyed by its hash, so the RSA
// verification runs once per token rather than once per request; the expiry
// is still checked every time.
func (is *Issuer) Verify(tok string) (AccessClaims, error) {
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
	if err := numericTimes(tok); err != nil {
		return claims, err
	}
	if is.cached.Add(1) > verifiedCacheMax {
		is.verified.Clear()
		is.cached.Store(1)
	}
	is.verified.Store(key, claims)
	return claims, nil
}

// verifyServiceAccountToken checks a workload-identity assertion: a
// Kubernetes service-account JWT signed by one of the configured keys, with
// the configured issuer and the audience api://AzureADTokenExchange.
func (s *Service) verifyServiceAccountToken(assertion string) (*jwt.RegisteredClaims, error) {
	if len(s.SAKeys) == 0 {
		return nil, errors.New("the emulator has no service-account issuer keys; start it with Config.ServiceAccountKeys or --service-account-key-file")
	}
	var lastErr error
	for _, k := range s.SAKeys {
		var claims jwt.RegisteredClaims
		opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"}), jwt.WithAudience("api://AzureADTokenExchange"), jwt.WithExpirationRequired()}
		if s.SAIssuer != "" {
			opts = append(opts, jwt.WithIssuer(s.SAIssuer))
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

// ReadPublicKeys reads every public key (PUBLIC KEY, RSA PUBLIC KEY or
// CERTIFICATE blocks) from a PEM file: the service-account issuer keys.
func ReadPublicKeys(path string) ([]crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []crypto.PublicKey
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			keys = append(keys, k)
		case "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			keys = append(keys, k)
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			keys = append(keys, c.PublicKey)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block", path)
	}
	return keys, nil
}

// ErrTimeClaim is a time claim (exp, nbf, iat) that is not a JSON number: the
// JWT library would read "exp":"9999999999" as a time, Entra never writes it.
var ErrTimeClaim = errors.New("its exp, nbf and iat claims must be JSON numbers (seconds since 1970)")

// numericTimes checks the time claims of a token whose signature verified.
func numericTimes(tok string) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ErrTimeClaim
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ErrTimeClaim
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		return ErrTimeClaim
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, ok := raw[name]
		if !ok {
			continue
		}
		var n json.Number
		if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
			return ErrTimeClaim
		}
	}
	return nil
}
