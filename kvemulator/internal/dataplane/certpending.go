package dataplane

import (
	"crypto/x509"
	"net/http"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/kvcrypto"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Certificates whose policy names issuer Unknown, or an issuer object of the
// vault (a CA provider), are not issued by the emulator: their operation
// stays inProgress with the CSR until POST /certificates/{name}/pending/merge
// brings the certificate signed elsewhere, as with the service. The pending
// request (policy, private key, CSR) lives in the vault's certificate
// settings until then; the certificate gets no version before the merge.

type pendingCert struct {
	Policy     *kvcrypto.Policy  `json:"policy"`
	Key        *kvcrypto.Key     `json:"key"`
	Op         certOperation     `json:"op"`
	Attributes *store.Attributes `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

const (
	unknownIssuerDetails = "Pending certificate created. Please Perform Merge to complete the request."
	issuerPendingDetails = "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later."
)

// externalIssuer reports whether a policy's issuer is not Self: Unknown or
// an issuer object.
func externalIssuer(p *kvcrypto.Policy) bool {
	return p != nil && p.Issuer != nil && p.Issuer.Name != "" && !strings.EqualFold(p.Issuer.Name, kvcrypto.IssuerSelf)
}

// createPending records a certificate request for an external issuer and
// answers its operation (202, inProgress, with the CSR).
func createPending(c *Call, name string, req *createCertificateRequest) (int, any, error) {
	policy := req.Policy
	issuer := policy.Issuer.Name
	if strings.EqualFold(issuer, kvcrypto.IssuerUnknown) {
		issuer = kvcrypto.IssuerUnknown
	}
	// Validate and fill the rest of the policy as for Self.
	policy.Issuer.Name = kvcrypto.IssuerSelf
	if err := policy.Normalize(); err != nil {
		return 0, nil, cryptoError(err)
	}
	policy.Issuer.Name = issuer
	key, err := kvcrypto.Generate(policy.KeyOptions())
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
	details := issuerPendingDetails
	if issuer == kvcrypto.IssuerUnknown {
		details = unknownIssuerDetails
	}
	p := pendingCert{Policy: policy, Key: key, Attributes: req.Attributes, Tags: req.Tags,
		Op: certOperation{Issuer: &kvcrypto.IssuerParams{Name: issuer}, CSR: csr, Status: "inProgress", StatusDetails: details, RequestID: store.NewVersionID()}}
	err = c.Update(func(v *store.Vault) error {
		if err := checkCertificateNameFree(v, name); err != nil {
			return err
		}
		s := settingsOf(v)
		if s.Pending == nil {
			s.Pending = map[string]*pendingCert{}
		}
		s.Pending[name] = &p
		setSettings(v, s)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	op := p.Op
	op.ID = c.ID("certificates", name, "pending")
	c.W.Header().Set("Location", op.ID+"?api-version="+c.APIVersion+"&request_id="+op.RequestID)
	return http.StatusAccepted, op, nil
}

// pendingOp answers the pending request's operation, if there is one; fn may
// change it (write) or drop it (returns nil).
func pendingOp(c *Call, write bool, fn func(p *pendingCert) *pendingCert) (certOperation, bool, error) {
	name := c.Name()
	var out certOperation
	var found bool
	run := c.View
	if write {
		run = c.Update
	}
	err := run(func(v *store.Vault) error {
		s := settingsOf(v)
		p := s.Pending[name]
		if p == nil {
			return nil
		}
		found = true
		out = p.Op
		out.ID = c.ID("certificates", name, "pending")
		if write {
			if np := fn(p); np == nil {
				delete(s.Pending, name)
			} else {
				out = np.Op
				out.ID = c.ID("certificates", name, "pending")
			}
			setSettings(v, s)
		}
		return nil
	})
	return out, found, err
}

type mergeRequest struct {
	X5C        [][]byte          `json:"x5c"`
	Attributes *store.Attributes `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// mergeCertificate completes a pending request with the certificate (and
// chain) signed for its CSR.
func mergeCertificate(c *Call) (int, any, error) {
	name := c.Name()
	var req mergeRequest
	if err := c.Decode(&req); err != nil {
		return 0, nil, err
	}
	if len(req.X5C) == 0 {
		return 0, nil, kverr.ErrBadParameter("x5c is required: send the signed certificate (and its chain), base64 DER, leaf first.")
	}
	chain := make([]*x509.Certificate, 0, len(req.X5C))
	for i, der := range req.X5C {
		crt, err := x509.ParseCertificate(der)
		if err != nil {
			return 0, nil, kverr.ErrBadParameter("x5c[%d] is not a DER X.509 certificate: %v", i, err)
		}
		chain = append(chain, crt)
	}
	var out certBundle
	err := c.Update(func(v *store.Vault) error {
		s := settingsOf(v)
		p := s.Pending[name]
		if p == nil {
			return errNoOperation(name)
		}
		if !sdkKeyMatches(p.Key, chain[0]) {
			return kverr.ErrBadParameter("Public key from x5c[0] does not match the pending certificate request's key.")
		}
		attrs, tags := p.Attributes, p.Tags
		if req.Attributes != nil {
			attrs = req.Attributes
		}
		if req.Tags != nil {
			tags = req.Tags
		}
		op := p.Op
		op.Status, op.StatusDetails = "completed", ""
		obj, ver, err := storeCertificate(v, certWrite{name: name, cert: &kvcrypto.Certificate{Key: p.Key, Chain: chain}, contentType: p.Policy.SecretProps.ContentType, policy: p.Policy, attrs: attrs, tags: tags, op: &op}, c.Now)
		if err != nil {
			return err
		}
		delete(s.Pending, name)
		setSettings(v, s)
		out = c.renderCertificate(v, obj, ver, true, true)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, out, nil
}

// sdkKeyMatches reports whether the certificate carries the key's public half.
func sdkKeyMatches(k *kvcrypto.Key, crt *x509.Certificate) bool {
	a, err1 := x509.MarshalPKIXPublicKey(k.Public())
	b, err2 := x509.MarshalPKIXPublicKey(crt.PublicKey)
	return err1 == nil && err2 == nil && string(a) == string(b)
}
