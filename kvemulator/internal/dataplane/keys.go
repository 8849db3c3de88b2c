package dataplane

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/kvcrypto"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Keys data plane: create, import, get, update, list, versions, delete/recover/purge, backup/
// restore and rotate. The cryptographic operations are in keys_ops.go; the key material and
// its checks are kvcrypto's.

// keyBundle is the wire form of a key version (KeyBundle, KeyItem, DeletedKeyBundle).
type keyBundle struct {
	Key        *kvcrypto.JWK     `json:"key,omitempty"`
	Kid        string            `json:"kid,omitempty"` // list items carry kid instead of key
	Attributes store.Attributes  `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    bool              `json:"managed,omitempty"`
	// Deleted keys add these.
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        int64  `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate,omitempty"`
}

// parsedKeys caches decoded key material by the hash of its stored JWK: decoding validates
// the key (an RSA check costs far more than a hash), and versions never change their material.
var parsedKeys struct {
	sync.Mutex
	m map[[32]byte]*kvcrypto.Key
}

// keyOf decodes a version's key material with its current key_ops.
func keyOf(ver *store.KeyVersion) (*kvcrypto.Key, error) {
	sum := sha256.Sum256(ver.Key)
	parsedKeys.Lock()
	k := parsedKeys.m[sum]
	parsedKeys.Unlock()
	if k == nil {
		k = new(kvcrypto.Key)
		if err := json.Unmarshal(ver.Key, k); err != nil {
			return nil, err
		}
		parsedKeys.Lock()
		if parsedKeys.m == nil || len(parsedKeys.m) >= 4096 {
			parsedKeys.m = map[[32]byte]*kvcrypto.Key{}
		}
		parsedKeys.m[sum] = k
		parsedKeys.Unlock()
	}
	if ver.KeyOps != nil {
		return k.WithOps(ver.KeyOps)
	}
	return k, nil
}

// newKeyVersion stores key as a new version's material.
func newKeyVersion(key *kvcrypto.Key, attrs store.Attributes, tags map[string]string) (*store.KeyVersion, error) {
	raw, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	return &store.KeyVersion{Version: store.NewVersionID(), Key: raw, KeyOps: key.Ops(), Tags: tags, Attributes: attrs}, nil
}

// renderKey renders a version; full=false gives the list item (kid, no key).
func (c *Call) renderKey(obj *store.Object[store.KeyVersion], ver *store.KeyVersion, full bool) (keyBundle, error) {
	b := keyBundle{Attributes: ver.Attributes, Tags: ver.Tags, Managed: ver.Managed}
	kid := c.ID("keys", obj.Name, ver.Version)
	if full {
		k, err := keyOf(ver)
		if err != nil {
			return b, err
		}
		b.Key = k.PublicJWK(kid)
	} else {
		b.Kid = kid
	}
	if obj.Deleted != nil {
		b.RecoveryID = c.ID("deletedkeys", obj.Name, "")
		b.DeletedDate, b.ScheduledPurgeDate = obj.Deleted.DeletedDate, obj.Deleted.ScheduledPurgeDate
	}
	return b, nil
}

// cryptoError turns kvcrypto's caller mistakes into 400 BadParameter; anything else stays an
// internal error (logged, 500).
func cryptoError(err error) error {
	if e, ok := kvcrypto.AsError(err); ok {
		return kverr.ErrBadParameter("%s", e.Message)
	}
	return err
}

type createKeyRequest struct {
	Kty            string            `json:"kty"`
	KeySize        int               `json:"key_size"`
	PublicExponent int               `json:"public_exponent"`
	Curve          string            `json:"crv"`
	KeyOps         []string          `json:"key_ops"`
	Attributes     *store.Attributes `json:"attributes"`
	Tags           map[string]string `json:"tags"`
	ReleasePolicy  json.RawMessage   `json:"release_policy"`
}

func (r *createKeyRequest) tagList() map[string]string { return r.Tags }
func (r *importKeyRequest) tagList() map[string]string { return r.Tags }

// newObjectRequest is the body of a create or import: it carries the new version's tags.
type newObjectRequest interface{ tagList() map[string]string }

// decodeNew is the common start of create and import: the {name} is valid, the body decodes
// and its tags are within limits.
func (c *Call) decodeNew(req newObjectRequest) (string, error) {
	name := c.Name()
	if err := CheckObjectName(name); err != nil {
		return "", err
	}
	if err := c.Decode(req); err != nil {
		return "", err
	}
	return name, checkTags(req.tagList())
}

// checkKeyAttributes refuses what the emulator cannot honour: exportable keys need a release
// policy and secure key release, which it does not emulate.
func checkKeyAttributes(a *store.Attributes, releasePolicy json.RawMessage) error {
	if a != nil && a.Exportable != nil && *a.Exportable {
		return kverr.ErrBadParameter("attributes.exportable=true needs a release policy and secure key release, which this emulator does not support; leave exportable unset or false.")
	}
	if len(releasePolicy) > 0 && string(releasePolicy) != "null" {
		return kverr.ErrBadParameter("release_policy (secure key release) is not supported by this emulator; remove it.")
	}
	return nil
}

