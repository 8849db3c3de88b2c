package dataplane

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/kvcrypto"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Certificates data plane: create (self-signed, 202 + pending operation), import (PFX/PEM),
// get, update, list, versions, policy, delete/recover/purge, backup/restore. Every
// certificate version V of N has keys/N/V and secrets/N/V, both Managed, created, deleted,
// recovered and purged together in one store update.

// certObjectExtra is Object[CertificateVersion].Extra: the policy and the last operation.
type certObjectExtra struct {
	Policy  *kvcrypto.Policy `json:"policy,omitempty"`
	Pending *certOperation   `json:"pending,omitempty"`
	// ReadyAt (unix ms): until then the completed operation still answers
	// inProgress (Plane.CertificateCreateDelay), so clients' pollers poll.
	ReadyAt int64 `json:"readyAt,omitempty"`
}

// certVersionExtra is CertificateVersion.Extra: the chain above the leaf (imports only).
type certVersionExtra struct {
	Chain [][]byte `json:"chain,omitempty"`
}

// certOperation is the wire form of a CertificateOperation, stored as is.
type certOperation struct {
	ID                    string                 `json:"id"`
	Issuer                *kvcrypto.IssuerParams `json:"issuer,omitempty"`
	CSR                   []byte                 `json:"csr,omitempty"`
	CancellationRequested bool                   `json:"cancellation_requested"`
	Status                string                 `json:"status"`
	StatusDetails         string                 `json:"status_details,omitempty"`
	Target                string                 `json:"target,omitempty"`
	RequestID             string                 `json:"request_id,omitempty"`
}

func objectExtra(obj *store.Object[store.CertificateVersion]) certObjectExtra {
	var x certObjectExtra
	if len(obj.Extra) > 0 {
		_ = json.Unmarshal(obj.Extra, &x)
	}
	return x
}

func setObjectExtra(obj *store.Object[store.CertificateVersion], x certObjectExtra) {
	obj.Extra, _ = json.Marshal(x)
}

// certBundle is the wire form of a certificate version (CertificateBundle, CertificateItem,
// DeletedCertificateBundle).
type certBundle struct {
	ID          string            `json:"id"`
	Kid         string            `json:"kid,omitempty"`
	Sid         string            `json:"sid,omitempty"`
	X5T         kvcrypto.Bytes    `json:"x5t,omitempty"`
	CER         []byte            `json:"cer,omitempty"` // standard base64, as the service sends it
	ContentType string            `json:"contentType,omitempty"`
	Attributes  store.Attributes  `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	Policy      *kvcrypto.Policy  `json:"policy,omitempty"`
	Pending     *struct {
		ID string `json:"id"`
	} `json:"pending,omitempty"`
	// Deleted certificates add these.
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        int64  `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate,omitempty"`
}

// renderCertificate renders a version; full=false gives the list item (id, x5t, attributes,
// tags; v is not read and may be nil); versioned=false leaves the version out of id (list of
// certificates).
func (c *Call) renderCertificate(v *store.Vault, obj *store.Object[store.CertificateVersion], ver *store.CertificateVersion, full, versioned bool) certBundle {
	sum := kvcrypto.Certificate{Chain: []*x509.Certificate{{Raw: ver.CER}}}
	b := certBundle{ID: c.ID("certificates", obj.Name, ""), X5T: sum.X5T(), Attributes: ver.Attributes, Tags: ver.Tags}
	if versioned {
		b.ID = c.ID("certificates", obj.Name, ver.Version)
	}
	if full {
		b.Kid = c.ID("keys", obj.Name, ver.Version)
		b.Sid = c.ID("secrets", obj.Name, ver.Version)
		b.CER = ver.CER
		if s := v.Secrets[obj.Name].Version(ver.Version); s != nil {
			b.ContentType = s.ContentType
		}
		b.Policy = c.renderPolicy(obj)
		if x := objectExtra(obj); x.Pending != nil {
			b.Pending = &struct {
				ID string `json:"id"`
			}{c.ID("certificates", obj.Name, "pending")}
		}
	}
	if obj.Deleted != nil {
		b.RecoveryID = c.ID("deletedcertificates", obj.Name, "")
		b.DeletedDate, b.ScheduledPurgeDate = obj.Deleted.DeletedDate, obj.Deleted.ScheduledPurgeDate
	}
	return b
}

