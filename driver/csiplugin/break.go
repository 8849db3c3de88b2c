package csiplugin

import (
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/driver"
)

// BreakEmptyMountEnv, when set in the driver's environment, breaks
// NodePublishVolume on purpose for the mutation test of scenario
// faults/provider-crash-during-mount: a first publish whose provider cannot
// be reached (its socket missing or refusing connections, as while it
// restarts) reports success and leaves the empty tmpfs mounted, as a driver
// that swallows the provider's error would, so kubelet never retries and
// the pod runs without its files. It exists only for that test; never set
// it anywhere else.
const BreakEmptyMountEnv = "KVCSI_BREAK_EMPTY_MOUNT_WHEN_PROVIDER_DOWN"

var breakEmptyMount = os.Getenv(BreakEmptyMountEnv) != ""

// brokenEmptyMount tells whether the broken driver swallows err, the
// failure of the first fill of a target it mounted just now.
func brokenEmptyMount(err error, mountedNow bool) bool {
	if !breakEmptyMount || !mountedNow {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	case codes.FailedPrecondition:
		return strings.Contains(status.Convert(err).Message(), driver.ErrNoProvider.Error())
	}
	return false
}