// keyAttributes stamps a new key version's attributes; keys report exportable=false.
func keyAttributes(v *store.Vault, in *store.Attributes, now time.Time) store.Attributes {
	a := v.NewAttributes(in, now)
	if a.Exportable == nil {
		f := false
		a.Exportable = &f
	}
	return a
}

// checkKeyNameFree refuses a name that is soft-deleted or backs a certificate.
func checkKeyNameFree(v *store.Vault, name string) error {
	obj := v.Keys[name]
	if obj != nil && obj.Deleted != nil {
		return kverr.ErrDeletedButRecoverable(store.KindKey, name)
	}
	if obj != nil && obj.Latest() != nil && obj.Latest().Managed {
		return kverr.ErrConflict("Key %s is managed by certificate %s; change it through the certificate.", name, name)
	}
	return nil
}

func createKey(c *Call) (int, any, error) {
	var req createKeyRequest
	name, err := c.decodeNew(&req)
	if err != nil {
		return 0, nil, err
	}
	if err := checkKeyAttributes(req.Attributes, req.ReleasePolicy); err != nil {
		return 0, nil, err
	}
	// Refuse a taken name before spending time on key generation.
	if err := c.View(func(v *store.Vault) error { return checkKeyNameFree(v, name) }); err != nil {
		return 0, nil, err
	}
	key, err := kvcrypto.Generate(kvcrypto.GenerateOptions{Kty: req.Kty, Size: req.KeySize, PublicExponent: req.PublicExponent, Curve: req.Curve, Ops: req.KeyOps})
	if err != nil {
		return 0, nil, cryptoError(err)
	}
	return c.addKeyVersion(name, key, req.Attributes, req.Tags)
}

// addKeyVersion stores key as the newest version of name and renders it.
func (c *Call) addKeyVersion(name string, key *kvcrypto.Key, attrs *store.Attributes, tags map[string]string) (int, any, error) {
	var out keyBundle
	err := c.Update(func(v *store.Vault) error {
		if err := checkKeyNameFree(v, name); err != nil {
			return err
		}
		ver, err := newKeyVersion(key, keyAttributes(v, attrs, c.Now), tags)
		if err != nil {
			return err
		}
		obj := v.Keys[name]
		if obj == nil {
			obj = &store.Object[store.KeyVersion]{Name: name}
			v.Keys[name] = obj
		}
		obj.Versions = append(obj.Versions, ver)
		out, err = c.renderKey(obj, ver, true)
		return err
	})
	return http.StatusOK, out, err
}

type importKeyRequest struct {
	Key           *kvcrypto.JWK     `json:"key"`
	HSM           bool              `json:"Hsm"`
	Attributes    *store.Attributes `json:"attributes"`
	Tags          map[string]string `json:"tags"`
	ReleasePolicy json.RawMessage   `json:"release_policy"`
}

func importKey(c *Call) (int, any, error) {
	var req importKeyRequest
	name, err := c.decodeNew(&req)
	if err != nil {
		return 0, nil, err
	}
	if err := checkKeyAttributes(req.Attributes, req.ReleasePolicy); err != nil {
		return 0, nil, err
	}
	key, err := kvcrypto.ImportJWK(req.Key, req.HSM)
	if err != nil {
		return 0, nil, cryptoError(err)
	}
	return c.addKeyVersion(name, key, req.Attributes, req.Tags)
}

// liveKeyVersion finds a readable version of a live key, or the service's error.
func liveKeyVersion(v *store.Vault, name, version string) (*store.Object[store.KeyVersion], *store.KeyVersion, error) {
	obj := v.Keys[name]
	if !obj.Live() {
		return nil, nil, kverr.ErrNotFound(store.KindKey, name, version)
	}
	ver := obj.Version(version)
	if ver == nil {
		return nil, nil, kverr.ErrNotFound(store.KindKey, name, version)
	}
	return obj, ver, nil
}

func getKey(c *Call) (int, any, error) {
	name, version := c.Name(), c.VersionParam()
	var out keyBundle
	err := c.View(func(v *store.Vault) error {
		obj, ver, err := liveKeyVersion(v, name, version)
		if err != nil {
			return err
		}
		out, err = c.renderKey(obj, ver, true)
		return err
	})
	return http.StatusOK, out, err
}

type updateKeyRequest struct {
	KeyOps        []string           `json:"key_ops"`
	Attributes    *store.Attributes  `json:"attributes"`
	Tags          *map[string]string `json:"tags"`
	ReleasePolicy json.RawMessage    `json:"release_policy"`
}

