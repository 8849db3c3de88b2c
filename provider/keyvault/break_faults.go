package keyvault

import (
	"errors"
	"net/http"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/kvcsi/kvcsi/provider/params"
	"github.com/kvcsi/kvcsi/provider/render"
)

// Break-on-purpose hooks for the mutation tests of the faults/ scenarios
// (scenarios/target/local/faults_mutation_emulator_test.go). They exist only
// so those tests can show that a scenario fails when the guarantee it proves
// is broken; each is off unless its variable is "1" in the provider's
// environment. Never set them outside those tests.
const (
	// BreakEmptyOnThrottleEnv: a secret Key Vault still answers 429 or 503
	// after the retries is returned as an object with no content (and no
	// version), as a provider that mistakes "no answer" for "empty" would,
	// so the driver writes an empty file over the mounted one.
	// faults/keyvault-throttling-storm must fail.
	BreakEmptyOnThrottleEnv = "KVCSI_BREAK_EMPTY_ON_THROTTLE"
	// BreakNoRetryEnv: the Key Vault clients make one attempt per request
	// (azcore MaxRetries < 0), so a single 503 or dropped connection fails
	// a mount or a rotation. faults/keyvault-errors-and-latency must fail.
	BreakNoRetryEnv = "KVCSI_BREAK_NO_KEYVAULT_RETRY"
)

var (
	breakEmptyOnThrottle = os.Getenv(BreakEmptyOnThrottleEnv) == "1"
	breakNoRetry         = os.Getenv(BreakNoRetryEnv) == "1"
)

// brokenEmptyItem is the item BreakEmptyOnThrottleEnv returns instead of
// err, or nil when the hook is off or err is not a 429/503.
func brokenEmptyItem(typ string, err error) *Item {
	var re *azcore.ResponseError
	if !breakEmptyOnThrottle || typ != params.TypeSecret || !errors.As(err, &re) ||
		(re.StatusCode != http.StatusTooManyRequests && re.StatusCode != http.StatusServiceUnavailable) {
		return nil
	}
	return &Item{Secret: &render.Secret{}}
}

// brokenMaxRetries is maxRetries, or -1 (no retry) under BreakNoRetryEnv.
func brokenMaxRetries(maxRetries int32) int32 {
	if breakNoRetry {
		return -1
	}
	return maxRetries
}
