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
	// Warnings are settings handled leniently, as upstream does.
	Warnings []Warning
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
	// Strict is --strict: settings upstream accepts and kvcsi handles
	// leniently (with a Warning) are refused instead.
	Strict bool
}

var (
	vaultNameRE  = regexp.MustCompile(`^[-A-Za-z0-9]+$`)
	objectNameRE = regexp.MustCompile(`^[-A-Za-z0-9]{1,127}$`)
	versionRE    = regexp.MustCompile(`^[A-Za-z0-9]{0,64}$`)
)

// Parse validates a Mount request. attributes and secrets are the JSON
// strings of the request; permission is the JSON of an os.FileMode.
// The order of checks is upstream's, so the first failure matches.
// Settings upstream accepts but kvcsi would refuse are handled as upstream
// does and reported in Mount.Warnings, or refused with d.Strict.
func Parse(attributes, secrets, permission string, d Defaults) (*Mount, error) {
	in, err := decodeRequest(attributes, secrets, permission)
	if err != nil {
		return nil, err
	}
	m := &Mount{DefaultMode: in.mode}
	if err := m.parsePod(in); err != nil {
		return nil, err
	}
	modes, err := parseIdentityModes(in)
	if err != nil {
		return nil, err
	}
	if err := m.parseVaultAndTenant(in); err != nil {
		return nil, err
	}
	if err := m.parseCloud(in, d); err != nil {
		return nil, err
	}
	if m.Identity, err = parseIdentity(in, modes); err != nil {
		return nil, err
	}
	if err := m.parseObjects(in, d); err != nil {
		return nil, err
	}
	if err := checkVaultName(m.KeyVaultName); err != nil {
		return nil, err
	}
	return m, nil
}

// request is a Mount request's decoded JSON.
type request struct {
	attrs   map[string]string
	secrets map[string]string
	mode    os.FileMode
}

// get is an attribute, trimmed.
func (r *request) get(k string) string { return strings.TrimSpace(r.attrs[k]) }

func decodeRequest(attributes, secrets, permission string) (*request, error) {
	r := &request{attrs: map[string]string{}, secrets: map[string]string{}, mode: 0o644}
	if err := json.Unmarshal([]byte(attributes), &r.attrs); err != nil {
		return nil, errf("attributes", "failed to unmarshal attributes, error: %s; the driver must send the SecretProviderClass parameters as a JSON object of strings", jsonErrNoValue(err))
	}
	if strings.TrimSpace(secrets) != "" {
		if err := json.Unmarshal([]byte(secrets), &r.secrets); err != nil {
			return nil, errf("secrets", "failed to unmarshal secrets, error: %s; the nodePublishSecretRef data must be a JSON object of strings", jsonErrNoValue(err))
		}
	}
	if strings.TrimSpace(permission) != "" {
		var p os.FileMode
		if err := json.Unmarshal([]byte(permission), &p); err != nil || p > 0o777 {
			return nil, errf("permission", "failed to unmarshal file permission %q: want the decimal JSON of a file mode of at most 0777, e.g. \"420\" for 0644", permission)
		}
		r.mode = p
	}
	return r, nil
}

func (m *Mount) parsePod(in *request) error {
	m.PodName, m.PodNamespace, m.PodUID, m.ServiceAccount = in.get(AttrPodName), in.get(AttrPodNamespace), in.get(AttrPodUID), in.get(AttrServiceAccount)
	if m.PodName == "" {
		return errf(AttrPodName, "pod name is not provided: the attribute %s is missing; the CSIDriver object needs podInfoOnMount: true", AttrPodName)
	}
	if m.PodNamespace == "" {
		return errf(AttrPodNamespace, "pod namespace is not provided: the attribute %s is missing; the CSIDriver object needs podInfoOnMount: true", AttrPodNamespace)
	}
	return nil
}

// identityModes are the identity switches a request sets.
type identityModes struct {
	pod, vm  bool
	clientID string
}

func parseIdentityModes(in *request) (identityModes, error) {
	var im identityModes
	var err error
	if im.pod, err = parseBool(in.attrs, "usePodIdentity"); err != nil {
		return im, err
	}
	if im.vm, err = parseBool(in.attrs, "useVMManagedIdentity"); err != nil {
		return im, err
	}
	im.clientID = in.get("clientID")
	var set []string
	if im.pod {
		set = append(set, "usePodIdentity=true")
	}
	if im.vm {
		set = append(set, "useVMManagedIdentity=true")
	}
	if im.clientID != "" {
		set = append(set, "clientID (workload identity)")
	}
	if len(set) > 1 {
		return im, errf("usePodIdentity", "only one identity mode can be enabled at a time: %s are set; keep one of usePodIdentity, useVMManagedIdentity, clientID", strings.Join(set, ", "))
	}
	return im, nil
}

func (m *Mount) parseVaultAndTenant(in *request) error {
	m.KeyVaultName = in.get("keyvaultName")
	if m.KeyVaultName == "" {
		return errf("keyvaultName", "keyvaultName is not provided: set parameters.keyvaultName to the name of the Key Vault")
	}
	m.TenantID = in.get("tenantID")
	if m.TenantID == "" {
		m.TenantID = in.get("tenantId")
	}
	if m.TenantID == "" {
		return errf("tenantID", "tenantId is not provided: set parameters.tenantID to the Entra ID tenant of the Key Vault")
	}
	return nil
}