func updateKey(c *Call) (int, any, error) {
	name, version := c.Name(), c.VersionParam()
	var req updateKeyRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	if req.Tags != nil {
		if err := checkTags(*req.Tags); err != nil {
			return 0, nil, err
		}
	}
	if err := checkKeyAttributes(req.Attributes, req.ReleasePolicy); err != nil {
		return 0, nil, err
	}
	var out keyBundle
	err := c.Update(func(v *store.Vault) error {
		obj, ver, err := liveKeyVersion(v, name, version)
		if err != nil {
			return err
		}
		if ver.Managed {
			return kverr.ErrConflict("Key %s is managed by certificate %s; change it through the certificate.", name, name)
		}
		// Validate everything before changing anything.
		var ops []string
		if req.KeyOps != nil {
			k, err := keyOf(ver)
			if err != nil {
				return err
			}
			nk, err := k.WithOps(req.KeyOps)
			if err != nil {
				return cryptoError(err)
			}
			ops = nk.Ops()
		}
		if ops != nil {
			ver.KeyOps = ops
		}
		if req.Tags != nil {
			ver.Tags = *req.Tags
		}
		ver.Attributes.Patch(req.Attributes, c.Now)
		out, err = c.renderKey(obj, ver, true)
		return err
	})
	return http.StatusOK, out, err
}

func listKeys(c *Call) (int, any, error) {
	return c.listKeyItems((*store.Object[store.KeyVersion]).Live)
}

// listKeyItems lists the keys keep selects as items: kid without a version, no key material.
func (c *Call) listKeyItems(keep func(*store.Object[store.KeyVersion]) bool) (int, any, error) {
	return listObjects(c, keysOf, keep, func(obj *store.Object[store.KeyVersion]) any {
		b, _ := c.renderKey(obj, obj.Latest(), false)
		b.Kid = c.ID("keys", obj.Name, "")
		return b
	})
}

func listKeyVersions(c *Call) (int, any, error) {
	return listVersions(c, store.KindKey, keysOf, func(obj *store.Object[store.KeyVersion], ver *store.KeyVersion) any {
		b, _ := c.renderKey(obj, ver, false)
		return b
	})
}

func listDeletedKeys(c *Call) (int, any, error) {
	return c.listKeyItems(func(obj *store.Object[store.KeyVersion]) bool { return obj.Deleted != nil && !obj.Latest().Managed })
}

func backupKey(c *Call) (int, any, error) {
	name := c.Name()
	var blob string
	err := c.View(func(v *store.Vault) error {
		obj := v.Keys[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindKey, name, "")
		}
		if obj.Latest().Managed {
			return kverr.ErrConflict("Key %s backs certificate %s; back up the certificate instead.", name, name)
		}
		var err error
		blob, err = c.p.sealBackup(store.KindKey, v.TenantID, obj)
		return err
	})
	return http.StatusOK, map[string]string{"value": blob}, err
}

func restoreKey(c *Call) (int, any, error) {
	var req restoreRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	var obj store.Object[store.KeyVersion]
	if err := c.p.openBackup(store.KindKey, c.p.Store.VaultTenant(c.Vault), req.Value, &obj); err != nil {
		return 0, nil, err
	}
	if len(obj.Versions) == 0 {
		return 0, nil, kverr.ErrBadParameter("The key backup holds no versions.")
	}
	var out keyBundle
	err := c.Update(func(v *store.Vault) error {
		if cur := v.Keys[obj.Name]; cur != nil {
			if cur.Deleted != nil {
				return kverr.ErrDeletedButRecoverable(store.KindKey, obj.Name)
			}
			return kverr.ErrConflict("Key %s already exists; delete and purge it before restoring a backup of it.", obj.Name)
		}
		obj.Deleted = nil
		v.Keys[obj.Name] = &obj
		var err error
		out, err = c.renderKey(&obj, obj.Latest(), true)
		return err
	})
	return http.StatusOK, out, err
}

// rotateKey adds a version with a new key of the latest version's type, size or curve and
// operations, as the rotate operation does without a rotation policy's expiry.
func rotateKey(c *Call) (int, any, error) {
	name := c.Name()
	var opts kvcrypto.GenerateOptions
	var tags map[string]string
	err := c.View(func(v *store.Vault) error {
		obj := v.Keys[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindKey, name, "")
		}
		if err := checkKeyNameFree(v, name); err != nil {
			return err
		}
		k, err := keyOf(obj.Latest())
		if err != nil {
			return err
		}
		opts = kvcrypto.GenerateOptions{Kty: k.Kty(), Size: k.Size(), Curve: k.Curve(), Ops: k.Ops()}
		tags = obj.Latest().Tags
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	key, err := kvcrypto.Generate(opts)
	if err != nil {
		return 0, nil, cryptoError(err)
	}
	return c.addKeyVersion(name, key, nil, tags)
}
