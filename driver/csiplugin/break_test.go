package csiplugin

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestBrokenEmptyMountOnlyWhenBrokenAndProviderDown: the hook swallows only a
// first publish's "provider unreachable", and only when broken on purpose.
func TestBrokenEmptyMountOnlyWhenBrokenAndProviderDown(t *testing.T) {
	down := status.Error(codes.Unavailable, "connection refused")
	noSock := status.Error(codes.FailedPrecondition, "provider not found: no socket for provider \"azure\"")
	denied := status.Error(codes.PermissionDenied, "403")
	if brokenEmptyMount(down, true) {
		t.Fatal("the hook is on without " + BreakEmptyMountEnv)
	}
	breakEmptyMount = true
	defer func() { breakEmptyMount = false }()
	for _, c := range []struct {
		err     error
		mounted bool
		want    bool
	}{{down, true, true}, {noSock, true, true}, {denied, true, false}, {down, false, false}} {
		if got := brokenEmptyMount(c.err, c.mounted); got != c.want {
			t.Errorf("brokenEmptyMount(%v, mountedNow=%v) = %v, want %v", c.err, c.mounted, got, c.want)
		}
	}
}
