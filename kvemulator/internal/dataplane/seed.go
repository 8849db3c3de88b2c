package dataplane

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kvcsi/kvcsi/kvemulator/internal/seed"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

var (
	objectNameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)
	vaultNameRE  = regexp.MustCompile(`^[a-zA-Z][0-9a-zA-Z-]{1,22}[0-9a-zA-Z]$`)
	versionRE    = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// Build validates the seed and turns it into a State through the same code
// as the API. Every error names the entry and the field.
func Build(sd *seed.Seed, now time.Time) (*store.State, error) {
	b := &builder{st: store.NewState(), now: now, byName: map[string]*store.Identity{}}
	if err := b.tenants(sd.Tenants); err != nil {
		return nil, err
	}
	for i := range sd.Identities {
		if err := b.identity(i, sd.Identities[i]); err != nil {
			return nil, err
		}
	}
	for i, pi := range sd.PodIdentities {
		if pi.Namespace == "" || pi.Pod == "" || b.byName[pi.Identity] == nil {
			return nil, fmt.Errorf("seed podIdentities[%d]: namespace, pod and identity (a declared identity name) are required", i)
		}
		b.st.PodIdentities = append(b.st.PodIdentities, pi)
	}
	for i, vs := range sd.Vaults {
		if err := b.vault(i, vs); err != nil {
			return nil, err
		}
	}
	return b.st, nil
}

// builder is the state a seed is being built into.
type builder struct {
	st     *store.State
	now    time.Time
	byName map[string]*store.Identity
}

func (b *builder) tenants(ts []store.Tenant) error {
	b.st.Tenants = append(b.st.Tenants, ts...)
	for i, t := range b.st.Tenants {
		if _, err := uuid.Parse(t.ID); err != nil {
			return fmt.Errorf("seed tenants[%d].id %q is not a GUID", i, t.ID)
		}
	}
	if len(b.st.Tenants) == 0 {
		b.st.Tenants = []store.Tenant{{ID: store.DefaultTenantID, Name: "default"}}
	}
	return nil
}

// tenant resolves a declared tenant id; "" is the first tenant.
func (b *builder) tenant(id string) (string, bool) {
	if id == "" {
		return b.st.Tenants[0].ID, true
	}
	for _, t := range b.st.Tenants {
		if strings.EqualFold(t.ID, id) {
			return id, true
		}
	}
	return "", false
}

func (b *builder) identity(i int, id store.Identity) error {
	where := fmt.Sprintf("seed identities[%d] (%s)", i, id.Name)
	if id.Name == "" {
		return fmt.Errorf("seed identities[%d].name is empty; give every identity a name", i)
	}
	if b.byName[id.Name] != nil {
		return fmt.Errorf("%s: name is used twice", where)
	}
	switch id.Type {
	case "":
		id.Type = store.IdentityServicePrincipal
	case store.IdentityServicePrincipal, store.IdentityManaged:
	default:
		return fmt.Errorf("%s: type %q is not %q or %q", where, id.Type, store.IdentityServicePrincipal, store.IdentityManaged)
	}
	tenant, ok := b.tenant(id.TenantID)
	if !ok {
		return fmt.Errorf("%s: tenantId %s is not declared under \"tenants\"", where, id.TenantID)
	}
	id.TenantID = tenant
	if id.ClientID == "" {
		id.ClientID = uuid.NewString()
	}
	if id.ObjectID == "" {
		id.ObjectID = uuid.NewString()
	}
	if id.Type == store.IdentityServicePrincipal && (id.ResourceID != "" || id.Default) {
		return fmt.Errorf("%s: resourceId and default are for managed identities only", where)
	}
	if id.Type == store.IdentityManaged && len(id.Secrets) > 0 {
		return fmt.Errorf("%s: a managed identity has no client secrets; remove its \"secrets\"", where)
	}
	for j, fc := range id.FederatedCredentials {
		if fc.Subject == "" {
			return fmt.Errorf("%s federatedCredentials[%d].subject is empty; use system:serviceaccount:<namespace>:<name>", where, j)
		}
	}
	b.st.Identities = append(b.st.Identities, &id)
	b.byName[id.Name] = &id
	return nil
}

