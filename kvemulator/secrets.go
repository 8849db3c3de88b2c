package kvemulator

import (
	"fmt"
	"net/http"
)

// Secrets data plane: set, get, update, list, versions, delete/recover/purge,
// backup/restore. Paging and the deleted-object views are shared with keys and
// certificates (paging.go, backup.go).

func init() {
	registerRoutes(
		Route{Method: "PUT", Path: "/secrets/{name}", Kind: KindSecret, Permission: "set", Op: "SetSecret", Handler: setSecret},
		Route{Method: "GET", Path: "/secrets/{name}/{$}", Kind: KindSecret, Permission: "get", Op: "GetSecret", Handler: getSecret},
		Route{Method: "GET", Path: "/secrets/{name}", Kind: KindSecret, Permission: "get", Op: "GetSecret", Handler: getSecret},
		Route{Method: "GET", Path: "/secrets/{name}/{version}", Kind: KindSecret, Permission: "get", Op: "GetSecret", Handler: getSecret},
		Route{Method: "PATCH", Path: "/secrets/{name}/{$}", Kind: KindSecret, Permission: "set", Op: "UpdateSecret", Handler: updateSecret},
		Route{Method: "PATCH", Path: "/secrets/{name}/{version}", Kind: KindSecret, Permission: "set", Op: "UpdateSecret", Handler: updateSecret},
		Route{Method: "GET", Path: "/secrets", Kind: KindSecret, Permission: "list", Op: "ListSecrets", Handler: listSecrets},
		Route{Method: "GET", Path: "/secrets/{name}/versions", Kind: KindSecret, Permission: "list", Op: "ListSecretVersions", Handler: listSecretVersions},
		Route{Method: "DELETE", Path: "/secrets/{name}", Kind: KindSecret, Permission: "delete", Op: "DeleteSecret", Handler: deleteSecret},
		Route{Method: "GET", Path: "/deletedsecrets", Kind: KindSecret, Permission: "list", Op: "ListDeletedSecrets", Handler: listDeletedSecrets},
		Route{Method: "GET", Path: "/deletedsecrets/{name}", Kind: KindSecret, Permission: "get", Op: "GetDeletedSecret", Handler: getDeletedSecret},
		Route{Method: "POST", Path: "/deletedsecrets/{name}/recover", Kind: KindSecret, Permission: "recover", Op: "RecoverDeletedSecret", Handler: recoverDeletedSecret},
		Route{Method: "DELETE", Path: "/deletedsecrets/{name}", Kind: KindSecret, Permission: "purge", Op: "PurgeDeletedSecret", Handler: purgeDeletedSecret},
		Route{Method: "POST", Path: "/secrets/{name}/backup", Kind: KindSecret, Permission: "backup", Op: "BackupSecret", Handler: backupSecret},
		Route{Method: "POST", Path: "/secrets/restore", Kind: KindSecret, Permission: "restore", Op: "RestoreSecret", Handler: restoreSecret},
	)
}

// MaxSecretBytes is the service's limit on a secret value.
const MaxSecretBytes = 25 * 1024

func checkObjectName(name string) error {
	if !objectNameRE.MatchString(name) {
		return ErrBadParameter("The name %q is invalid: object names are 1-127 characters of letters, digits and dashes (^[0-9a-zA-Z-]{1,127}$).", truncate(name, 140))
	}
	return nil
}