func (c *Call) renderPolicy(obj *store.Object[store.CertificateVersion]) *kvcrypto.Policy {
	p := objectExtra(obj).Policy
	if p == nil {
		return nil
	}
	p.ID = c.ID("certificates", obj.Name, "policy")
	return p
}

func (c *Call) renderOperation(name string, op *certOperation) certOperation {
	out := *op
	out.ID = c.ID("certificates", name, "pending")
	if out.Status == "inProgress" {
		// Stored by an older emulator that completed the operation on its first poll.
		out.Status, out.StatusDetails = "completed", ""
	}
	if out.Status == "completed" {
		out.Target = c.ID("certificates", name, "")
	}
	return out
}

// checkCertificateNameFree refuses a soft-deleted certificate name, and a name taken by a key or
// secret that does not belong to a certificate (the service keeps the three in step).
func checkCertificateNameFree(v *store.Vault, name string) error {
	if obj := v.Certificates[name]; obj != nil && obj.Deleted != nil {
		return kverr.ErrDeletedButRecoverable(store.KindCertificate, name)
	}
	if k := v.Keys[name]; k != nil && (k.Latest() == nil || !k.Latest().Managed) {
		return kverr.ErrConflict("A key named %s exists; a certificate needs its name for its own key. Choose another certificate name or delete and purge the key.", name)
	}
	if s := v.Secrets[name]; s != nil && (s.Latest() == nil || !s.Latest().Managed) {
		return kverr.ErrConflict("A secret named %s exists; a certificate needs its name for its own secret. Choose another certificate name or delete and purge the secret.", name)
	}
	return nil
}

// certWrite is everything one certificate version adds to the store.
type certWrite struct {
	name        string
	cert        *kvcrypto.Certificate
	contentType string
	policy      *kvcrypto.Policy
	attrs       *store.Attributes
	tags        map[string]string
	op          *certOperation // nil for imports
}

// storeCertificate adds the certificate, key and secret versions with one version id.
func storeCertificate(v *store.Vault, w certWrite, now time.Time) (*store.Object[store.CertificateVersion], *store.CertificateVersion, error) {
	if err := checkCertificateNameFree(v, w.name); err != nil {
		return nil, nil, err
	}
	exportable := w.policy.KeyProps == nil || w.policy.KeyProps.Exportable == nil || *w.policy.KeyProps.Exportable
	value, err := w.cert.SecretValue(w.contentType, exportable)
	if err != nil {
		return nil, nil, cryptoError(err)
	}
	if err := CheckSecretValue(value); err != nil {
		return nil, nil, err
	}
	attrs := v.NewAttributes(w.attrs, now)
	leaf := w.cert.Leaf()
	nbf, exp := leaf.NotBefore.Unix(), leaf.NotAfter.Unix()
	attrs.NotBefore, attrs.Expires, attrs.Exportable = &nbf, &exp, nil
	version := store.NewVersionID()
	var extra certVersionExtra
	for _, c := range w.cert.Chain[1:] {
		extra.Chain = append(extra.Chain, c.Raw)
	}
	cv := &store.CertificateVersion{Version: version, CER: leaf.Raw, Tags: w.tags, Attributes: attrs}
	cv.Extra, _ = json.Marshal(extra)
	kv, err := newKeyVersion(w.cert.Key, attrs, nil)
	if err != nil {
		return nil, nil, err
	}
	kv.Version, kv.Managed = version, true
	sv := &store.SecretVersion{Version: version, Value: value, ContentType: w.contentType, Attributes: attrs, Managed: true}

	obj := v.Certificates[w.name]
	if obj == nil {
		obj = &store.Object[store.CertificateVersion]{Name: w.name}
		v.Certificates[w.name] = obj
	}
	obj.Versions = append(obj.Versions, cv)
	x := objectExtra(obj)
	x.Policy = w.policy
	if w.op != nil {
		x.Pending = w.op
	}
	setObjectExtra(obj, x)
	kobj := v.Keys[w.name]
	if kobj == nil {
		kobj = &store.Object[store.KeyVersion]{Name: w.name}
		v.Keys[w.name] = kobj
	}
	kobj.Versions = append(kobj.Versions, kv)
	sobj := v.Secrets[w.name]
	if sobj == nil {
		sobj = &store.Object[store.SecretVersion]{Name: w.name}
		v.Secrets[w.name] = sobj
	}
	sobj.Versions = append(sobj.Versions, sv)
	return obj, cv, nil
}