func (b *builder) vault(i int, vs seed.VaultSeed) error {
	where := fmt.Sprintf("seed vaults[%d] (%s)", i, vs.Name)
	if !vaultNameRE.MatchString(vs.Name) {
		return fmt.Errorf("%s: name must be 3-24 letters, digits and dashes, starting with a letter", where)
	}
	lname := strings.ToLower(vs.Name)
	if b.st.Vaults[lname] != nil {
		return fmt.Errorf("%s: vault declared twice", where)
	}
	tenant, ok := b.tenant(vs.Tenant)
	if !ok {
		return fmt.Errorf("%s: tenant %s is not declared under \"tenants\"", where, vs.Tenant)
	}
	v := store.NewVault(lname, tenant)
	if vs.SoftDeleteRetentionDays != 0 {
		if vs.SoftDeleteRetentionDays < 7 || vs.SoftDeleteRetentionDays > 90 {
			return fmt.Errorf("%s: softDeleteRetentionDays must be 7..90", where)
		}
		v.SoftDeleteRetentionDays = vs.SoftDeleteRetentionDays
	}
	v.PurgeProtection = vs.PurgeProtection
	if vs.Location != "" {
		v.Location = vs.Location
	}
	for j, ap := range vs.AccessPolicies {
		oid := ap.ObjectID
		if ap.Identity != "" {
			id := b.byName[ap.Identity]
			if id == nil {
				return fmt.Errorf("%s accessPolicies[%d]: identity %q is not declared under \"identities\"", where, j, ap.Identity)
			}
			oid = id.ObjectID
		}
		if oid == "" {
			return fmt.Errorf("%s accessPolicies[%d]: set identity (a name) or objectId", where, j)
		}
		v.AccessPolicies = append(v.AccessPolicies, store.AccessPolicy{ObjectID: oid, TenantID: tenant, Secrets: ap.Secrets, Keys: ap.Keys, Certificates: ap.Certificates})
	}
	if err := b.objects(where, v, vs); err != nil {
		return err
	}
	b.st.Vaults[lname] = v
	return nil
}

// objects seeds a vault's secrets, keys and certificates.
func (b *builder) objects(where string, v *store.Vault, vs seed.VaultSeed) error {
	for j, ss := range vs.Secrets {
		if err := seedSecret(v, ss, b.now); err != nil {
			return fmt.Errorf("%s secrets[%d] (%s): %v", where, j, ss.Name, err)
		}
	}
	for j, ks := range vs.Keys {
		if !objectNameRE.MatchString(ks.Name) || len(ks.Versions) == 0 {
			return fmt.Errorf("%s keys[%d]: name must match ^[0-9a-zA-Z-]{1,127}$ and versions must not be empty", where, j)
		}
		for k, kv := range ks.Versions {
			if err := seedKey(v, ks.Name, kv, b.now); err != nil {
				return fmt.Errorf("%s keys[%d] (%s) versions[%d]: %v", where, j, ks.Name, k, err)
			}
		}
	}
	for j, cs := range vs.Certificates {
		if !objectNameRE.MatchString(cs.Name) || len(cs.Versions) == 0 {
			return fmt.Errorf("%s certificates[%d]: name must match ^[0-9a-zA-Z-]{1,127}$ and versions must not be empty", where, j)
		}
		for k, cv := range cs.Versions {
			if err := seedCertificate(v, cs.Name, cv, b.now); err != nil {
				return fmt.Errorf("%s certificates[%d] (%s) versions[%d]: %v", where, j, cs.Name, k, err)
			}
		}
	}
	return nil
}

func seedSecret(v *store.Vault, ss seed.SecretSeed, now time.Time) error {
	if err := CheckObjectName(ss.Name); err != nil {
		return err
	}
	if len(ss.Versions) == 0 {
		return fmt.Errorf("versions is empty; give at least one value")
	}
	if v.Secrets[ss.Name] != nil {
		return fmt.Errorf("secret declared twice")
	}
	obj := &store.Object[store.SecretVersion]{Name: ss.Name}
	for k, sv := range ss.Versions {
		if err := CheckSecretValue(sv.Value); err != nil {
			return fmt.Errorf("versions[%d]: %v", k, err)
		}
		ver := sv.Version
		if ver == "" {
			ver = store.NewVersionID()
		} else if !versionRE.MatchString(ver) {
			return fmt.Errorf("versions[%d].version %q must be 32 lower-case hex digits (or left out)", k, ver)
		}
		// Older versions get older timestamps so "newest first" sorting is stable.
		at := now.Add(time.Duration(k-len(ss.Versions)+1) * time.Second)
		obj.Versions = append(obj.Versions, &store.SecretVersion{
			Version: ver, Value: sv.Value, ContentType: sv.ContentType, Tags: sv.Tags,
			Attributes: v.NewAttributes(&store.Attributes{Enabled: sv.Enabled, NotBefore: sv.NotBefore, Expires: sv.Expires}, at),
		})
	}
	v.Secrets[ss.Name] = obj
	return nil
}
