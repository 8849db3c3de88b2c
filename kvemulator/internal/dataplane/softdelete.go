package dataplane

import (
	"net/http"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// softDelete is the delete/get-deleted/recover/purge handling that secrets and keys share.
// Certificates recover and purge their key and secret with them, so they have their own.
type softDelete[V any] struct {
	kind string
	pick func(*store.Vault) map[string]*store.Object[V]
	// managed reports a version backing a certificate: its object is deleted, recovered and
	// purged only through the certificate (409 here).
	managed func(*V) bool
	// render is the answer of delete and get-deleted, and of recover (recovered=true).
	render func(c *Call, obj *store.Object[V], recovered bool) (any, error)
}

var (
	secretDeletes = softDelete[store.SecretVersion]{
		kind: store.KindSecret, pick: secretsOf,
		managed: func(v *store.SecretVersion) bool { return v.Managed },
		render: func(c *Call, obj *store.Object[store.SecretVersion], recovered bool) (any, error) {
			return c.renderSecret(obj, obj.Latest(), false, recovered), nil
		},
	}
	keyDeletes = softDelete[store.KeyVersion]{
		kind: store.KindKey, pick: keysOf,
		managed: func(v *store.KeyVersion) bool { return v.Managed },
		render: func(c *Call, obj *store.Object[store.KeyVersion], _ bool) (any, error) {
			return c.renderKey(obj, obj.Latest(), true)
		},
	}
)

func keysOf(v *store.Vault) map[string]*store.Object[store.KeyVersion] { return v.Keys }

func (k softDelete[V]) delete(c *Call) (int, any, error) {
	name := c.Name()
	var out any
	err := c.Update(func(v *store.Vault) error {
		obj := k.pick(v)[name]
		if !obj.Live() {
			return kverr.ErrNotFound(k.kind, name, "")
		}
		if k.managed(obj.Latest()) {
			return kverr.ErrConflict("%s %s backs certificate %s; delete the certificate instead.", kverr.KindTitle(k.kind), name, name)
		}
		obj.Deleted = v.SoftDelete(c.Now)
		var err error
		out, err = k.render(c, obj, false)
		return err
	})
	return http.StatusOK, out, err
}

// deleted finds a soft-deleted object that does not back a certificate.
func (k softDelete[V]) deleted(v *store.Vault, name string) (*store.Object[V], error) {
	obj := k.pick(v)[name]
	if obj == nil || obj.Deleted == nil {
		return nil, kverr.ErrDeletedNotFound(k.kind, name)
	}
	if k.managed(obj.Latest()) {
		return nil, kverr.ErrConflict("%s %s backs certificate %s; recover or purge the certificate instead.", kverr.KindTitle(k.kind), name, name)
	}
	return obj, nil
}

func (k softDelete[V]) get(c *Call) (int, any, error) {
	name := c.Name()
	var out any
	err := c.View(func(v *store.Vault) error {
		obj := k.pick(v)[name]
		if obj == nil || obj.Deleted == nil {
			return kverr.ErrDeletedNotFound(k.kind, name)
		}
		var err error
		out, err = k.render(c, obj, false)
		return err
	})
	return http.StatusOK, out, err
}

func (k softDelete[V]) recover(c *Call) (int, any, error) {
	name := c.Name()
	var out any
	err := c.Update(func(v *store.Vault) error {
		obj, err := k.deleted(v, name)
		if err != nil {
			return err
		}
		obj.Deleted = nil
		out, err = k.render(c, obj, true)
		return err
	})
	return http.StatusOK, out, err
}

func (k softDelete[V]) purge(c *Call) (int, any, error) {
	name := c.Name()
	err := c.Update(func(v *store.Vault) error {
		if _, err := k.deleted(v, name); err != nil {
			return err
		}
		if v.PurgeProtection {
			return errPurgeProtected(k.kind)
		}
		delete(k.pick(v), name)
		return nil
	})
	return http.StatusNoContent, nil, err
}

// errPurgeProtected is the 403 for purging in a vault with purge protection.
func errPurgeProtected(kind string) *kverr.APIError {
	return &kverr.APIError{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: "PurgeProtectionEnabled",
		Message: "Operation purge is not allowed: the vault has purge protection enabled; the " + kind + " is purged when its retention ends."}
}
