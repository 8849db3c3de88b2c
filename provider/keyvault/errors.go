package keyvault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/auth"
)

// Failure is a classified fetch error: a gRPC code, a short reason for
// metric labels and the response's error.code, and a message that says what
// to check. Messages never contain object content or tokens.
type Failure struct {
	Code   codes.Code
	Reason string
	Msg    string
}

func (f *Failure) Error() string { return f.Msg }

// Classify maps an error from a Key Vault or token request to a Failure.
// vault names the vault in messages.
func Classify(err error, vault string) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	var re *azcore.ResponseError
	var afe *azidentity.AuthenticationFailedError
	var nmi *auth.NMIError
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Failure{codes.DeadlineExceeded, "deadline", fmt.Sprintf("the Mount deadline passed before key vault %q answered: check the vault's reachability and throttling", vault)}
	case errors.Is(err, context.Canceled):
		return &Failure{codes.Canceled, "canceled", "the Mount was canceled"}
	case errors.As(err, &afe):
		st := 0
		if afe.RawResponse != nil {
			st = afe.RawResponse.StatusCode
		}
		if st == 0 || st >= 500 {
			return &Failure{codes.Unavailable, "auth_unavailable", "cannot get a token from Entra ID: " + firstLine(err) + "; check the cloud's activeDirectoryEndpoint and network access"}
		}
		return &Failure{codes.Unauthenticated, "auth_failed", fmt.Sprintf("Entra ID refused to issue a token (HTTP %d): %s; check the identity's client id, secret or federation, and tenantID", st, aadCode(afe.RawResponse))}
	case strings.Contains(err.Error(), "ManagedIdentityCredential"):
		return &Failure{codes.Unavailable, "identity_unavailable", "managed identity is unavailable: " + firstLine(err) + "; check that the node has the identity assigned and IMDS is reachable"}
	case errors.As(err, &nmi):
		if nmi.Status == http.StatusForbidden || nmi.Status == http.StatusNotFound {
			return &Failure{codes.PermissionDenied, "pod_identity", nmi.Msg}
		}
		return &Failure{codes.Unavailable, "pod_identity", nmi.Msg}
	case errors.As(err, &re):
		return classifyResponse(re, vault)
	case strings.Contains(err.Error(), "isn't configured to acquire tokens for tenant"):
		t := "another tenant"
		if m := tenantRE.FindStringSubmatch(err.Error()); m != nil {
			t = "tenant " + m[1]
		}
		return &Failure{codes.InvalidArgument, "tenant_mismatch", fmt.Sprintf("key vault %q belongs to %s, not to the tenantID given: set tenantID to the vault's tenant", vault, t)}
	case errors.As(err, &dns) && dns.IsNotFound:
		if vault != "" && strings.HasPrefix(dns.Name, vault+".") {
			return &Failure{codes.NotFound, "vault_not_found", fmt.Sprintf("key vault %q does not exist: its DNS name %s does not resolve; check keyvaultName and cloudName", vault, dns.Name)}
		}
		return &Failure{codes.Unavailable, "dns", fmt.Sprintf("the host %s does not resolve: check the cloud's endpoints and the node's DNS", dns.Name)}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &Failure{codes.Unavailable, "network", "network error talking to key vault " + quote(vault) + ": " + firstLine(err)}
	}
	return &Failure{codes.Internal, "internal", firstLine(err)}
}

var tenantRE = regexp.MustCompile(`for tenant "([^"]+)"`)

func quote(s string) string { return fmt.Sprintf("%q", s) }

func classifyResponse(re *azcore.ResponseError, vault string) *Failure {
	code := re.ErrorCode
	inner := innerCode(re.RawResponse)
	detail := fmt.Sprintf("(HTTP %d %s", re.StatusCode, code)
	if inner != "" {
		detail += "/" + inner
	}
	detail += ")"
	switch {
	case re.StatusCode == http.StatusNotFound && code == "VaultNotFound":
		return &Failure{codes.NotFound, "vault_not_found", fmt.Sprintf("key vault %q does not exist %s: check keyvaultName and cloudName", vault, detail)}
	case re.StatusCode == http.StatusNotFound:
		return &Failure{codes.NotFound, "not_found", fmt.Sprintf("not found in key vault %q %s: check objectName, objectType and objectVersion", vault, detail)}
	case re.StatusCode == http.StatusForbidden && strings.HasSuffix(inner, "Disabled"):
		return &Failure{codes.PermissionDenied, "disabled", fmt.Sprintf("the object is disabled in key vault %q %s: enable it or pin an enabled objectVersion", vault, detail)}
	case re.StatusCode == http.StatusForbidden:
		return &Failure{codes.PermissionDenied, "forbidden", fmt.Sprintf("the identity may not read it from key vault %q %s: grant this identity get (and list, for objectVersionHistory) on the object type by access policy or RBAC role", vault, detail)}
	case re.StatusCode == http.StatusUnauthorized:
		return &Failure{codes.Unauthenticated, "unauthorized", fmt.Sprintf("key vault %q rejected the token %s: check tenantID is the vault's tenant", vault, detail)}
	case re.StatusCode == http.StatusTooManyRequests:
		return &Failure{codes.ResourceExhausted, "throttled", fmt.Sprintf("key vault %q throttled the requests after retries %s: lower the request rate (fewer pods or objects per vault, longer rotation interval)", vault, detail)}
	case re.StatusCode >= 500 || re.StatusCode == http.StatusRequestTimeout:
		return &Failure{codes.Unavailable, "server_error", fmt.Sprintf("key vault %q failed after retries %s: retry later", vault, detail)}
	case re.StatusCode == http.StatusConflict:
		return &Failure{codes.FailedPrecondition, "conflict", fmt.Sprintf("key vault %q refused it %s: a deleted object must be recovered first", vault, detail)}
	case re.StatusCode == http.StatusBadRequest:
		return &Failure{codes.InvalidArgument, "bad_request", fmt.Sprintf("key vault %q rejected the request %s: check objectName and objectVersion", vault, detail)}
	default:
		return &Failure{codes.FailedPrecondition, "http_" + fmt.Sprint(re.StatusCode), fmt.Sprintf("key vault %q refused the request %s", vault, detail)}
	}
}

// innerCode reads error.innererror.code from a Key Vault error body.
func innerCode(resp *http.Response) string {
	if resp == nil || resp.Body == nil {
		return ""
	}
	b, err := runtime.Payload(resp)
	if err != nil {
		return ""
	}
	var e struct {
		Error struct {
			Inner *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error.Inner == nil {
		return ""
	}
	return e.Error.Inner.Code
}

// aadCode extracts the AADSTS code of a token error, or "no detail".
func aadCode(resp *http.Response) string {
	if resp == nil || resp.Body == nil {
		return "no detail"
	}
	b, _ := runtime.Payload(resp)
	var e struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
		Codes []int  `json:"error_codes"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		return "no detail"
	}
	s := e.Error
	if e.Desc != "" {
		s += ": " + firstLineOf(e.Desc)
	}
	return s
}

func firstLine(err error) string { return firstLineOf(err.Error()) }

func firstLineOf(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
