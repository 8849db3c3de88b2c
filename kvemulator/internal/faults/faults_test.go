package faults

import (
	"strings"
	"testing"
	"time"
)

func TestLimiterSlidingWindow(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(Limits{Enabled: true, Window: Duration(10 * time.Second), Secret: 3, Key: 1}, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if err := l.Take("kv1", "secret"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	err := l.Take("kv1", "secret")
	if err == nil || err.Status != 429 || err.Code != "Throttled" || err.RetryAfter < 1 {
		t.Fatalf("4th request: %v", err)
	}
	// Throttled requests do not count, other vaults and classes are separate.
	if err := l.Take("kv2", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := l.Take("kv1", "key"); err != nil {
		t.Fatal(err)
	}
	if err := l.Take("kv1", "keyCreate"); err != nil {
		t.Fatal("keyCreate limit 0 means unlimited")
	}
	now = now.Add(5 * time.Second)
	if err := l.Take("kv1", "secret"); err == nil {
		t.Fatal("still inside the window")
	}
	now = now.Add(6 * time.Second)
	if err := l.Take("kv1", "secret"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	l.Set(Limits{Enabled: false, Window: Duration(time.Second), Secret: 1})
	for i := 0; i < 10; i++ {
		if err := l.Take("kv1", "secret"); err != nil {
			t.Fatal("disabled limits must not throttle")
		}
	}
}

func TestLimiterSubscriptionWide(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLimiter(Limits{Enabled: true, Window: Duration(10 * time.Second), Secret: 2}, func() time.Time { return now })
	// Five vaults at their own limit use up the 5× subscription limit.
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		for i := 0; i < 2; i++ {
			if err := l.Take(v, "secret"); err != nil {
				t.Fatalf("%s: %v", v, err)
			}
		}
	}
	if err := l.Take("f", "secret"); err == nil {
		t.Fatal("a sixth vault must hit the subscription-wide limit")
	}
}

func TestFaultRulesMatchAndRetire(t *testing.T) {
	var fs Faults
	for _, bad := range []Fault{{Status: 404}, {}, {Status: 500, Drop: true}, {Latency: -1}} {
		if _, err := fs.Add(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := fs.Add(Fault{Vault: "kv1", Op: "GetSecret", Status: 503, Count: 2}); err != nil {
		t.Fatal(err)
	}
	if _, ok := fs.match("kv2", "x", "GetSecret"); ok {
		t.Fatal("other vault matched")
	}
	if _, ok := fs.match("kv1", "x", "SetSecret"); ok {
		t.Fatal("other op matched")
	}
	for i := 0; i < 2; i++ {
		if f, ok := fs.match("kv1", "x", "GetSecret"); !ok || f.Status != 503 {
			t.Fatalf("hit %d: %+v %v", i, f, ok)
		}
	}
	if _, ok := fs.match("kv1", "x", "GetSecret"); ok || len(fs.List()) != 0 {
		t.Fatal("rule must retire after Count hits")
	}
}

// The counter map stays bounded whatever the keys, and no count is lost.
func TestCountersAreBounded(t *testing.T) {
	c := Counters{Max: 100}
	for i := range 5000 {
		c.Add(CounterKey{Vault: "kv1", Object: strings.Repeat("x", i), Op: "GetSecret", Status: i})
	}
	if n := c.Len(); n > 100+overflowKeys+1 {
		t.Fatalf("%d keys, want at most %d", n, 100+overflowKeys+1)
	}
	var total int64
	overflow := false
	for _, x := range c.List() {
		total += x.Count
		overflow = overflow || x.Op == OverflowOp
		if len(x.Object) > 100 {
			t.Fatalf("an object name counted after the map was full (%d bytes)", len(x.Object))
		}
	}
	if total != 5000 || !overflow {
		t.Fatalf("total %d (want 5000), overflow key %v", total, overflow)
	}
}
