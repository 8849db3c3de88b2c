package dataplane

import (
	"fmt"
	"net/http"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Secrets data plane: set, get, update, list, versions, delete/recover/purge,
// backup/restore. Paging and the deleted-object views are shared with keys and
// certificates (paging.go, backup.go).

// MaxSecretBytes is the service's limit on a secret value.
const MaxSecretBytes = 25 * 1024

func CheckObjectName(name string) error {
	if !objectNameRE.MatchString(name) {
		return kverr.ErrBadParameter("The name %q is invalid: object names are 1-127 characters of letters, digits and dashes (^[0-9a-zA-Z-]{1,127}$).", kverr.Truncate(name, 140))
	}
	return nil
}

func CheckSecretValue(value string) error {
	if len(value) > MaxSecretBytes {
		return kverr.ErrBadParameter("The secret value is %d bytes; the service limit is %d bytes (25 KB).", len(value), MaxSecretBytes)
	}
	return nil
}

// secretBundle is the wire form of a secret version (SecretBundle/SecretItem).
type secretBundle struct {
	Value       *string           `json:"value,omitempty"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  store.Attributes  `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	Kid         string            `json:"kid,omitempty"`
	Managed     bool              `json:"managed,omitempty"`
	// Deleted secrets add these.
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        int64  `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate,omitempty"`
}

// renderSecret renders a version; withValue is false for list items and
// deleted views.
func (c *Call) renderSecret(obj *store.Object[store.SecretVersion], ver *store.SecretVersion, withValue, versioned bool) secretBundle {
	b := secretBundle{ContentType: ver.ContentType, Attributes: ver.Attributes, Tags: ver.Tags, Managed: ver.Managed}
	if versioned {
		b.ID = c.ID("secrets", obj.Name, ver.Version)
	} else {
		b.ID = c.ID("secrets", obj.Name, "")
	}
	if withValue {
		v := ver.Value
		b.Value = &v
	}
	if ver.Managed {
		b.Kid = c.ID("keys", obj.Name, ver.Version)
	}
	if obj.Deleted != nil {
		b.RecoveryID = c.ID("deletedsecrets", obj.Name, "")
		b.DeletedDate, b.ScheduledPurgeDate = obj.Deleted.DeletedDate, obj.Deleted.ScheduledPurgeDate
	}
	return b
}

type setSecretRequest struct {
	Value       *string           `json:"value"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  *store.Attributes `json:"attributes"`
}

func (r *setSecretRequest) validate() error {
	if r.Value == nil {
		return kverr.ErrBadParameter("The request body has no \"value\"; set it to the secret's value (an empty string is allowed).")
	}
	if err := CheckSecretValue(*r.Value); err != nil {
		return err
	}
	return checkTags(r.Tags)
}

func checkTags(tags map[string]string) error {
	if len(tags) > 15 {
		return kverr.ErrBadParameter("%d tags given; an object may have at most 15 tags.", len(tags))
	}
	for k, v := range tags {
		if len(k) > 512 || len(v) > 256 {
			return kverr.ErrBadParameter("Tag %q is too long: names are limited to 512 characters and values to 256.", kverr.Truncate(k, 64))
		}
	}
	return nil
}

func setSecret(c *Call) (int, any, error) {
	name := c.Name()
	if err := CheckObjectName(name); err != nil {
		return 0, nil, err
	}
	var req setSecretRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	if err := req.validate(); err != nil {
		return 0, nil, err
	}
	var out secretBundle
	err := c.Update(func(v *store.Vault) error {
		obj := v.Secrets[name]
		if obj != nil && obj.Deleted != nil {
			return kverr.ErrDeletedButRecoverable(store.KindSecret, name)
		}
		if obj != nil && obj.Latest() != nil && obj.Latest().Managed {
			return kverr.ErrConflict("Secret %s is managed by certificate %s; change it through the certificate.", name, name)
		}
		if obj == nil {
			obj = &store.Object[store.SecretVersion]{Name: name}
			v.Secrets[name] = obj
		}
		ver := &store.SecretVersion{Version: store.NewVersionID(), Value: *req.Value, ContentType: req.ContentType, Tags: req.Tags, Attributes: v.NewAttributes(req.Attributes, c.Now)}
		obj.Versions = append(obj.Versions, ver)
		out = c.renderSecret(obj, ver, true, true)
		return nil
	})
	return http.StatusOK, out, err
}

// usable checks that a version may be read: enabled and within nbf/exp.
func usable(kind, op string, a store.Attributes, now int64) error {
	if !a.IsEnabled() {
		return kverr.ErrDisabled(kind, op)
	}
	if a.NotBefore != nil && now < *a.NotBefore {
		return &kverr.APIError{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: kverr.KindTitle(kind) + "NotYetValid", Message: fmt.Sprintf("Operation %s is not allowed on a %s that is not yet valid.", op, kind)}
	}
	if a.Expires != nil && now > *a.Expires {
		return &kverr.APIError{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: kverr.KindTitle(kind) + "Expired", Message: fmt.Sprintf("Operation %s is not allowed on an expired %s.", op, kind)}
	}
	return nil
}

func getSecret(c *Call) (int, any, error) {
	name, version := c.Name(), c.VersionParam()
	var out secretBundle
	err := c.View(func(v *store.Vault) error {
		obj := v.Secrets[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindSecret, name, version)
		}
		ver := obj.Version(version)
		if ver == nil {
			return kverr.ErrNotFound(store.KindSecret, name, version)
		}
		// Only "enabled" gates a secret read: the service documents that get
		// works outside the nbf/exp window (for tests and recovery), unlike
		// key operations.
		if !ver.Attributes.IsEnabled() {
			return kverr.ErrDisabled(store.KindSecret, "get")
		}
		out = c.renderSecret(obj, ver, true, true)
		return nil
	})
	return http.StatusOK, out, err
}

type updateSecretRequest struct {
	ContentType *string            `json:"contentType"`
	Tags        *map[string]string `json:"tags"`
	Attributes  *store.Attributes  `json:"attributes"`
}

func updateSecret(c *Call) (int, any, error) {
	name, version := c.Name(), c.VersionParam()
	var req updateSecretRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	if req.Tags != nil {
		if err := checkTags(*req.Tags); err != nil {
			return 0, nil, err
		}
	}
	var out secretBundle
	err := c.Update(func(v *store.Vault) error {
		obj := v.Secrets[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindSecret, name, version)
		}
		ver := obj.Version(version)
		if ver == nil {
			return kverr.ErrNotFound(store.KindSecret, name, version)
		}
		if ver.Managed {
			return kverr.ErrConflict("Secret %s is managed by certificate %s; change it through the certificate.", name, name)
		}
		if req.ContentType != nil {
			ver.ContentType = *req.ContentType
		}
		if req.Tags != nil {
			ver.Tags = *req.Tags
		}
		ver.Attributes.Patch(req.Attributes, c.Now)
		out = c.renderSecret(obj, ver, false, true)
		return nil
	})
	return http.StatusOK, out, err
}

func secretsOf(v *store.Vault) map[string]*store.Object[store.SecretVersion] { return v.Secrets }

func listSecrets(c *Call) (int, any, error) {
	return listObjects(c, secretsOf, (*store.Object[store.SecretVersion]).Live, func(obj *store.Object[store.SecretVersion]) any {
		return c.renderSecret(obj, obj.Latest(), false, false)
	})
}

func listSecretVersions(c *Call) (int, any, error) {
	return listVersions(c, store.KindSecret, secretsOf, func(obj *store.Object[store.SecretVersion], ver *store.SecretVersion) any {
		return c.renderSecret(obj, ver, false, true)
	})
}

func listDeletedSecrets(c *Call) (int, any, error) {
	return listObjects(c, secretsOf, func(obj *store.Object[store.SecretVersion]) bool { return obj.Deleted != nil }, func(obj *store.Object[store.SecretVersion]) any {
		return c.renderSecret(obj, obj.Latest(), false, false)
	})
}

func backupSecret(c *Call) (int, any, error) {
	name := c.Name()
	var blob string
	err := c.View(func(v *store.Vault) error {
		obj := v.Secrets[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindSecret, name, "")
		}
		var err error
		blob, err = c.p.sealBackup(store.KindSecret, v.TenantID, obj)
		return err
	})
	return http.StatusOK, map[string]string{"value": blob}, err
}

type restoreRequest struct {
	Value string `json:"value"`
}

func restoreSecret(c *Call) (int, any, error) {
	var req restoreRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	var obj store.Object[store.SecretVersion]
	if err := c.p.openBackup(store.KindSecret, c.p.Store.VaultTenant(c.Vault), req.Value, &obj); err != nil {
		return 0, nil, err
	}
	var out secretBundle
	err := c.Update(func(v *store.Vault) error {
		if cur := v.Secrets[store.CanonicalIn(v.Secrets, obj.Name)]; cur != nil {
			if cur.Deleted != nil {
				return kverr.ErrDeletedButRecoverable(store.KindSecret, obj.Name)
			}
			return kverr.ErrConflict("Secret %s already exists; delete and purge it before restoring a backup of it.", obj.Name)
		}
		obj.Deleted = nil
		v.Secrets[obj.Name] = &obj
		out = c.renderSecret(&obj, obj.Latest(), false, true)
		return nil
	})
	return http.StatusOK, out, err
}
