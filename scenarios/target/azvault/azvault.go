// Package azvault is the Vault side of a scenario target spoken through the
// real Azure SDK clients (azsecrets, azkeys, azcertificates): the same code
// sets a new secret version in the emulator (local, kind) and in a real Key
// Vault (aks), so rotation scenarios exercise the service's own API.
package azvault

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/scenarios"
)

// Vault implements scenarios.Vault with the SDK clients of one vault.
type Vault struct {
	name, tenant string
	secrets      *azsecrets.Client
	keys         *azkeys.Client
	certs        *azcertificates.Client
}

// New builds the clients for vaultURL (https://<name>.vault.azure.net/) with
// cred; opts carries the transport (the emulator's CA and routing) and cloud.
func New(name, tenant, vaultURL string, cred azcore.TokenCredential, opts azcore.ClientOptions) (*Vault, error) {
	s, err := azsecrets.NewClient(vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: opts})
	if err != nil {
		return nil, fmt.Errorf("secrets client for %s: %w", vaultURL, err)
	}
	k, err := azkeys.NewClient(vaultURL, cred, &azkeys.ClientOptions{ClientOptions: opts})
	if err != nil {
		return nil, fmt.Errorf("keys client for %s: %w", vaultURL, err)
	}
	c, err := azcertificates.NewClient(vaultURL, cred, &azcertificates.ClientOptions{ClientOptions: opts})
	if err != nil {
		return nil, fmt.Errorf("certificates client for %s: %w", vaultURL, err)
	}
	return &Vault{name: name, tenant: tenant, secrets: s, keys: k, certs: c}, nil
}

// Requests is scenarios.ErrNoRequestCounters: a real Key Vault does not say
// which identity made a request (targets on the emulator wrap Vault with
// the emulator's counters).
func (v *Vault) Requests(context.Context) ([]scenarios.VaultRequest, error) {
	return nil, scenarios.ErrNoRequestCounters
}

// Name is the vault's name (the documentation's <keyvault-name>).
func (v *Vault) Name() string { return v.name }

// TenantID is the vault's tenant (the documentation's <tenant-id>).
func (v *Vault) TenantID() string { return v.tenant }

// SetSecret stores a new version of a secret. The value never appears in an
// error: only the name does.
func (v *Vault) SetSecret(ctx context.Context, name, value string) (string, error) {
	r, err := v.secrets.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr(value)}, nil)
	if err != nil {
		return "", fmt.Errorf("set secret %s in vault %s: %w", name, v.name, err)
	}
	if r.ID == nil {
		return "", fmt.Errorf("set secret %s in vault %s: the response has no id", name, v.name)
	}
	return r.ID.Version(), nil
}

// CreateKey creates a new RSA 2048 version of a key.
func (v *Vault) CreateKey(ctx context.Context, name string) (string, error) {
	r, err := v.keys.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr(int32(2048))}, nil)
	if err != nil {
		return "", fmt.Errorf("create key %s in vault %s: %w", name, v.name, err)
	}
	if r.Key == nil || r.Key.KID == nil {
		return "", fmt.Errorf("create key %s in vault %s: the response has no kid", name, v.name)
	}
	return r.Key.KID.Version(), nil
}

// ImportCertificate imports a PKCS#12 as a new certificate version.
func (v *Vault) ImportCertificate(ctx context.Context, name string, pfx []byte, password string) (string, error) {
	r, err := v.certs.ImportCertificate(ctx, name, azcertificates.ImportCertificateParameters{
		Base64EncodedCertificate: to.Ptr(base64.StdEncoding.EncodeToString(pfx)),
		Password:                 to.Ptr(password),
	}, nil)
	if err != nil {
		return "", fmt.Errorf("import certificate %s in vault %s: %w", name, v.name, err)
	}
	if r.ID == nil {
		return "", fmt.Errorf("import certificate %s in vault %s: the response has no id", name, v.name)
	}
	return r.ID.Version(), nil
}
