package server

import "os"

// BreakSkipFailedObjectsEnv, when set in the provider's environment, breaks
// Mount on purpose for the mutation test of scenario
// faults/partial-provider-failure: an object that fails (403, 404, a
// throttled read) is left out and the Mount succeeds with the others, as a
// provider that returns whatever it could fetch would, so a rotation writes
// an incomplete set and the failure is never reported. It exists only for
// that test; never set it anywhere else.
const BreakSkipFailedObjectsEnv = "KVCSI_BREAK_SKIP_FAILED_OBJECTS"

var breakSkipFailedObjects = os.Getenv(BreakSkipFailedObjectsEnv) != ""

// brokenSkipFailed is the broken assembly: each failed object's result
// replaced by an empty one (no files, no version).
func brokenSkipFailed(results []objectResult) []objectResult {
	if !breakSkipFailedObjects {
		return results
	}
	out := make([]objectResult, len(results))
	for i, r := range results {
		if r.err == nil {
			out[i] = r
		}
	}
	return out
}
