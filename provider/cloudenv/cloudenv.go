// Package cloudenv resolves an Azure cloud name (or an AzureStackCloud
// environment file) into the two endpoints the provider needs: where to get
// tokens and which DNS suffix Key Vault lives under. It reads the file per
// request and never touches the process environment, unlike upstream which
// sets AZURE_ENVIRONMENT_FILEPATH process-wide.
package cloudenv

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Env is one cloud's endpoints.
type Env struct {
	// Name is the canonical cloud name, e.g. AzurePublicCloud.
	Name string
	// ActiveDirectoryEndpoint is the Entra ID authority host, with a trailing slash.
	ActiveDirectoryEndpoint string
	// KeyVaultEndpoint is the token resource for Key Vault, e.g. https://vault.azure.net/.
	KeyVaultEndpoint string
	// KeyVaultDNSSuffix is the host suffix of every vault, e.g. vault.azure.net
	// (a port may be included for private clouds).
	KeyVaultDNSSuffix string
}

// StackCloudName is the cloud name that reads its endpoints from a file.
const StackCloudName = "AzureStackCloud"

var known = []struct {
	aliases []string
	env     Env
}{
	{[]string{"AzurePublicCloud", "AzureCloud"}, Env{"AzurePublicCloud", "https://login.microsoftonline.com/", "https://vault.azure.net/", "vault.azure.net"}},
	{[]string{"AzureUSGovernmentCloud", "AzureUSGovernment"}, Env{"AzureUSGovernmentCloud", "https://login.microsoftonline.us/", "https://vault.usgovcloudapi.net/", "vault.usgovcloudapi.net"}},
	{[]string{"AzureChinaCloud"}, Env{"AzureChinaCloud", "https://login.chinacloudapi.cn/", "https://vault.azure.cn/", "vault.azure.cn"}},
	{[]string{"AzureGermanCloud"}, Env{"AzureGermanCloud", "https://login.microsoftonline.de/", "https://vault.microsoftazure.de/", "vault.microsoftazure.de"}},
}

// IsStack reports whether name (case-insensitive) is AzureStackCloud.
func IsStack(name string) bool { return strings.EqualFold(strings.TrimSpace(name), StackCloudName) }

// Lookup resolves a cloud name, case-insensitively. AzureStackCloud needs
// envFile, a JSON file in the go-autorest environment format.
func Lookup(name, envFile string) (Env, error) {
	name = strings.TrimSpace(name)
	if IsStack(name) {
		return FromFile(envFile)
	}
	for _, k := range known {
		for _, a := range k.aliases {
			if strings.EqualFold(a, name) {
				return k.env, nil
			}
		}
	}
	return Env{}, fmt.Errorf("cloudName %q is not a known cloud: use AzurePublicCloud, AzureUSGovernmentCloud, AzureChinaCloud, AzureGermanCloud, or AzureStackCloud with cloudEnvFileName", name)
}

type fileEnv struct {
	Name                    string `json:"name"`
	ActiveDirectoryEndpoint string `json:"activeDirectoryEndpoint"`
	KeyVaultEndpoint        string `json:"keyVaultEndpoint"`
	KeyVaultDNSSuffix       string `json:"keyVaultDNSSuffix"`
}

// FromFile reads an AzureStackCloud environment file.
func FromFile(path string) (Env, error) {
	if strings.TrimSpace(path) == "" {
		return Env{}, fmt.Errorf("cloudEnvFileName is not provided: cloudName AzureStackCloud needs cloudEnvFileName, the path of a JSON cloud environment file in the provider container")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Env{}, fmt.Errorf("cloudEnvFileName %q cannot be read: %v; mount the file into the provider pod at that path", path, err)
	}
	return Parse(path, b)
}

// Parse decodes the JSON of an environment file; src names it in errors.
func Parse(src string, b []byte) (Env, error) {
	var f fileEnv
	if err := json.Unmarshal(b, &f); err != nil {
		return Env{}, fmt.Errorf("cloudEnvFileName %q is not valid JSON: %v", src, err)
	}
	var missing []string
	for _, kv := range []struct{ k, v string }{{"name", f.Name}, {"activeDirectoryEndpoint", f.ActiveDirectoryEndpoint}, {"keyVaultEndpoint", f.KeyVaultEndpoint}, {"keyVaultDNSSuffix", f.KeyVaultDNSSuffix}} {
		if strings.TrimSpace(kv.v) == "" {
			missing = append(missing, kv.k)
		}
	}
	if len(missing) > 0 {
		return Env{}, fmt.Errorf("cloudEnvFileName %q lacks %s: the file needs name, activeDirectoryEndpoint, keyVaultEndpoint and keyVaultDNSSuffix", src, strings.Join(missing, ", "))
	}
	ad := strings.TrimSpace(f.ActiveDirectoryEndpoint)
	if !strings.HasPrefix(ad, "https://") {
		return Env{}, fmt.Errorf("cloudEnvFileName %q: activeDirectoryEndpoint %q must be an https URL", src, ad)
	}
	if !strings.HasSuffix(ad, "/") {
		ad += "/"
	}
	return Env{
		Name:                    strings.TrimSpace(f.Name),
		ActiveDirectoryEndpoint: ad,
		KeyVaultEndpoint:        strings.TrimSpace(f.KeyVaultEndpoint),
		KeyVaultDNSSuffix:       strings.Trim(strings.TrimSpace(f.KeyVaultDNSSuffix), "."),
	}, nil
}

// VaultURL is the data-plane URL of a vault in this cloud.
func (e Env) VaultURL(vault string) string {
	return "https://" + vault + "." + e.KeyVaultDNSSuffix + "/"
}
