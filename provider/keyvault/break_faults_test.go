package keyvault

import (
	"net/http"
	"os"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/kvcsi/kvcsi/provider/params"
)

// The break-on-purpose hooks are off unless their variable is set: a
// throttled secret stays an error and the retries stay as configured.
func TestFaultBreakHooksOffByDefault(t *testing.T) {
	if os.Getenv(BreakEmptyOnThrottleEnv) != "" || os.Getenv(BreakNoRetryEnv) != "" {
		t.Skip("a break-on-purpose variable is set in this environment")
	}
	throttled := &azcore.ResponseError{StatusCode: http.StatusTooManyRequests}
	if it := brokenEmptyItem(params.TypeSecret, throttled); it != nil {
		t.Fatalf("a 429 became an item without the hook: %+v", it)
	}
	if n := brokenMaxRetries(3); n != 3 {
		t.Fatalf("MaxRetries = %d without the hook, want 3", n)
	}
	breakEmptyOnThrottle, breakNoRetry = true, true
	defer func() { breakEmptyOnThrottle, breakNoRetry = false, false }()
	if it := brokenEmptyItem(params.TypeSecret, throttled); it == nil || it.Secret == nil || it.Secret.Value != "" {
		t.Fatalf("with the hook a 429 must become an empty secret: %+v", it)
	}
	if it := brokenEmptyItem(params.TypeSecret, &azcore.ResponseError{StatusCode: http.StatusForbidden}); it != nil {
		t.Fatal("the hook must leave a 403 an error")
	}
	if n := brokenMaxRetries(3); n != -1 {
		t.Fatalf("MaxRetries = %d with the hook, want -1 (no retry)", n)
	}
}