type createCertificateRequest struct {
	Policy     *kvcrypto.Policy  `json:"policy"`
	Attributes *store.Attributes `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

func createCertificate(c *Call) (int, any, error) {
	var req createCertificateRequest
	name, err := c.decodeNew(&req)
	if err != nil {
		return 0, nil, err
	}
	// Without a policy, a new version of an existing certificate reuses its policy.
	var reuse *kvcrypto.Key
	err = c.View(func(v *store.Vault) error {
		if err := checkCertificateNameFree(v, name); err != nil {
			return err
		}
		obj := v.Certificates[name]
		if req.Policy == nil && obj != nil {
			req.Policy = objectExtra(obj).Policy
			if req.Policy != nil && req.Policy.Issuer != nil && req.Policy.Issuer.Name == kvcrypto.IssuerUnknown {
				req.Policy.Issuer.Name = kvcrypto.IssuerSelf
			}
		}
		// A policy naming an issuer object needs that issuer in the vault.
		if req.Policy != nil && req.Policy.Issuer != nil {
			if n := req.Policy.Issuer.Name; n != "" && !strings.EqualFold(n, kvcrypto.IssuerSelf) && !strings.EqualFold(n, kvcrypto.IssuerUnknown) && !issuerExists(v, n) {
				return kverr.ErrBadParameter("Issuer not found: the policy names issuer '%s', which this vault does not have; create it with SetCertificateIssuer, or use Self or Unknown.", kverr.Truncate(n, 130))
			}
		}
		if req.Policy != nil && req.Policy.KeyProps != nil && req.Policy.KeyProps.ReuseKey != nil && *req.Policy.KeyProps.ReuseKey && obj != nil {
			if kobj := v.Keys[name]; kobj != nil && kobj.Latest() != nil {
				k, err := keyOf(kobj.Latest())
				if err != nil {
					return err
				}
				reuse = k
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if externalIssuer(req.Policy) {
		return createPending(c, name, &req)
	}
	if req.Policy == nil {
		return 0, nil, kverr.ErrBadParameter("The request body has no \"policy\"; a new certificate needs a policy with at least x509_props.subject and issuer.name \"Self\".")
	}
	policy := req.Policy
	if err := policy.Normalize(); err != nil {
		return 0, nil, cryptoError(err)
	}
	key := reuse
	if key == nil || key.Kty() != policy.KeyProps.Kty || key.Size() != policy.KeyProps.KeySize || key.Curve() != policy.KeyProps.Curve {
		if key, err = kvcrypto.Generate(policy.KeyOptions()); err != nil {
			return 0, nil, cryptoError(err)
		}
	}
	cert, err := kvcrypto.CreateSelfSigned(policy, key, c.Now)
	if err != nil {
		return 0, nil, cryptoError(err)
	}
	csr, err := kvcrypto.CSR(policy, key)
	if err != nil {
		return 0, nil, cryptoError(err)
	}
	now := c.Now.Unix()
	policy.ID = ""
	policy.Attributes = &kvcrypto.PolicyAttrs{Enabled: ptrTo(true), Created: now, Updated: now}
	// Stored completed: issuance is done. The create response alone reports inProgress.
	op := &certOperation{Issuer: &kvcrypto.IssuerParams{Name: policy.Issuer.Name}, CSR: csr, Status: "completed",
		RequestID: store.NewVersionID()}
	var out certOperation
	err = c.Update(func(v *store.Vault) error {
		obj, _, err := storeCertificate(v, certWrite{name: name, cert: cert, contentType: policy.SecretProps.ContentType, policy: policy, attrs: req.Attributes, tags: req.Tags, op: op}, c.Now)
		if err != nil {
			return err
		}
		x := objectExtra(obj)
		x.ReadyAt = 0
		if d := c.p.CertificateCreateDelay; d > 0 {
			x.ReadyAt = c.Now.Add(d).UnixMilli()
		}
		setObjectExtra(obj, x)
		out = c.renderOperation(name, op)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	out.Status, out.Target = "inProgress", ""
	out.StatusDetails = pendingDetails
	q := url.Values{"api-version": {c.APIVersion}, "request_id": {op.RequestID}}
	c.W.Header().Set("Location", c.ID("certificates", name, "pending")+"?"+q.Encode())
	return http.StatusAccepted, out, nil
}

func (r *createCertificateRequest) tagList() map[string]string { return r.Tags }
func (r *importCertificateRequest) tagList() map[string]string { return r.Tags }

func ptrTo[T any](v T) *T { return &v }

type importCertificateRequest struct {
	Value      string            `json:"value"`
	Password   string            `json:"pwd"`
	Policy     *kvcrypto.Policy  `json:"policy"`
	Attributes *store.Attributes `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

func importCertificate(c *Call) (int, any, error) {
	var req importCertificateRequest
	name, err := c.decodeNew(&req)
	if err != nil {
		return 0, nil, err
	}
	contentType := ""
	if req.Policy != nil && req.Policy.SecretProps != nil {
		contentType = req.Policy.SecretProps.ContentType
	}
	cert, contentType, err := kvcrypto.ImportCertificate(req.Value, req.Password, contentType)
	if err != nil {
		return 0, nil, cryptoError(err)
	}
	exportable := true
	if req.Policy != nil && req.Policy.KeyProps != nil && req.Policy.KeyProps.Exportable != nil {
		exportable = *req.Policy.KeyProps.Exportable
	}
	policy := kvcrypto.PolicyFor(cert, contentType, exportable)
	if req.Policy != nil && req.Policy.LifetimeActions != nil {
		policy.LifetimeActions = req.Policy.LifetimeActions
	}
	now := c.Now.Unix()
	policy.Attributes = &kvcrypto.PolicyAttrs{Enabled: ptrTo(true), Created: now, Updated: now}
	var out certBundle
	err = c.Update(func(v *store.Vault) error {
		obj, cv, err := storeCertificate(v, certWrite{name: name, cert: cert, contentType: contentType, policy: policy, attrs: req.Attributes, tags: req.Tags}, c.Now)
		if err != nil {
			return err
		}
		out = c.renderCertificate(v, obj, cv, true, true)
		return nil
	})
	return http.StatusOK, out, err
}

// liveCertificate finds a live certificate and one of its versions.
func liveCertificate(v *store.Vault, name, version string) (*store.Object[store.CertificateVersion], *store.CertificateVersion, error) {
	obj := v.Certificates[name]
	if !obj.Live() {
		return nil, nil, kverr.ErrNotFound(store.KindCertificate, name, version)
	}
	ver := obj.Version(version)
	if ver == nil {
		return nil, nil, kverr.ErrNotFound(store.KindCertificate, name, version)
	}
	return obj, ver, nil
}

func getCertificate(c *Call) (int, any, error) {
	name, version := c.Name(), c.VersionParam()
	var out certBundle
	err := c.View(func(v *store.Vault) error {
		obj, ver, err := liveCertificate(v, name, version)
		if err != nil {
			return err
		}
		out = c.renderCertificate(v, obj, ver, true, true)
		return nil
	})
	return http.StatusOK, out, err
}

type updateCertificateRequest struct {
	Policy     *kvcrypto.Policy   `json:"policy"`
	Attributes *store.Attributes  `json:"attributes"`
	Tags       *map[string]string `json:"tags"`
}

// updateCertificate changes a version's attributes and tags; enabling or disabling carries to
// its key and secret version, as the service does.
func updateCertificate(c *Call) (int, any, error) {
	name, version := c.Name(), c.VersionParam()
	var req updateCertificateRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	if req.Tags != nil {
		if err := checkTags(*req.Tags); err != nil {
			return 0, nil, err
		}
	}
	if req.Policy != nil {
		if err := mergePolicy(nil, req.Policy); err != nil {
			return 0, nil, err
		}
	}
	var out certBundle
	err := c.Update(func(v *store.Vault) error {
		obj, ver, err := liveCertificate(v, name, version)
		if err != nil {
			return err
		}
		if req.Policy != nil {
			x := objectExtra(obj)
			if err := mergePolicy(x.Policy, req.Policy); err != nil {
				return err
			}
			x.Policy.Attributes.Updated = c.Now.Unix()
			setObjectExtra(obj, x)
		}
		if req.Tags != nil {
			ver.Tags = *req.Tags
		}
		if a := req.Attributes; a != nil && a.Enabled != nil {
			ver.Attributes.Enabled = a.Enabled
			if k := v.Keys[name].Version(ver.Version); k != nil {
				k.Attributes.Enabled = a.Enabled
			}
			if s := v.Secrets[name].Version(ver.Version); s != nil {
				s.Attributes.Enabled = a.Enabled
			}
		}
		ver.Attributes.Updated = c.Now.Unix()
		out = c.renderCertificate(v, obj, ver, true, true)
		return nil
	})
	return http.StatusOK, out, err
}

// mergePolicy applies the set members of patch onto cur and validates the result; with cur
// nil it only validates patch on its own (before any lock is taken).
func mergePolicy(cur, patch *kvcrypto.Policy) error {
	base := kvcrypto.Policy{}
	if cur != nil {
		b, _ := json.Marshal(cur)
		_ = json.Unmarshal(b, &base)
	} else {
		base.X509Props = &kvcrypto.X509Props{Subject: "CN=placeholder"}
	}
	if patch.LifetimeActions != nil {
		// Replace, not merge: decoding into existing slice elements would keep their old members.
		base.LifetimeActions = nil
	}
	b, _ := json.Marshal(patch)
	_ = json.Unmarshal(b, &base)
	if base.Issuer != nil && base.Issuer.Name == kvcrypto.IssuerUnknown {
		base.Issuer.Name = ""
		defer func() { base.Issuer.Name = kvcrypto.IssuerUnknown }()
	}
	if err := base.Normalize(); err != nil {
		return cryptoError(err)
	}
	if cur != nil {
		if base.Issuer.Name == kvcrypto.IssuerSelf && cur.Issuer != nil && cur.Issuer.Name == kvcrypto.IssuerUnknown && (patch.Issuer == nil || patch.Issuer.Name == "") {
			base.Issuer.Name = kvcrypto.IssuerUnknown
		}
		attrs := cur.Attributes
		*cur = base
		if cur.Attributes == nil {
			cur.Attributes = attrs
		}
		if cur.Attributes == nil {
			cur.Attributes = &kvcrypto.PolicyAttrs{Enabled: ptrTo(true)}
		}
	}
	return nil
}

func getCertificatePolicy(c *Call) (int, any, error) {
	name := c.Name()
	var out *kvcrypto.Policy
	err := c.View(func(v *store.Vault) error {
		obj := v.Certificates[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindCertificate, name, "")
		}
		out = c.renderPolicy(obj)
		return nil
	})
	return http.StatusOK, out, err
}

