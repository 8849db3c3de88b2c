package azvault

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// SetSecretEnabled enables or disables one version of a secret (Key Vault
// answers a disabled version's GET with 403 Forbidden), as an operator's
// `az keyvault secret set-attributes --enabled` does.
func (v *Vault) SetSecretEnabled(ctx context.Context, name, version string, enabled bool) error {
	_, err := v.secrets.UpdateSecretProperties(ctx, name, version, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(enabled)},
	}, nil)
	if err != nil {
		return fmt.Errorf("set %s version %s enabled=%v: %w", name, version, enabled, err)
	}
	return nil
}

// SetSecretDisabled stores a new version of a secret that is disabled from
// the start (one request: no reader ever sees it enabled) and returns its
// version id.
func (v *Vault) SetSecretDisabled(ctx context.Context, name, value string) (string, error) {
	r, err := v.secrets.SetSecret(ctx, name, azsecrets.SetSecretParameters{
		Value:            to.Ptr(value),
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)},
	}, nil)
	if err != nil {
		return "", fmt.Errorf("set secret %s (disabled): %w", name, err)
	}
	if r.ID == nil {
		return "", fmt.Errorf("set secret %s (disabled): no id in the answer", name)
	}
	return r.ID.Version(), nil
}
