package dataplane

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
)

// Backups are opaque like the service's: the object with every version,
// sealed with AES-GCM under a key derived from the emulator's signing key, so
// a blob restores into any vault of the same emulator (and after a restart
// with persistence) but cannot be read or forged by clients.

type backupEnvelope struct {
	Kind   string          `json:"kind"`
	Tenant string          `json:"tenant"`
	Object json.RawMessage `json:"object"`
}

func (s *Plane) backupAEAD() cipher.AEAD {
	der := x509.MarshalPKCS1PrivateKey(s.Tokens.Key())
	sum := sha256.Sum256(append([]byte("kvemulator backup v1\x00"), der...))
	blk, _ := aes.NewCipher(sum[:])
	aead, _ := cipher.NewGCM(blk)
	return aead
}

// sealBackup returns the base64url backup blob of obj.
func (s *Plane) sealBackup(kind, tenant string, obj any) (string, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	plain, _ := json.Marshal(backupEnvelope{Kind: kind, Tenant: tenant, Object: raw})
	aead := s.backupAEAD()
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(kind))), nil
}

// openBackup checks and decodes a blob of the given kind into obj.
func (s *Plane) openBackup(kind, tenant, blob string, obj any) error {
	b, err := base64.RawURLEncoding.DecodeString(blob)
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(blob)
	}
	aead := s.backupAEAD()
	if err != nil || len(b) < aead.NonceSize() {
		return kverr.ErrBadParameter("The backup blob in \"value\" is not base64url of a %s backup made by this emulator.", kind)
	}
	plain, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(kind))
	if err != nil {
		return kverr.ErrBadParameter("The backup blob in \"value\" is not a %s backup made by this emulator (or it was altered).", kind)
	}
	var env backupEnvelope
	if err := json.Unmarshal(plain, &env); err != nil || env.Kind != kind {
		return kverr.ErrBadParameter("The backup blob in \"value\" is not a %s backup.", kind)
	}
	if !strings.EqualFold(env.Tenant, tenant) {
		// As the service: a backup restores only within the tenant (subscription) it came from.
		return kverr.ErrBadParameter("The %s backup comes from a vault of tenant %s; it can be restored only into a vault of that tenant, not of %s.", kind, env.Tenant, tenant)
	}
	if err := json.Unmarshal(env.Object, obj); err != nil {
		return kverr.ErrBadParameter("The backup blob in \"value\" is damaged: %v", err)
	}
	return nil
}
