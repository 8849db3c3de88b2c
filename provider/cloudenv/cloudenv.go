// Package cloudenv resolves an Azure cloud name (or an AzureStackCloud
// environment file) into the two endpoints the provider needs: where to get
// tokens and which DNS suffix Key Vault lives under. It reads the file per
// request and never touches the process environment, unlike upstream which
// sets AZURE_ENVIRONMENT_FILEPATH process-wide.
package cloudenv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
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
	b, err := readRegular(path)
	if err != nil {
		return Env{}, err
	}
	return Parse(path, b)
}

// MaxFileSize bounds an environment file; real ones are under 2 KiB.
const MaxFileSize = 64 << 10

// readRegular reads a regular file of at most MaxFileSize bytes. It opens
// without blocking (a FIFO would otherwise hang the request until a writer
// comes), checks the opened file is regular (not a FIFO, device, socket or
// directory: /dev/zero would be read until memory runs out) and reads at
// most one byte more than the bound. Errors name the path, never content.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("cloudEnvFileName %q cannot be read: %v; mount the file into the provider pod at that path", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cloudEnvFileName %q cannot be read: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("cloudEnvFileName %q is %s, not a regular file: give the path of the JSON cloud environment file", path, kind(fi.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cloudEnvFileName %q cannot be read: %v", path, err)
	}
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("cloudEnvFileName %q is larger than %d bytes: a cloud environment file is a small JSON object; check the path", path, MaxFileSize)
	}
	return b, nil
}

func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file (" + m.Type().String() + ")"
}

// Parse decodes the JSON of an environment file; src names it in errors.
func Parse(src string, b []byte) (Env, error) {
	var f fileEnv
	if err := json.Unmarshal(b, &f); err != nil {
		return Env{}, fmt.Errorf("cloudEnvFileName %q is not a valid cloud environment file: %s; it must be a JSON object with name, activeDirectoryEndpoint, keyVaultEndpoint and keyVaultDNSSuffix", src, jsonProblem(err))
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
		return Env{}, fmt.Errorf("cloudEnvFileName %q: activeDirectoryEndpoint must be an https URL (it does not start with https://)", src)
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

// jsonProblem describes a JSON error without quoting the file: encoding/json
// messages quote the offending character, which would leak the first byte
// of whatever file the path names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("not JSON (syntax error at byte offset %d)", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %s is a JSON %s, want a string", te.Field, te.Value)
		}
		return fmt.Sprintf("the document is a JSON %s, want an object", te.Value)
	}
	return "not JSON"
}

// VaultURL is the data-plane URL of a vault in this cloud.
func (e Env) VaultURL(vault string) string {
	return "https://" + vault + "." + e.KeyVaultDNSSuffix + "/"
}