func updateCertificatePolicy(c *Call) (int, any, error) {
	name := c.Name()
	var patch kvcrypto.Policy
	if err := c.Decode(&patch); err != nil {
		return 0, nil, err
	}
	if err := mergePolicy(nil, &patch); err != nil {
		return 0, nil, err
	}
	var out *kvcrypto.Policy
	err := c.Update(func(v *store.Vault) error {
		obj := v.Certificates[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindCertificate, name, "")
		}
		x := objectExtra(obj)
		if x.Policy == nil {
			x.Policy = &kvcrypto.Policy{}
		}
		if err := mergePolicy(x.Policy, &patch); err != nil {
			return err
		}
		x.Policy.Attributes.Updated = c.Now.Unix()
		setObjectExtra(obj, x)
		out = c.renderPolicy(obj)
		return nil
	})
	return http.StatusOK, out, err
}

// errNoOperation is the service's 404 for a certificate without a pending operation.
func errNoOperation(name string) *kverr.APIError {
	return &kverr.APIError{Status: http.StatusNotFound, Code: "PendingCertificateNotFound", Message: "Pending certificate not found: " + name}
}

// pendingOperation runs fn on the pending operation of a live certificate and renders the
// operation fn returns. With write, fn runs under the write lock and its change is stored.
func (c *Call) pendingOperation(write bool, fn func(x *certObjectExtra) *certOperation) (int, any, error) {
	name := c.Name()
	var out certOperation
	run := c.View
	if write {
		run = c.Update
	}
	err := run(func(v *store.Vault) error {
		obj := v.Certificates[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindCertificate, name, "")
		}
		x := objectExtra(obj)
		if x.Pending == nil {
			return errNoOperation(name)
		}
		out = c.renderOperation(name, fn(&x))
		if write {
			setObjectExtra(obj, x)
		}
		return nil
	})
	return http.StatusOK, out, err
}

