// Package faults holds the emulator's run-time knobs: request counters,
// injected fault rules and the service's throttling limits.
package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
)

func itoa(i int) string { return strconv.Itoa(i) }

// CounterKey identifies one request counter. Identity is the seed name of the
// caller (or its app id), "" before authentication.
type CounterKey struct {
	Vault    string `json:"vault"`
	Object   string `json:"object,omitempty"`
	Op       string `json:"op"`
	Identity string `json:"identity,omitempty"`
	Status   int    `json:"status"`
}

// Counter is one row of the counters the admin API returns.
type Counter struct {
	CounterKey
	Count int64 `json:"count"`
}

type Counters struct {
	mu sync.Mutex
	m  map[CounterKey]int64
	// Max bounds the distinct keys (0: DefaultMaxCounterKeys).
	Max int
}

func (c *Counters) Add(k CounterKey) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[CounterKey]int64{}
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max() {
		// Full: a new key is counted under its op and status only, then under
		// one overflow key, so the map stays bounded whatever the requests name.
		k = CounterKey{Op: k.Op, Status: k.Status}
		if _, ok := c.m[k]; !ok && len(c.m) >= c.max()+overflowKeys {
			k = CounterKey{Op: OverflowOp}
		}
	}
	c.m[k]++
	c.mu.Unlock()
}

// Len is the number of distinct counter keys.
func (c *Counters) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// DefaultMaxCounterKeys bounds the counter map; OverflowOp names the key that
// counts what arrives once it and its op/status reserve are full.
const (
	DefaultMaxCounterKeys = 10000
	overflowKeys          = 1000
	OverflowOp            = "CounterOverflow"
)

func (c *Counters) max() int {
	if c.Max > 0 {
		return c.Max
	}
	return DefaultMaxCounterKeys
}

func (c *Counters) List() []Counter {
	c.mu.Lock()
	out := make([]Counter, 0, len(c.m))
	for k, n := range c.m {
		out = append(out, Counter{k, n})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Vault != b.Vault {
			return a.Vault < b.Vault
		}
		if a.Object != b.Object {
			return a.Object < b.Object
		}
		if a.Op != b.Op {
			return a.Op < b.Op
		}
		if a.Identity != b.Identity {
			return a.Identity < b.Identity
		}
		return a.Status < b.Status
	})
	return out
}

func (c *Counters) Reset() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// Duration is a time.Duration that reads and writes as "1.5s" in JSON/YAML.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("a duration is a string like \"500ms\" or \"2s\": %v", err)
		}
		*d = Duration(time.Duration(n))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %v; use e.g. \"500ms\" or \"2s\"", s, err)
	}
	*d = Duration(v)
	return nil
}

// Fault is an injected failure. Empty Vault/Object/Op match anything. Status
// (429 or 5xx) answers with that error; Latency delays the request first;
// Drop closes the connection without an answer. Count > 0 applies the rule to
// that many matching requests and then retires it.
type Fault struct {
	ID         string   `json:"id,omitempty"`
	Vault      string   `json:"vault,omitempty"`
	Object     string   `json:"object,omitempty"`
	Op         string   `json:"op,omitempty"`
	Latency    Duration `json:"latency,omitempty"`
	Status     int      `json:"status,omitempty"`
	RetryAfter int      `json:"retryAfter,omitempty"` // seconds, for Status 429/503
	Drop       bool     `json:"drop,omitempty"`
	Count      int      `json:"count,omitempty"`
	Applied    int      `json:"applied,omitempty"`
}

func (f *Fault) validate() error {
	if f.Status != 0 && f.Status != 429 && (f.Status < 500 || f.Status > 599) {
		return fmt.Errorf("fault status %d: use 429 or a 5xx status", f.Status)
	}
	if f.Status == 0 && !f.Drop && f.Latency <= 0 {
		return fmt.Errorf("fault has no effect: set status (429/5xx), latency or drop")
	}
	if f.Status != 0 && f.Drop {
		return fmt.Errorf("fault sets both status and drop: choose one")
	}
	if f.Count < 0 || f.RetryAfter < 0 || f.Latency < 0 {
		return fmt.Errorf("fault count, retryAfter and latency must not be negative")
	}
	return nil
}

type Faults struct {
	mu    sync.Mutex
	rules []*Fault
	next  int
}

func (fs *Faults) Add(f Fault) (Fault, error) {
	if err := f.validate(); err != nil {
		return f, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	f.ID = "f" + itoa(fs.next)
	f.Applied = 0
	fs.rules = append(fs.rules, &f)
	return f, nil
}

func (fs *Faults) List() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.rules))
	for _, f := range fs.rules {
		out = append(out, *f)
	}
	return out
}

func (fs *Faults) Remove(id string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.rules {
		if f.ID == id {
			fs.rules = append(fs.rules[:i], fs.rules[i+1:]...)
			return true
		}
	}
	return false
}

func (fs *Faults) Clear() {
	fs.mu.Lock()
	fs.rules = nil
	fs.mu.Unlock()
}

// match returns a copy of the first rule for the request and counts it.
func (fs *Faults) match(vault, object, op string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.rules {
		if (f.Vault == "" || f.Vault == vault) && (f.Object == "" || f.Object == object) && (f.Op == "" || f.Op == op) {
			f.Applied++
			cp := *f
			if f.Count > 0 && f.Applied >= f.Count {
				fs.rules = append(fs.rules[:i], fs.rules[i+1:]...)
			}
			return cp, true
		}
	}
	return Fault{}, false
}

