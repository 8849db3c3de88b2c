package faults

import (
	"testing"
	"time"
)

// Retry-After is the time until the window has room again, which depends on
// when the counted requests were made, not always the whole window.
func TestRetryAfterIsTheTimeUntilCapacity(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(Limits{Enabled: true, Window: Duration(10 * time.Second), Secret: 2}, func() time.Time { return now })
	if err := l.Take("kv1", "secret"); err != nil { // t=0
		t.Fatal(err)
	}
	now = now.Add(7 * time.Second)
	if err := l.Take("kv1", "secret"); err != nil { // t=7
		t.Fatal(err)
	}
	now = now.Add(500 * time.Millisecond) // t=7.5: full until the t=0 request leaves at t=10
	err := l.Take("kv1", "secret")
	if err == nil || err.RetryAfter != 3 {
		t.Fatalf("at 7.5 s: %v, want Retry-After 3 (the first request leaves the window at 10 s)", err)
	}
	now = now.Add(time.Duration(err.RetryAfter) * time.Second) // t=10.5
	if err := l.Take("kv1", "secret"); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	// Full again (t=7 and t=10.5): room when the t=7 request leaves, at 17 s.
	if err := l.Take("kv1", "secret"); err == nil || err.RetryAfter != 7 {
		t.Fatalf("at 10.5 s: %v, want Retry-After 7", err)
	}
}
