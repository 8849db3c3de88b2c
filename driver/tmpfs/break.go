package tmpfs

import "os"

// BreakMountTwiceEnv, when set in the driver's environment, breaks Mount on
// purpose for the mutation test of scenario faults/kubelet-restart: a target
// that already is a mount point gets a second tmpfs mounted on top (and is
// filled again) instead of being kept, as a non-idempotent
// NodePublishVolume would do when kubelet publishes again after its
// restart. It exists only for that test; never set it anywhere else.
const BreakMountTwiceEnv = "KVCSI_BREAK_MOUNT_TWICE"

var breakMountTwice = os.Getenv(BreakMountTwiceEnv) != ""
