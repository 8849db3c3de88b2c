package local

import (
	"os"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/provider/keyvault"
)

// The Key Vault side of the faults/ mutation tests (issue 15): the
// throttling storm, Key Vault errors and latency, and the emulator restart.
// Each breaks one guarantee through a break-on-purpose hook (provider: a
// KVCSI_BREAK_* variable on its DaemonSet; emulator: a variable of this
// process, where the local target runs it, read on its next start), runs
// the one scenario that guards it with runMutation (faults_mutation_test.go)
// and asserts it fails for that reason. TestMutationControlPassesUnbroken
// (faults_mutation_test.go) is their control too.

func TestMutationEmulatorStormEmptiesFiles(t *testing.T) {
	// The provider returns a secret Key Vault still throttles after the
	// retries as empty content: the driver writes an empty file over the
	// mount (rotation) or mounts one (the pods starting in the storm).
	runMutation(t, mutation{
		scenario: "faults/keyvault-throttling-storm",
		set:      setProviderEnv, env: keyvault.BreakEmptyOnThrottleEnv, limit: 8 * time.Minute,
		want: [][]string{
			{"during the storm:", "none of the", "complete versions"},
			{"during the storm:", "/mnt/secrets-store/storm1"},
			{"the steady pod rotated during the storm (0 bytes"},
			{"pods became Ready during the storm"},
		},
	})
}

func TestMutationEmulatorErrorsNotRetried(t *testing.T) {
	// The provider's Key Vault clients do not retry: a single 503 or
	// dropped connection fails the provider's request. (The driver retries
	// an Unavailable provider, so the pods still mount: the first run of
	// this test passed the scenario, which then checked only events; it now
	// checks the provider's own count of failed requests too.)
	runMutation(t, mutation{
		scenario: "faults/keyvault-errors-and-latency",
		set:      setProviderEnv, env: keyvault.BreakNoRetryEnv, limit: 8 * time.Minute,
		want: [][]string{
			{"keyvault_request_count counted", "its retries did not absorb them"},
			{"Warning events say Key Vault failed", "the provider's retries did not absorb them"},
		},
	})
}

func TestMutationEmulatorRestartForgetsState(t *testing.T) {
	// The emulator ignores its state directory when it starts again: every
	// version, soft-deleted object and access-policy change made since its
	// seed is gone after the restart.
	runMutation(t, mutation{
		scenario: "faults/emulator-restart-persists",
		set:      setEmulatorEnv, env: kvemulator.BreakIgnoreStateDirEnv, limit: 5 * time.Minute,
		want: [][]string{{"the emulator's state changed across the restart"}},
	})
}

// setEmulatorEnv sets (value "") or removes a variable of this process: the
// local target runs the emulator in it, and the emulator reads its break
// variable when it starts (the scenario restarts it). Removing it leaves the
// running emulator as it is: started from its seed, which every scenario
// builds on.
func setEmulatorEnv(t *testing.T, _ *Target, name, value string) {
	t.Helper()
	var err error
	if value == "" {
		err = os.Unsetenv(name)
	} else {
		err = os.Setenv(name, value)
	}
	if err != nil {
		t.Fatal(err)
	}
}
