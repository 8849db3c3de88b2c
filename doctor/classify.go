package doctor

import (
	"regexp"
	"strings"
)

// Diagnosis is a classified mount failure.
type Diagnosis struct {
	// Kind is short: "class not found", "provider unreachable", "not found",
	// "permission denied", "throttled", "token exchange failed",
	// "invalid parameter", "unclassified".
	Kind  string
	Cause string
	Fix   string
}

var (
	aadstsRE = regexp.MustCompile(`AADSTS\d+`)
	fieldRE  = regexp.MustCompile(`\b(objects|objectName|objectType|objectVersion|objectAlias|objectFormat|objectEncoding|objectVersionHistory|filePermission|keyvaultName|tenantI[dD]|usePodIdentity|useVMManagedIdentity|userAssignedIdentityID|clientID|cloudName|cloudEnvFileName|nodePublishSecretRef|secretObjects|spec\.provider)\b`)
	vaultRE  = regexp.MustCompile(`key vault "([^"]+)"`)
)

// Classify explains an event message (FailedMount and the driver's rotation
// and sync events). classes are the pod's parsed classes, used to name the
// identity and the vault.
func Classify(msg string, classes []*classInfo) Diagnosis {
	low := strings.ToLower(msg)
	identity, vault := "the class's identity", "the vault"
	for _, ci := range classes {
		if ci != nil && ci.mount != nil {
			identity, vault = ci.identity, ci.mount.KeyVaultName
			break
		}
	}
	if m := vaultRE.FindStringSubmatch(msg); m != nil {
		vault = m[1]
	}
	switch {
	case strings.Contains(low, "failed to get secretproviderclass") || (strings.Contains(low, "secretproviderclass") && strings.Contains(low, "not found")):
		return Diagnosis{"class not found", "the driver could not read the SecretProviderClass the volume names", "create the class in the pod's namespace or correct volumeAttributes.secretProviderClass (kvcsi doctor class <ns>/<name>)"}
	case strings.Contains(low, "no socket for provider") || strings.Contains(low, "dial provider") || (strings.Contains(low, "provider") && (strings.Contains(low, "connection refused") || strings.Contains(low, "unavailable"))):
		return Diagnosis{"provider unreachable", "the driver could not reach the azure provider on the node (its socket is missing or does not answer)", "make the provider pod on the node Running and ready (see the provider check); the kubelet retries the mount"}
	case aadstsRE.MatchString(msg) || strings.Contains(low, "entra id refused") || strings.Contains(low, "token exchange"):
		code := aadstsRE.FindString(msg)
		if code == "" {
			code = "no AADSTS code"
		}
		return Diagnosis{"token exchange failed (" + code + ")", "Entra ID refused a token for " + identity + " (" + code + ")", tokenFix(code, identity)}
	case strings.Contains(low, "throttled") || strings.Contains(low, "http 429") || strings.Contains(low, "resourceexhausted") || strings.Contains(low, "too many requests"):
		return Diagnosis{"throttled", "key vault " + vault + " throttled the requests (HTTP 429)", "lower the request rate: fewer pods or objects per vault, a longer --rotation-poll-interval, or split the objects over vaults"}
	case strings.Contains(low, "may not read") || strings.Contains(low, "permissiondenied") || strings.Contains(low, "forbidden") || strings.Contains(low, "http 403"):
		return Diagnosis{"permission denied", identity + " may not read from key vault " + vault,
			"grant " + identity + " get on the object type in key vault " + vault + " (access policy, or the Key Vault Secrets User / Certificate User / Crypto User role)"}
	case strings.Contains(low, "not found in key vault") || strings.Contains(low, "does not exist") || strings.Contains(low, "notfound") || strings.Contains(low, "http 404"):
		return Diagnosis{"not found", "an object the class names is not in key vault " + vault + " (or the vault does not exist)", "check objectName, objectType and objectVersion against the vault (az keyvault secret list --vault-name " + vault + "), and keyvaultName"}
	case strings.Contains(low, "invalidargument") || strings.Contains(low, "failed to unmarshal") || strings.Contains(low, "is not provided") || strings.Contains(low, "invalid "):
		field := ""
		for _, f := range fieldRE.FindAllString(msg, -1) {
			if field == "" || field == "objects" {
				field = f // the most specific field named
			}
		}
		if field == "" {
			field = "a parameter"
		}
		return Diagnosis{"invalid parameter " + field, "the provider rejected the class: " + field + " is invalid", fixForField(field, "<ns>", "<class>")}
	}
	return Diagnosis{"unclassified", "the mount failed: " + firstLine(msg), "kubectl -n kube-system logs the driver and provider pods on the node"}
}

func tokenFix(code, identity string) string {
	switch code {
	case "AADSTS70021", "AADSTS700211", "AADSTS700213":
		return "the federated credential of " + identity + " does not match the service account token: its issuer must be the cluster's OIDC issuer and its subject system:serviceaccount:<namespace>:<service account>"
	case "AADSTS700016":
		return "the client id is not an application in the tenant: check clientID/userAssignedIdentityID and tenantID"
	case "AADSTS90002":
		return "the tenant does not exist: check tenantID"
	case "AADSTS7000215":
		return "the client secret is wrong or expired: update clientsecret in the nodePublishSecretRef Secret"
	}
	return "check the identity's client id, tenantID and its credential or federation for " + identity
}
