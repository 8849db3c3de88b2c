package kvcrypto

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Bytes is a byte string on the Key Vault wire: it marshals as base64url without padding, the
// way the service renders JWK members, signatures and ciphertexts, and it unmarshals any of the
// encodings clients send (base64url with or without padding, or standard base64).
type Bytes []byte

// MarshalJSON renders b as unpadded base64url.
func (b Bytes) MarshalJSON() ([]byte, error) {
	return json.Marshal(base64.RawURLEncoding.EncodeToString(b))
}

// UnmarshalJSON accepts unpadded or padded base64url and standard base64.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	out, err := DecodeBase64(s)
	if err != nil {
		return err
	}
	*b = out
	return nil
}

// DecodeBase64 decodes s as base64url (padded or not) or standard base64 (padded or not).
// Clients differ: the Go SDK sends unpadded base64url, others send standard base64.
func DecodeBase64(s string) ([]byte, error) {
	t := strings.TrimRight(s, "=")
	if strings.ContainsAny(t, "+/") {
		return base64.RawStdEncoding.DecodeString(t)
	}
	return base64.RawURLEncoding.DecodeString(t)
}