func checkSecretValue(value string) error {
	if len(value) > MaxSecretBytes {
		return ErrBadParameter("The secret value is %d bytes; the service limit is %d bytes (25 KB).", len(value), MaxSecretBytes)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// secretBundle is the wire form of a secret version (SecretBundle/SecretItem).
type secretBundle struct {
	Value       *string           `json:"value,omitempty"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  Attributes        `json:"attributes"`
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
func (c *Call) renderSecret(obj *Object[SecretVersion], ver *SecretVersion, withValue, versioned bool) secretBundle {
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
	Attributes  *Attributes       `json:"attributes"`
}

func (r *setSecretRequest) validate() error {
	if r.Value == nil {
		return ErrBadParameter("The request body has no \"value\"; set it to the secret's value (an empty string is allowed).")
	}
	if err := checkSecretValue(*r.Value); err != nil {
		return err
	}
	return checkTags(r.Tags)
}

func checkTags(tags map[string]string) error {
	if len(tags) > 15 {
		return ErrBadParameter("%d tags given; an object may have at most 15 tags.", len(tags))
	}
	for k, v := range tags {
		if len(k) > 512 || len(v) > 256 {
			return ErrBadParameter("Tag %q is too long: names are limited to 512 characters and values to 256.", truncate(k, 64))
		}
	}
	return nil
}

func setSecret(c *Call) (int, any, error) {
	name := c.Name()
	if err := checkObjectName(name); err != nil {
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
	err := c.Update(func(v *Vault) error {
		obj := v.Secrets[name]
		if obj != nil && obj.Deleted != nil {
			return ErrDeletedButRecoverable(KindSecret, name)
		}
		if obj != nil && obj.Latest() != nil && obj.Latest().Managed {
			return ErrConflict("Secret %s is managed by certificate %s; change it through the certificate.", name, name)
		}
		if obj == nil {
			obj = &Object[SecretVersion]{Name: name}
			v.Secrets[name] = obj
		}
		ver := &SecretVersion{Version: NewVersionID(), Value: *req.Value, ContentType: req.ContentType, Tags: req.Tags, Attributes: v.newAttributes(req.Attributes, c.Now)}
		obj.Versions = append(obj.Versions, ver)
		out = c.renderSecret(obj, ver, true, true)
		return nil
	})
	return http.StatusOK, out, err
}

// usable checks that a version may be read: enabled and within nbf/exp.
func usable(kind, op string, a Attributes, now int64) error {
	if !a.IsEnabled() {
		return ErrDisabled(kind, op)
	}
	if a.NotBefore != nil && now < *a.NotBefore {
		return &APIError{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: kindTitle(kind) + "NotYetValid", Message: fmt.Sprintf("Operation %s is not allowed on a %s that is not yet valid.", op, kind)}
	}
	if a.Expires != nil && now > *a.Expires {
		return &APIError{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: kindTitle(kind) + "Expired", Message: fmt.Sprintf("Operation %s is not allowed on an expired %s.", op, kind)}
	}
	return nil
}

func getSecret(c *Call) (int, any, error) {
	name, version := c.Name(), c.VersionParam()
	var out secretBundle
	err := c.View(func(v *Vault) error {
		obj := v.Secrets[name]
		if !obj.Live() {
			return ErrNotFound(KindSecret, name, version)
		}
		ver := obj.Version(version)
		if ver == nil {
			return ErrNotFound(KindSecret, name, version)
		}
		// Only "enabled" gates a secret read: the service documents that get
		// works outside the nbf/exp window (for tests and recovery), unlike
		// key operations.
		if !ver.Attributes.IsEnabled() {
			return ErrDisabled(KindSecret, "get")
		}
		out = c.renderSecret(obj, ver, true, true)
		return nil
	})
	return http.StatusOK, out, err
}

type updateSecretRequest struct {
	ContentType *string            `json:"contentType"`
	Tags        *map[string]string `json:"tags"`
	Attributes  *Attributes        `json:"attributes"`
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
	err := c.Update(func(v *Vault) error {
		obj := v.Secrets[name]
		if !obj.Live() {
			return ErrNotFound(KindSecret, name, version)
		}
		ver := obj.Version(version)
		if ver == nil {
			return ErrNotFound(KindSecret, name, version)
		}
		if req.ContentType != nil {
			ver.ContentType = *req.ContentType
		}
		if req.Tags != nil {
			ver.Tags = *req.Tags
		}
		ver.Attributes.patch(req.Attributes, c.Now)
		out = c.renderSecret(obj, ver, false, true)
		return nil
	})
	return http.StatusOK, out, err
}

func secretsOf(v *Vault) map[string]*Object[SecretVersion] { return v.Secrets }

func listSecrets(c *Call) (int, any, error) {
	return listObjects(c, secretsOf, (*Object[SecretVersion]).Live, func(obj *Object[SecretVersion]) any {
		return c.renderSecret(obj, obj.Latest(), false, false)
	})
}

func listSecretVersions(c *Call) (int, any, error) {
	return listVersions(c, KindSecret, secretsOf, func(obj *Object[SecretVersion], ver *SecretVersion) any {
		return c.renderSecret(obj, ver, false, true)
	})
}

func deleteSecret(c *Call) (int, any, error) {
	name := c.Name()
	var out secretBundle
	err := c.Update(func(v *Vault) error {
		obj := v.Secrets[name]
		if !obj.Live() {
			return ErrNotFound(KindSecret, name, "")
		}
		if obj.Latest().Managed {
			return ErrConflict("Secret %s backs certificate %s; delete the certificate instead.", name, name)
		}
		obj.Deleted = v.softDelete(c.Now)
		out = c.renderSecret(obj, obj.Latest(), false, false)
		return nil
	})
	return http.StatusOK, out, err
}

func listDeletedSecrets(c *Call) (int, any, error) {
	return listObjects(c, secretsOf, func(obj *Object[SecretVersion]) bool { return obj.Deleted != nil }, func(obj *Object[SecretVersion]) any {
		return c.renderSecret(obj, obj.Latest(), false, false)
	})
}

func getDeletedSecret(c *Call) (int, any, error) {
	name := c.Name()
	var out secretBundle
	err := c.View(func(v *Vault) error {
		obj := v.Secrets[name]
		if obj == nil || obj.Deleted == nil {
			return ErrDeletedNotFound(KindSecret, name)
		}
		out = c.renderSecret(obj, obj.Latest(), false, false)
		return nil
	})
	return http.StatusOK, out, err
}

func recoverDeletedSecret(c *Call) (int, any, error) {
	name := c.Name()
	var out secretBundle
	err := c.Update(func(v *Vault) error {
		obj := v.Secrets[name]
		if obj == nil || obj.Deleted == nil {
			return ErrDeletedNotFound(KindSecret, name)
		}
		obj.Deleted = nil
		out = c.renderSecret(obj, obj.Latest(), false, true)
		return nil
	})
	return http.StatusOK, out, err
}

func purgeDeletedSecret(c *Call) (int, any, error) {
	name := c.Name()
	err := c.Update(func(v *Vault) error {
		obj := v.Secrets[name]
		if obj == nil || obj.Deleted == nil {
			return ErrDeletedNotFound(KindSecret, name)
		}
		if v.PurgeProtection {
			return &APIError{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: "PurgeProtectionEnabled", Message: "Operation purge is not allowed: the vault has purge protection enabled; the secret is purged when its retention ends."}
		}
		delete(v.Secrets, name)
		return nil
	})
	return http.StatusNoContent, nil, err
}

func backupSecret(c *Call) (int, any, error) {
	name := c.Name()
	var blob string
	err := c.View(func(v *Vault) error {
		obj := v.Secrets[name]
		if !obj.Live() {
			return ErrNotFound(KindSecret, name, "")
		}
		var err error
		blob, err = c.srv.sealBackup(KindSecret, v.TenantID, obj)
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
	var obj Object[SecretVersion]
	if err := c.srv.openBackup(KindSecret, c.Server().store.vaultTenant(c.Vault), req.Value, &obj); err != nil {
		return 0, nil, err
	}
	var out secretBundle
	err := c.Update(func(v *Vault) error {
		if cur := v.Secrets[canonicalIn(v.Secrets, obj.Name)]; cur != nil {
			if cur.Deleted != nil {
				return ErrDeletedButRecoverable(KindSecret, obj.Name)
			}
			return ErrConflict("Secret %s already exists; delete and purge it before restoring a backup of it.", obj.Name)
		}
		obj.Deleted = nil
		v.Secrets[obj.Name] = &obj
		out = c.renderSecret(&obj, obj.Latest(), false, true)
		return nil
	})
	return http.StatusOK, out, err
}
