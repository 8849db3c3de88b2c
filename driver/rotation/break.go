package rotation

import (
	"math"
	"os"
)

// BreakStopAfterAPIErrorEnv, when set in the driver's environment, breaks
// rotation on purpose for the mutation test of scenario
// faults/apiserver-outage-during-rotation: a volume whose rotation failed
// on a Kubernetes API call (reading the SecretProviderClass or the
// CSIDriver, writing the pod status or a synced Secret) is given up for
// good instead of being retried with backoff, as a driver that takes an
// apiserver outage for a permanent error would. It exists only for that
// test; never set it anywhere else.
const BreakStopAfterAPIErrorEnv = "KVCSI_BREAK_ROTATION_STOPS_AFTER_APISERVER_ERROR"

var breakStopAfterAPIError = os.Getenv(BreakStopAfterAPIErrorEnv) != ""

// brokenGiveUp is the broken backoff: after a failure of errType on an API
// call, the volume key is skipped on every later poll.
func (r *Rotator) brokenGiveUp(key, errType string) {
	if !breakStopAfterAPIError {
		return
	}
	switch errType {
	case ErrSecretProviderClassGet, ErrTokenRequest, ErrPodStatusUpdate, ErrSecretSync:
	default:
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.backoff[key]; ok {
		s.skip = math.MaxInt
	}
}
