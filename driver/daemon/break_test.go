package daemon

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBrokenNeverReconnect: off by default; broken, the first connection
// failure makes every later request fail, also once the apiserver answers.
func TestBrokenNeverReconnect(t *testing.T) {
	up := false
	next := rtFunc(func(*http.Request) (*http.Response, error) {
		if up {
			return &http.Response{StatusCode: 200}, nil
		}
		return nil, errors.New("dial tcp: connect: connection refused")
	})
	req, _ := http.NewRequest(http.MethodGet, "https://apiserver/api", nil)
	if _, wrapped := brokenNeverReconnect(next).(*stickyFailure); wrapped {
		t.Fatal("the hook wraps the transport without " + BreakAPIServerNeverReconnectEnv)
	}
	breakNeverReconnect = true
	defer func() { breakNeverReconnect = false }()
	rt := brokenNeverReconnect(next)
	up = true
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatalf("before any failure: %v", err)
	}
	up = false
	if _, err := rt.RoundTrip(req); err == nil {
		t.Fatal("the apiserver down: no error")
	}
	up = true
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "lost for good") {
		t.Fatalf("after the apiserver is back = %v, want the sticky failure", err)
	}
}
