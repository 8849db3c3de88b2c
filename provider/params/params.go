// Package params turns one Mount request (its attributes, secrets and
// permission) into a validated MountParams. Everything is checked here,
// before any network call, so that a bad SecretProviderClass fails fast with
// a message naming the field and the fix. It is per-request configuration and
// deliberately separate from the process flags (see package server).
package params

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/kvcsi/kvcsi/provider/cloudenv"
)

// Attribute keys the driver adds to the SecretProviderClass parameters.
const (
	AttrPodName         = "csi.storage.k8s.io/pod.name"
	AttrPodNamespace    = "csi.storage.k8s.io/pod.namespace"
	AttrPodUID          = "csi.storage.k8s.io/pod.uid"
	AttrServiceAccount  = "csi.storage.k8s.io/serviceAccount.name"
	AttrServiceAccounts = "csi.storage.k8s.io/serviceAccount.tokens"

	// WorkloadIdentityAudience is the token audience Entra ID federation expects.
	WorkloadIdentityAudience = "api://AzureADTokenExchange"
)

// Object types.
const (
	TypeSecret = "secret"
	TypeKey    = "key"
	TypeCert   = "cert"
)

// IdentityMode says how the provider authenticates to Key Vault.
type IdentityMode int

// Identity modes, in upstream's precedence.
const (
	ServicePrincipal IdentityMode = iota
	WorkloadIdentity
	VMManagedIdentity
	PodIdentity
)

func (m IdentityMode) String() string {
	return [...]string{"service-principal", "workload-identity", "vm-managed-identity", "pod-identity"}[m]
}

// Identity is everything needed to build a credential. It holds secrets:
// never log or print it.
type Identity struct {
	Mode IdentityMode
	// ClientID: service principal client id or workload identity clientID.
	ClientID string
	// ClientSecret of a service principal.
	ClientSecret string
	// FederatedToken is the pod's service-account token for WorkloadIdentityAudience.
	FederatedToken string
	// UserAssignedIdentityID selects a user-assigned VM managed identity.
	UserAssignedIdentityID string
}

// Object is one entry of the objects parameter, normalised.
type Object struct {
	Name           string
	Alias          string
	Type           string // secret|key|cert, lower case
	Version        string // "" means latest
	Format         string // pem|pfx, lower case
	Encoding       string // utf-8|hex|base64, lower case
	VersionHistory int
	// Mode is the file mode; from filePermission, else the request's permission.
	Mode os.FileMode
}

// FileName is the path, relative to the mount, the object is written to.
func (o Object) FileName() string {
	if o.Alias != "" {
		return o.Alias
	}
	return o.Name
}

// Describe is the upstream wording users search for.
func (o Object) Describe() string {
	return fmt.Sprintf("objectType:%s, objectName:%s, objectVersion:%s", o.Type, o.Name, o.Version)
}

// Mount is one validated Mount request.
type Mount struct {
	PodName, PodNamespace, PodUID, ServiceAccount string
	KeyVaultName                                  string
	TenantID                                      string
	Cloud                                         cloudenv.Env
	Identity                                      Identity
	Objects                                       []Object
	DefaultMode                                   os.FileMode
}

// VaultURL is the data-plane URL of the mount's vault.
func (m *Mount) VaultURL() string { return m.Cloud.VaultURL(m.KeyVaultName) }

// Error is a validation failure; the server maps it to InvalidArgument.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Msg }

