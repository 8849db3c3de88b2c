package rotation

import "testing"

// TestBrokenGiveUp: off by default (an API failure backs off and is
// retried); broken, the volume is skipped on every later poll, and only
// after an API failure.
func TestBrokenGiveUp(t *testing.T) {
	r := &Rotator{cfg: Config{MaxBackoffTicks: 15}, backoff: map[string]*failState{}}
	r.fail("ns/a")
	r.brokenGiveUp("ns/a", ErrSecretProviderClassGet)
	if r.skip("ns/a") {
		t.Fatal("the hook is on without " + BreakStopAfterAPIErrorEnv)
	}
	breakStopAfterAPIError = true
	defer func() { breakStopAfterAPIError = false }()
	r.fail("ns/b")
	r.brokenGiveUp("ns/b", "Unavailable") // a provider error: backoff as usual
	if r.skip("ns/b") {
		t.Fatal("a provider failure was given up")
	}
	r.fail("ns/c")
	r.brokenGiveUp("ns/c", ErrTokenRequest)
	for i := 0; i < 1000; i++ {
		if !r.skip("ns/c") {
			t.Fatalf("poll %d rotated a volume given up after an apiserver error", i)
		}
	}
}