func (m *Mount) parseCloud(in *request, d Defaults) error {
	cloudName := in.get("cloudName")
	if cloudName == "" {
		cloudName = d.CloudName
	}
	if cloudName == "" {
		cloudName = "AzurePublicCloud"
	}
	envFile := in.get("cloudEnvFileName")
	if cloudenv.IsStack(cloudName) && envFile == "" {
		return errf("cloudEnvFileName", "cloudEnvFileName is not provided: cloudName AzureStackCloud needs parameters.cloudEnvFileName, the path of a JSON cloud environment file in the provider container")
	}
	var err error
	if m.Cloud, err = cloudenv.Lookup(cloudName, envFile); err != nil {
		field := "cloudName"
		if cloudenv.IsStack(cloudName) {
			field = "cloudEnvFileName"
		}
		return errf(field, "%v", err)
	}
	return nil
}

func parseIdentity(in *request, im identityModes) (Identity, error) {
	switch {
	case im.pod:
		return Identity{Mode: PodIdentity}, nil
	case im.vm:
		return Identity{Mode: VMManagedIdentity, UserAssignedIdentityID: in.get("userAssignedIdentityID")}, nil
	case im.clientID != "":
		tok, err := federatedToken(in.attrs[AttrServiceAccounts])
		if err != nil {
			return Identity{}, err
		}
		return Identity{Mode: WorkloadIdentity, ClientID: im.clientID, FederatedToken: tok}, nil
	}
	id, secret := "", ""
	for k, v := range in.secrets {
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "clientid":
			id = strings.TrimSpace(v)
		case "clientsecret":
			secret = strings.TrimSpace(v)
		}
	}
	if id == "" {
		return Identity{}, errf("nodePublishSecretRef", "could not find clientid in secrets: set nodePublishSecretRef on the volume to a Secret with keys clientid and clientsecret, or choose another identity mode (useVMManagedIdentity, usePodIdentity, clientID)")
	}
	if secret == "" {
		return Identity{}, errf("nodePublishSecretRef", "could not find clientsecret in secrets: the nodePublishSecretRef Secret needs a clientsecret key")
	}
	return Identity{Mode: ServicePrincipal, ClientID: id, ClientSecret: secret}, nil
}

func (m *Mount) parseObjects(in *request, d Defaults) error {
	raw, ok := in.attrs["objects"]
	if !ok || strings.TrimSpace(raw) == "" {
		return errf("objects", "objects is not set: set parameters.objects to a YAML 'array:' of object documents, each with objectName and objectType")
	}
	var err error
	m.Objects, m.Warnings, err = ParseObjects(raw, in.mode, d.Strict)
	return err
}

// checkVaultName uses upstream's wording, then says the fix.
func checkVaultName(name string) error {
	if l := len(name); l < 3 || l > 24 {
		return errf("keyvaultName", "Invalid vault name: %q, must be between 3 and 24 chars; set keyvaultName to the vault's name, not its URL", name)
	}
	if !vaultNameRE.MatchString(name) {
		return errf("keyvaultName", "Invalid vault name: %q, must match [-a-zA-Z0-9]{3,24}; set keyvaultName to the vault's name, not its URL", name)
	}
	return nil
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
// path traversal (CVE-2020-8567): relative, clean, no "..", not reserved
// (the atomic writer's "..data" and timestamped directories start with ".."),
// short enough. Subdirectories are allowed. Every message names the fix.
func CheckFileName(field, name string) error {
	switch {
	case name == "":
		return errf(field, "%s is empty: every object needs a file name", field)
	case strings.ContainsRune(name, 0):
		return errf(field, "%s %q contains a NUL character: use a plain file name", field, name)
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
	switch {
	case name == ".":
		return errf(field, "%s %q names the mount itself: name a file, e.g. the object's name", field, name)
	case strings.HasPrefix(name, ".."):
		return errf(field, "%s %q starts with '..', which the mount reserves for its ..data link and version directories: remove the leading dots", field, name)
	case path.Clean(name) != name:
		return errf(field, "%s %q is not a clean path: remove '.', '//' and trailing '/' (use %q)", field, name, path.Clean(name))
	}
	return nil
}

// CheckDistinctFiles rejects a file that is also used as a directory by
// another (a vs a/0), which no writer can do. Two files with the same path
// are passed to duplicate (first and last index); a nil duplicate refuses
// them.
func CheckDistinctFiles(paths []string, owner func(i int) string, duplicate func(first, last int) error) error {
	seen := make(map[string]int, len(paths))
	for i, p := range paths {
		if j, ok := seen[p]; ok {
			if duplicate == nil {
				return errf("objectAlias", "%s and %s both write the file %q: give one of them a different objectAlias", owner(j), owner(i), p)
			}
			if err := duplicate(j, i); err != nil {
				return err
			}
		}
		seen[p] = i
	}
	for i, p := range paths {
		for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if j, ok := seen[dir]; ok {
				return errf("objectAlias", "%s writes the file %q, which %s needs as a directory for %q: give one of them a different objectAlias (the driver cannot write both)", owner(j), dir, owner(i), p)
			}
		}
	}
	return nil
}

// DuplicateWarning is the lenient handling of two objects writing one file:
// the last one wins, as with upstream's driver, which writes through a map.
func DuplicateWarning(l *Lenient, paths []string, owner func(i int) string) func(first, last int) error {
	return func(first, last int) error {
		return l.Warn(owner(last), "objectAlias",
			fmt.Sprintf("it writes the file %q, which %s also writes", paths[last], owner(first)),
			"mounted the last one's content",
			"give one of them a different objectAlias, or remove the duplicate")
	}
}