// getCertificateOperation reads the operation without writing: self-signed issuance is done
// when create answers, so the stored operation is already completed (create alone reports
// inProgress, so pollers see both states without timing).
//
// Until ReadyAt (Plane.CertificateCreateDelay after create) it still answers
// inProgress, with Retry-After, so clients' pollers are exercised.
func getCertificateOperation(c *Call) (int, any, error) {
	if op, found, err := pendingOp(c, false, nil); found || err != nil {
		return http.StatusOK, op, err
	}
	var readyAt int64
	status, body, err := c.pendingOperation(false, func(x *certObjectExtra) *certOperation { readyAt = x.ReadyAt; return x.Pending })
	if op, ok := body.(certOperation); ok && err == nil && op.Status == "completed" && readyAt > c.Now.UnixMilli() {
		op.Status, op.Target, op.StatusDetails = "inProgress", "", pendingDetails
		wait := time.Duration(readyAt-c.Now.UnixMilli()) * time.Millisecond
		c.W.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		body = op
	}
	return status, body, err
}

const pendingDetails = "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later."

type cancelOperationRequest struct {
	CancellationRequested *bool `json:"cancellation_requested"`
}

// cancelCertificateOperation records the cancellation request. Self-signed issuance has
// already happened by then, so the operation stays completed, as the service's would.
func cancelCertificateOperation(c *Call) (int, any, error) {
	var req cancelOperationRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	if req.CancellationRequested == nil {
		return 0, nil, kverr.ErrBadParameter("The request body needs \"cancellation_requested\": true.")
	}
	if op, found, err := pendingOp(c, true, func(p *pendingCert) *pendingCert {
		p.Op.CancellationRequested = *req.CancellationRequested
		return p
	}); found || err != nil {
		return http.StatusOK, op, err
	}
	return c.pendingOperation(true, func(x *certObjectExtra) *certOperation {
		x.Pending.CancellationRequested = *req.CancellationRequested
		return x.Pending
	})
}

