package dataplane

import (
	"net/http"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/kvcrypto"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// The key operations: sign/verify over a caller-computed digest, encrypt/decrypt and
// wrapKey/unwrapKey. Each needs an enabled, currently valid version whose key_ops permit it.

// keyOperationRequest is KeyOperationsParameters and KeySignParameters. The AES-GCM members
// (iv, aad, tag) belong to Managed HSM oct keys, which kvcrypto refuses by algorithm.
type keyOperationRequest struct {
	Alg   string          `json:"alg"`
	Value *kvcrypto.Bytes `json:"value"`
}

type keyOperationResult struct {
	Kid   string         `json:"kid"`
	Value kvcrypto.Bytes `json:"value"`
}

type verifyRequest struct {
	Alg       string          `json:"alg"`
	Digest    *kvcrypto.Bytes `json:"digest"`
	Signature *kvcrypto.Bytes `json:"value"`
}

// operableKey loads the version an operation runs on: live, usable and permitting op.
func (c *Call) operableKey(op string) (kid string, key *kvcrypto.Key, err error) {
	name, version := c.Name(), c.VersionParam()
	err = c.View(func(v *store.Vault) error {
		obj, ver, err := liveKeyVersion(v, name, version)
		if err != nil {
			return err
		}
		if err := usable(store.KindKey, op, ver.Attributes, c.Now.Unix()); err != nil {
			return err
		}
		key, err = keyOf(ver)
		if err != nil {
			return err
		}
		kid = c.ID("keys", obj.Name, ver.Version)
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	if !key.Permits(op) {
		return "", nil, &kverr.APIError{Status: http.StatusForbidden, Code: "Forbidden",
			Message: "Operation " + op + " is not allowed by the key's key_ops (" + strings.Join(key.Ops(), ", ") + "); update the key's key_ops to permit it."}
	}
	return kid, key, nil
}

func keyOperation(op string) func(c *Call) (int, any, error) {
	return func(c *Call) (int, any, error) {
		var req keyOperationRequest
		if err := c.Decode(&req); err != nil {
			return 0, nil, err
		}
		if req.Value == nil {
			return 0, nil, kverr.ErrBadParameter("The request body has no \"value\"; send the base64url %s input.", op)
		}
		kid, key, err := c.operableKey(op)
		if err != nil {
			return 0, nil, err
		}
		var out []byte
		switch op {
		case kvcrypto.OpSign:
			out, err = key.Sign(req.Alg, *req.Value)
		case kvcrypto.OpEncrypt:
			out, err = key.Encrypt(req.Alg, *req.Value)
		case kvcrypto.OpDecrypt:
			out, err = key.Decrypt(req.Alg, *req.Value)
		case kvcrypto.OpWrapKey:
			out, err = key.WrapKey(req.Alg, *req.Value)
		case kvcrypto.OpUnwrapKey:
			out, err = key.UnwrapKey(req.Alg, *req.Value)
		}
		if err != nil {
			return 0, nil, cryptoError(err)
		}
		return http.StatusOK, keyOperationResult{Kid: kid, Value: out}, nil
	}
}

func verifyKey(c *Call) (int, any, error) {
	var req verifyRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	if req.Digest == nil || req.Signature == nil {
		return 0, nil, kverr.ErrBadParameter("The request body needs \"digest\" (the hash of the data) and \"value\" (the signature), both base64url.")
	}
	_, key, err := c.operableKey(kvcrypto.OpVerify)
	if err != nil {
		return 0, nil, err
	}
	ok, err := key.Verify(req.Alg, *req.Digest, *req.Signature)
	if err != nil {
		return 0, nil, cryptoError(err)
	}
	return http.StatusOK, map[string]bool{"value": ok}, nil
}
