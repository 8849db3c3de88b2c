package dataplane

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/kvcrypto"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
	"github.com/kvcsi/kvcsi/kvemulator/internal/seed"
	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// Seeding keys and certificates: the hooks seed.go calls for each declared version. They use
// the same kvcrypto calls and store layout as the API handlers, so a seeded object is
// indistinguishable from one created over the wire.

// seedError drops the HTTP status and code from an API error: seed errors are read by a
// person fixing a YAML file, and seed.go prefixes them with the entry's path.
func seedError(err error) error {
	var ae *kverr.APIError
	if errors.As(err, &ae) {
		return errors.New(ae.Message)
	}
	return err
}

// seedKey creates one seeded key version through the same kvcrypto calls as the API.
func seedKey(v *store.Vault, name string, spec seed.KeyVersionSeed, now time.Time) error {
	return seedError(seedKeyVersionSpec(v, name, spec, now))
}

func seedKeyVersionSpec(v *store.Vault, name string, spec seed.KeyVersionSeed, now time.Time) error {
	if obj := v.Keys[name]; obj != nil && obj.Latest() != nil && obj.Latest().Managed {
		return kverr.ErrConflict("key %s is already the key of a certificate of the seed", name)
	}
	var key *kvcrypto.Key
	var err error
	if len(spec.JWK) > 0 {
		var j kvcrypto.JWK
		if err := json.Unmarshal(spec.JWK, &j); err != nil {
			return kverr.ErrBadParameter("jwk is not a JSON Web Key: %v", err)
		}
		if j.KeyOps == nil {
			j.KeyOps = spec.KeyOps
		}
		key, err = kvcrypto.ImportJWK(&j, strings.HasSuffix(spec.Kty, "-HSM"))
	} else {
		key, err = kvcrypto.Generate(kvcrypto.GenerateOptions{Kty: spec.Kty, Size: spec.Size, Curve: spec.Curve, Ops: spec.KeyOps})
	}
	if err != nil {
		return cryptoError(err)
	}
	ver, err := newKeyVersion(key, keyAttributes(v, &store.Attributes{Enabled: spec.Enabled}, now), spec.Tags)
	if err != nil {
		return err
	}
	if spec.Version != "" {
		if !versionRE.MatchString(spec.Version) {
			return kverr.ErrBadParameter("version %q must be 32 lowercase hex characters", spec.Version)
		}
		ver.Version = spec.Version
	}
	obj := v.Keys[name]
	if obj == nil {
		obj = &store.Object[store.KeyVersion]{Name: name}
		v.Keys[name] = obj
	}
	if obj.Version(ver.Version) != nil && spec.Version != "" {
		return kverr.ErrBadParameter("version %s is declared twice", spec.Version)
	}
	obj.Versions = append(obj.Versions, ver)
	return nil
}

// seedCertificate creates one seeded certificate version: imported from pfx or pem, or
// self-signed from subject, dnsNames, validityMonths and the key fields.
func seedCertificate(v *store.Vault, name string, spec seed.CertificateVersionSeed, now time.Time) error {
	return seedError(seedCertificateVersionSpec(v, name, spec, now))
}

func seedCertificateVersionSpec(v *store.Vault, name string, spec seed.CertificateVersionSeed, now time.Time) error {
	var cert *kvcrypto.Certificate
	var policy *kvcrypto.Policy
	contentType := spec.ContentType
	switch {
	case spec.PFX != "" && spec.PEM != "":
		return kverr.ErrBadParameter("give either pfx or pem, not both")
	case spec.PFX != "" || spec.PEM != "":
		value := spec.PFX
		if spec.PEM != "" {
			value = spec.PEM
		}
		var err error
		cert, contentType, err = kvcrypto.ImportCertificate(value, spec.Password, contentType)
		if err != nil {
			return cryptoError(err)
		}
		policy = kvcrypto.PolicyFor(cert, contentType, true)
	case spec.Subject == "" && len(spec.DNSNames) == 0:
		return kverr.ErrBadParameter("subject is required for a self-signed certificate (for example \"CN=example.com\"); or give pfx or pem to import one")
	default:
		policy = &kvcrypto.Policy{
			KeyProps:    &kvcrypto.PolicyKeyProps{Kty: spec.Kty, KeySize: spec.Size, Curve: spec.Curve},
			SecretProps: &kvcrypto.SecretProps{ContentType: contentType},
			X509Props:   &kvcrypto.X509Props{Subject: spec.Subject, ValidityMonths: spec.ValidityMonths},
		}
		if len(spec.DNSNames) > 0 {
			policy.X509Props.SANs = &kvcrypto.SANs{DNSNames: spec.DNSNames}
		}
		if err := policy.Normalize(); err != nil {
			return cryptoError(err)
		}
		key, err := kvcrypto.Generate(policy.KeyOptions())
		if err != nil {
			return cryptoError(err)
		}
		if cert, err = kvcrypto.CreateSelfSigned(policy, key, now); err != nil {
			return cryptoError(err)
		}
		contentType = policy.SecretProps.ContentType
	}
	policy.Attributes = &kvcrypto.PolicyAttrs{Enabled: ptrTo(true), Created: now.Unix(), Updated: now.Unix()}
	_, cv, err := storeCertificate(v, certWrite{name: name, cert: cert, contentType: contentType, policy: policy,
		attrs: &store.Attributes{Enabled: spec.Enabled}, tags: spec.Tags}, now)
	if err != nil {
		return err
	}
	if spec.Version != "" {
		if !versionRE.MatchString(spec.Version) {
			return kverr.ErrBadParameter("version %q must be 32 lowercase hex characters", spec.Version)
		}
		for _, other := range v.Certificates[name].Versions {
			if other != cv && other.Version == spec.Version {
				return kverr.ErrBadParameter("version %s is declared twice", spec.Version)
			}
		}
		// The three objects share the version id.
		k, s := v.Keys[name].Latest(), v.Secrets[name].Latest()
		cv.Version, k.Version, s.Version = spec.Version, spec.Version, spec.Version
	}
	return nil
}