func deleteCertificateOperation(c *Call) (int, any, error) {
	if op, found, err := pendingOp(c, true, func(*pendingCert) *pendingCert { return nil }); found || err != nil {
		return http.StatusOK, op, err
	}
	return c.pendingOperation(true, func(x *certObjectExtra) *certOperation {
		op := x.Pending
		x.Pending = nil
		return op
	})
}

func certificatesOf(v *store.Vault) map[string]*store.Object[store.CertificateVersion] {
	return v.Certificates
}

// listCertificateItems lists the certificates keep selects as items (id without a version;
// an item needs no vault).
func (c *Call) listCertificateItems(keep func(*store.Object[store.CertificateVersion]) bool) (int, any, error) {
	return listObjects(c, certificatesOf, keep, func(obj *store.Object[store.CertificateVersion]) any {
		return c.renderCertificate(nil, obj, obj.Latest(), false, false)
	})
}

func listCertificates(c *Call) (int, any, error) {
	return c.listCertificateItems((*store.Object[store.CertificateVersion]).Live)
}

func listCertificateVersions(c *Call) (int, any, error) {
	return listVersions(c, store.KindCertificate, certificatesOf, func(obj *store.Object[store.CertificateVersion], ver *store.CertificateVersion) any {
		return c.renderCertificate(nil, obj, ver, false, true)
	})
}

// setCertificateDeleted soft-deletes (d != nil) or recovers (d == nil) the certificate with its
// key and secret.
func setCertificateDeleted(v *store.Vault, name string, d *store.Deletion) {
	v.Certificates[name].Deleted = d
	if k := v.Keys[name]; k != nil {
		k.Deleted = d
	}
	if s := v.Secrets[name]; s != nil {
		s.Deleted = d
	}
}

func deleteCertificate(c *Call) (int, any, error) {
	name := c.Name()
	var out certBundle
	err := c.Update(func(v *store.Vault) error {
		obj := v.Certificates[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindCertificate, name, "")
		}
		setCertificateDeleted(v, name, v.SoftDelete(c.Now))
		out = c.renderCertificate(v, obj, obj.Latest(), true, true)
		return nil
	})
	return http.StatusOK, out, err
}