func errf(field, format string, a ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Defaults are the process-level values a request may override.
type Defaults struct {
	// CloudName is --cloud-name, used when the cloudName parameter is empty.
	CloudName string
}

var (
	vaultNameRE  = regexp.MustCompile(`^[-A-Za-z0-9]+$`)
	objectNameRE = regexp.MustCompile(`^[-A-Za-z0-9]{1,127}$`)
	versionRE    = regexp.MustCompile(`^[A-Za-z0-9]{0,64}$`)
)

// Parse validates a Mount request. attributes and secrets are the JSON
// strings of the request; permission is the JSON of an os.FileMode.
// The order of checks is upstream's, so the first failure matches.
func Parse(attributes, secrets, permission string, d Defaults) (*Mount, error) {
	attrs := map[string]string{}
	if err := json.Unmarshal([]byte(attributes), &attrs); err != nil {
		return nil, errf("attributes", "failed to unmarshal attributes, error: %s; the driver must send the SecretProviderClass parameters as a JSON object of strings", jsonErrNoValue(err))
	}
	sec := map[string]string{}
	if strings.TrimSpace(secrets) != "" {
		if err := json.Unmarshal([]byte(secrets), &sec); err != nil {
			return nil, errf("secrets", "failed to unmarshal secrets, error: %s; the nodePublishSecretRef data must be a JSON object of strings", jsonErrNoValue(err))
		}
	}
	mode := os.FileMode(0o644)
	if strings.TrimSpace(permission) != "" {
		var p os.FileMode
		if err := json.Unmarshal([]byte(permission), &p); err != nil || p > 0o777 {
			return nil, errf("permission", "failed to unmarshal file permission %q: want the decimal JSON of a file mode of at most 0777, e.g. \"420\" for 0644", permission)
		}
		mode = p
	}
	get := func(k string) string { return strings.TrimSpace(attrs[k]) }

	m := &Mount{DefaultMode: mode}
	m.PodName, m.PodNamespace, m.PodUID, m.ServiceAccount = get(AttrPodName), get(AttrPodNamespace), get(AttrPodUID), get(AttrServiceAccount)
	if m.PodName == "" {
		return nil, errf(AttrPodName, "pod name is not provided: the attribute %s is missing; the CSIDriver object needs podInfoOnMount: true", AttrPodName)
	}
	if m.PodNamespace == "" {
		return nil, errf(AttrPodNamespace, "pod namespace is not provided: the attribute %s is missing; the CSIDriver object needs podInfoOnMount: true", AttrPodNamespace)
	}

	var modes []string
	usePod, err := parseBool(attrs, "usePodIdentity")
	if err != nil {
		return nil, err
	}
	useVM, err := parseBool(attrs, "useVMManagedIdentity")
	if err != nil {
		return nil, err
	}
	clientID := get("clientID")
	if usePod {
		modes = append(modes, "usePodIdentity=true")
	}
	if useVM {
		modes = append(modes, "useVMManagedIdentity=true")
	}
	if clientID != "" {
		modes = append(modes, "clientID (workload identity)")
	}
	if len(modes) > 1 {
		return nil, errf("usePodIdentity", "only one identity mode can be enabled at a time: %s are set; keep one of usePodIdentity, useVMManagedIdentity, clientID", strings.Join(modes, ", "))
	}

	m.KeyVaultName = get("keyvaultName")
	if m.KeyVaultName == "" {
		return nil, errf("keyvaultName", "keyvaultName is not provided: set parameters.keyvaultName to the name of the Key Vault")
	}
	m.TenantID = get("tenantID")
	if m.TenantID == "" {
		m.TenantID = get("tenantId")
	}
	if m.TenantID == "" {
		return nil, errf("tenantID", "tenantId is not provided: set parameters.tenantID to the Entra ID tenant of the Key Vault")
	}

	cloudName := get("cloudName")
	if cloudName == "" {
		cloudName = d.CloudName
	}
	if cloudName == "" {
		cloudName = "AzurePublicCloud"
	}
	envFile := get("cloudEnvFileName")
	if cloudenv.IsStack(cloudName) && envFile == "" {
		return nil, errf("cloudEnvFileName", "cloudEnvFileName is not provided: cloudName AzureStackCloud needs parameters.cloudEnvFileName, the path of a JSON cloud environment file in the provider container")
	}
	m.Cloud, err = cloudenv.Lookup(cloudName, envFile)
	if err != nil {
		field := "cloudName"
		if cloudenv.IsStack(cloudName) {
			field = "cloudEnvFileName"
		}
		return nil, errf(field, "%v", err)
	}

	switch {
	case usePod:
		m.Identity = Identity{Mode: PodIdentity}
	case useVM:
		m.Identity = Identity{Mode: VMManagedIdentity, UserAssignedIdentityID: get("userAssignedIdentityID")}
	case clientID != "":
		tok, err := federatedToken(attrs[AttrServiceAccounts])
		if err != nil {
			return nil, err
		}
		m.Identity = Identity{Mode: WorkloadIdentity, ClientID: clientID, FederatedToken: tok}
	default:
		id, secret := "", ""
		for k, v := range sec {
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "clientid":
				id = strings.TrimSpace(v)
			case "clientsecret":
				secret = strings.TrimSpace(v)
			}
		}
		if id == "" {
			return nil, errf("nodePublishSecretRef", "could not find clientid in secrets: set nodePublishSecretRef on the volume to a Secret with keys clientid and clientsecret, or choose another identity mode (useVMManagedIdentity, usePodIdentity, clientID)")
		}
		if secret == "" {
			return nil, errf("nodePublishSecretRef", "could not find clientsecret in secrets: the nodePublishSecretRef Secret needs a clientsecret key")
		}
		m.Identity = Identity{Mode: ServicePrincipal, ClientID: id, ClientSecret: secret}
	}

	raw, ok := attrs["objects"]
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, errf("objects", "objects is not set: set parameters.objects to a YAML 'array:' of object documents, each with objectName and objectType")
	}
	m.Objects, err = ParseObjects(raw, mode)
	if err != nil {
		return nil, err
	}
	if l := len(m.KeyVaultName); l < 3 || l > 24 || !vaultNameRE.MatchString(m.KeyVaultName) {
		return nil, errf("keyvaultName", "Invalid vault name: %q, must match [-a-zA-Z0-9]{3,24}; set keyvaultName to the vault's name, not its URL", m.KeyVaultName)
	}
	return m, nil
}

