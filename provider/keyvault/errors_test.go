package keyvault

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"google.golang.org/grpc/codes"

	"github.com/kvcsi/kvcsi/provider/auth"
)

func kvError(status int, code, inner string) error {
	body := fmt.Sprintf(`{"error":{"code":%q,"message":"m"}}`, code)
	if inner != "" {
		body = fmt.Sprintf(`{"error":{"code":%q,"message":"m","innererror":{"code":%q}}}`, code, inner)
	}
	req, _ := http.NewRequest(http.MethodGet, "https://kv1.vault.azure.net/secrets/s/", nil)
	resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: req}
	return runtime.NewResponseError(resp)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
		msg    string
	}{
		{"404", kvError(404, "SecretNotFound", ""), codes.NotFound, "not_found", "check objectName"},
		{"vault not found", kvError(404, "VaultNotFound", ""), codes.NotFound, "vault_not_found", `key vault "kv1" does not exist`},
		{"403", kvError(403, "Forbidden", "AccessDenied"), codes.PermissionDenied, "forbidden", "grant this identity get"},
		{"disabled", kvError(403, "Forbidden", "SecretDisabled"), codes.PermissionDenied, "disabled", "is disabled"},
		{"401", kvError(401, "Unauthorized", ""), codes.Unauthenticated, "unauthorized", "tenantID"},
		{"429", kvError(429, "Throttled", ""), codes.ResourceExhausted, "throttled", "after retries"},
		{"503", kvError(503, "ServiceUnavailable", ""), codes.Unavailable, "server_error", "retry later"},
		{"400", kvError(400, "BadParameter", ""), codes.InvalidArgument, "bad_request", "objectVersion"},
		{"409 deleted", kvError(409, "Conflict", "ObjectIsDeletedButRecoverable"), codes.FailedPrecondition, "conflict", "recovered"},
		{"vault DNS", fmt.Errorf("GET: %w", &net.DNSError{Err: "no such host", Name: "kv1.vault.azure.net", IsNotFound: true}), codes.NotFound, "vault_not_found", "does not resolve; check keyvaultName and cloudName"},
		{"other DNS", &net.DNSError{Err: "no such host", Name: "login.example", IsNotFound: true}, codes.Unavailable, "dns", "login.example"},
		{"connection refused", &net.OpError{Op: "dial", Err: fmt.Errorf("connection refused")}, codes.Unavailable, "network", "kv1"},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline", "deadline passed"},
		{"tenant mismatch", fmt.Errorf(`ClientSecretCredential isn't configured to acquire tokens for tenant "1111". To enable…`), codes.InvalidArgument, "tenant_mismatch", `belongs to tenant 1111`},
		{"canceled", context.Canceled, codes.Canceled, "canceled", "canceled"},
		{"NMI refusal", &auth.NMIError{Msg: "pod identity: NMI returned HTTP 403", Status: 403}, codes.PermissionDenied, "pod_identity", "NMI"},
		{"NMI down", &auth.NMIError{Msg: "pod identity: unreachable", Unavailable: true}, codes.Unavailable, "pod_identity", "unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Classify(tc.err, "kv1")
			if f.Code != tc.code || f.Reason != tc.reason || !strings.Contains(f.Msg, tc.msg) {
				t.Fatalf("got %v %q %q; want %v %q containing %q", f.Code, f.Reason, f.Msg, tc.code, tc.reason, tc.msg)
			}
			if strings.Contains(f.Msg, "\n") {
				t.Fatalf("multi-line message: %q", f.Msg)
			}
		})
	}
}

func TestShouldRetry(t *testing.T) {
	if shouldRetry(nil, &net.DNSError{IsNotFound: true, Name: "kv.vault.azure.net"}) {
		t.Error("a vault that does not resolve is retried")
	}
	if !shouldRetry(nil, &net.OpError{Op: "dial", Err: fmt.Errorf("refused")}) {
		t.Error("a network error is not retried")
	}
	for code, want := range map[int]bool{408: true, 429: true, 500: true, 503: true, 504: true, 404: false, 403: false, 401: false} {
		if got := shouldRetry(&http.Response{StatusCode: code}, nil); got != want {
			t.Errorf("status %d: retry %v, want %v", code, got, want)
		}
	}
}