func listDeletedCertificates(c *Call) (int, any, error) {
	return c.listCertificateItems(func(obj *store.Object[store.CertificateVersion]) bool { return obj.Deleted != nil })
}

func deletedCertificate(v *store.Vault, name string) (*store.Object[store.CertificateVersion], error) {
	obj := v.Certificates[name]
	if obj == nil || obj.Deleted == nil {
		return nil, kverr.ErrDeletedNotFound(store.KindCertificate, name)
	}
	return obj, nil
}

func getDeletedCertificate(c *Call) (int, any, error) {
	name := c.Name()
	var out certBundle
	err := c.View(func(v *store.Vault) error {
		obj, err := deletedCertificate(v, name)
		if err != nil {
			return err
		}
		out = c.renderCertificate(v, obj, obj.Latest(), true, true)
		return nil
	})
	return http.StatusOK, out, err
}

func recoverDeletedCertificate(c *Call) (int, any, error) {
	name := c.Name()
	var out certBundle
	err := c.Update(func(v *store.Vault) error {
		obj, err := deletedCertificate(v, name)
		if err != nil {
			return err
		}
		setCertificateDeleted(v, name, nil)
		out = c.renderCertificate(v, obj, obj.Latest(), true, true)
		return nil
	})
	return http.StatusOK, out, err
}

func purgeDeletedCertificate(c *Call) (int, any, error) {
	name := c.Name()
	err := c.Update(func(v *store.Vault) error {
		if _, err := deletedCertificate(v, name); err != nil {
			return err
		}
		if v.PurgeProtection {
			return errPurgeProtected(store.KindCertificate)
		}
		delete(v.Certificates, name)
		if k := v.Keys[name]; k != nil && k.Latest() != nil && k.Latest().Managed {
			delete(v.Keys, name)
		}
		if s := v.Secrets[name]; s != nil && s.Latest() != nil && s.Latest().Managed {
			delete(v.Secrets, name)
		}
		return nil
	})
	return http.StatusNoContent, nil, err
}

// certBackup is a certificate backup: the certificate with its key and secret.
type certBackup struct {
	Certificate *store.Object[store.CertificateVersion] `json:"certificate"`
	Key         *store.Object[store.KeyVersion]         `json:"key"`
	Secret      *store.Object[store.SecretVersion]      `json:"secret"`
}

func backupCertificate(c *Call) (int, any, error) {
	name := c.Name()
	var blob string
	err := c.View(func(v *store.Vault) error {
		obj := v.Certificates[name]
		if !obj.Live() {
			return kverr.ErrNotFound(store.KindCertificate, name, "")
		}
		var err error
		blob, err = c.p.sealBackup(store.KindCertificate, v.TenantID, certBackup{Certificate: obj, Key: v.Keys[name], Secret: v.Secrets[name]})
		return err
	})
	return http.StatusOK, map[string]string{"value": blob}, err
}

func restoreCertificate(c *Call) (int, any, error) {
	var req restoreRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	var b certBackup
	if err := c.p.openBackup(store.KindCertificate, c.p.Store.VaultTenant(c.Vault), req.Value, &b); err != nil {
		return 0, nil, err
	}
	if b.Certificate == nil || b.Key == nil || b.Secret == nil || len(b.Certificate.Versions) == 0 {
		return 0, nil, kverr.ErrBadParameter("The certificate backup is incomplete.")
	}
	name := b.Certificate.Name
	var out certBundle
	err := c.Update(func(v *store.Vault) error {
		if cur := v.Certificates[name]; cur != nil {
			if cur.Deleted != nil {
				return kverr.ErrDeletedButRecoverable(store.KindCertificate, name)
			}
			return kverr.ErrConflict("Certificate %s already exists; delete and purge it before restoring a backup of it.", name)
		}
		if v.Keys[name] != nil || v.Secrets[name] != nil {
			return kverr.ErrConflict("A key or secret named %s exists; delete and purge it before restoring certificate %s.", name, name)
		}
		b.Certificate.Deleted, b.Key.Deleted, b.Secret.Deleted = nil, nil, nil
		v.Certificates[name], v.Keys[name], v.Secrets[name] = b.Certificate, b.Key, b.Secret
		out = c.renderCertificate(v, b.Certificate, b.Certificate.Latest(), true, true)
		return nil
	})
	return http.StatusOK, out, err
}