func parseBool(attrs map[string]string, key string) (bool, error) {
	v := strings.TrimSpace(attrs[key])
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errf(key, "failed to parse %s flag, error: %v; set %s to \"true\" or \"false\"", key, err, key)
	}
	return b, nil
}

func federatedToken(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errf(AttrServiceAccounts, "service account tokens not found: workload identity needs the CSIDriver object to request a token for audience %s (tokenRequests)", WorkloadIdentityAudience)
	}
	var toks map[string]struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(raw), &toks); err != nil {
		return "", errf(AttrServiceAccounts, "failed to unmarshal service account tokens: %v", jsonErrNoValue(err))
	}
	t, ok := toks[WorkloadIdentityAudience]
	if !ok || t.Token == "" {
		return "", errf(AttrServiceAccounts, "token for audience %s not found: add the audience to the CSIDriver object's tokenRequests", WorkloadIdentityAudience)
	}
	return t.Token, nil
}

// jsonErrNoValue keeps token text out of JSON errors: syntax errors carry only
// an offset, but type errors may quote a value.
func jsonErrNoValue(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("invalid JSON at offset %d", se.Offset)
	}
	return "the value does not have the expected JSON shape"
}

// CheckFileName enforces what the atomic writer accepts and what stops
// path traversal (CVE-2020-8567): relative, clean, no "..", short enough.
// Subdirectories are allowed.
func CheckFileName(field, name string) error {
	switch {
	case name == "":
		return errf(field, "%s is empty: every object needs a file name", field)
	case path.IsAbs(name) || strings.HasPrefix(name, "\\"):
		return errf(field, "%s %q is an absolute path: use a path relative to the mount", field, name)
	case len(name) > 4096:
		return errf(field, "%s is longer than 4096 characters", field)
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return errf(field, "%s %q contains '..': use a path inside the mount", field, name)
		}
		if len(el) > 255 {
			return errf(field, "%s %q has an element longer than 255 characters", field, name)
		}
	}
	if path.Clean(name) != name || strings.HasPrefix(name, "..") {
		return errf(field, "%s %q is not a clean path: remove '.', '//' and trailing '/' (use %q)", field, name, path.Clean(name))
	}
	return nil
}

// CheckDistinctFiles rejects two files with the same path, and a file that
// is also used as a directory by another (a vs a/0).
func CheckDistinctFiles(paths []string, owner func(i int) string) error {
	seen := make(map[string]int, len(paths))
	for i, p := range paths {
		if j, ok := seen[p]; ok {
			return errf("objectAlias", "%s and %s both write the file %q: give one of them a different objectAlias", owner(j), owner(i), p)
		}
		seen[p] = i
	}
	for i, p := range paths {
		for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if j, ok := seen[dir]; ok {
				return errf("objectAlias", "%s writes the file %q, which %s needs as a directory for %q: give one of them a different objectAlias", owner(j), dir, owner(i), p)
			}
		}
	}
	return nil
}