// apply injects a matching fault; it reports whether the request was answered
// (or dropped) and must not continue.
func (fs *Faults) Apply(w http.ResponseWriter, r *http.Request, vault, object, op string) bool {
	f, ok := fs.match(vault, object, op)
	if !ok {
		return false
	}
	if f.Latency > 0 {
		select {
		case <-time.After(time.Duration(f.Latency)):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case f.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		// HTTP/2 and wrapped writers cannot be hijacked: abort the stream.
		panic(http.ErrAbortHandler)
	case f.Status == http.StatusTooManyRequests:
		e := kverr.ErrThrottled(max(f.RetryAfter, 1))
		w.Header().Set("Retry-After", itoa(e.RetryAfter))
		kverr.WriteJSON(w, e.Status, e)
		return true
	case f.Status != 0:
		e := &kverr.APIError{Status: f.Status, Code: http.StatusText(f.Status), Message: "Injected fault " + f.ID + "."}
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", itoa(f.RetryAfter))
		}
		kverr.WriteJSON(w, e.Status, e)
		return true
	}
	return false
}

// Limits are the per-vault throttling thresholds: transactions per Window for
// each class. The defaults are the service's published limits.
type Limits struct {
	Enabled   bool     `json:"enabled"`
	Window    Duration `json:"window"`
	Secret    int      `json:"secret"`    // secrets, certificates, vault transactions
	Key       int      `json:"key"`       // software key operations other than create
	KeyCreate int      `json:"keyCreate"` // software RSA-2048/EC key creation
}

// DefaultLimits are the published Key Vault limits per vault per 10 s.
func DefaultLimits() Limits {
	return Limits{Enabled: true, Window: Duration(10 * time.Second), Secret: 4000, Key: 4000, KeyCreate: 20}
}

func (l Limits) Validate() error {
	if l.Window <= 0 {
		return fmt.Errorf("limits.window must be positive, e.g. \"10s\"")
	}
	if l.Secret < 0 || l.Key < 0 || l.KeyCreate < 0 {
		return fmt.Errorf("limits must not be negative (0 means unlimited for that class)")
	}
	return nil
}

// limiter counts transactions per vault and class in a sliding window of ten
// slots. Throttled requests do not count, as in the service.
type Limiter struct {
	mu      sync.Mutex
	lim     Limits
	windows map[string]*window
	now     func() time.Time
}

type window struct {
	slots [10]int
	stamp [10]int64
}

func (l *Limiter) Set(lim Limits) {
	l.mu.Lock()
	l.lim = lim
	l.windows = nil
	l.mu.Unlock()
}

func (l *Limiter) Get() Limits {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lim
}

func (l *Limiter) Take(vault, class string) *kverr.APIError {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lim.Enabled {
		return nil
	}
	max := map[string]int{"secret": l.lim.Secret, "key": l.lim.Key, "keyCreate": l.lim.KeyCreate}[class]
	if max <= 0 {
		return nil
	}
	if l.windows == nil {
		l.windows = map[string]*window{}
	}
	slot := time.Duration(l.lim.Window) / 10
	if slot <= 0 {
		slot = time.Millisecond
	}
	nowNs := l.now().UnixNano()
	now := nowNs / int64(slot)
	// The vault's own limit, and the subscription-wide one (every vault of
	// the emulator) at 5× the per-vault limit, as the service enforces.
	vw, sw := l.window(vault+"\x00"+class), l.window("\x00"+class)
	if vw.total(now) >= max || sw.total(now) >= 5*max {
		// Retry-After is when the window has room again: the oldest slots
		// that must age out first, not the whole window.
		free := max64(vw.freeAt(now, max), sw.freeAt(now, 5*max))
		wait := time.Duration(free*int64(slot) - nowNs)
		return kverr.ErrThrottled(max1(int((wait + time.Second - 1) / time.Second)))
	}
	vw.add(now)
	sw.add(now)
	return nil
}

func (l *Limiter) window(k string) *window {
	w := l.windows[k]
	if w == nil {
		w = &window{}
		l.windows[k] = w
	}
	return w
}

func (w *window) total(now int64) int {
	total := 0
	for i := range w.slots {
		if now-w.stamp[i] < 10 {
			total += w.slots[i]
		}
	}
	return total
}

// freeAt is the slot at which the window's total drops below limit (now
// when it already is): slots leave the window ten slots after their own.
func (w *window) freeAt(now int64, limit int) int64 {
	total := w.total(now)
	if total < limit {
		return now
	}
	var live []int
	for i := range w.slots {
		if now-w.stamp[i] < 10 && w.slots[i] > 0 {
			live = append(live, i)
		}
	}
	sort.Slice(live, func(a, b int) bool { return w.stamp[live[a]] < w.stamp[live[b]] })
	for _, i := range live {
		total -= w.slots[i]
		if total < limit {
			return w.stamp[i] + 10
		}
	}
	return now + 10
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func (w *window) add(now int64) {
	i := now % 10
	if w.stamp[i] != now {
		w.stamp[i], w.slots[i] = now, 0
	}
	w.slots[i]++
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// NewLimiter returns a limiter with lim, reading the clock with now.
func NewLimiter(lim Limits, now func() time.Time) *Limiter {
	l := &Limiter{now: now}
	l.Set(lim)
	return l
}
