package secretsync

import "sync"

// pendingSet holds the newest request of each queued retry; the queue holds only keys, so a
// newer publish of the same pod replaces the request to retry instead of adding another.
type pendingSet struct {
	mu sync.Mutex
	m  map[retryKey]Request
}

func newPendingSet() *pendingSet { return &pendingSet{m: map[retryKey]Request{}} }

func (p *pendingSet) put(k retryKey, r Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[k] = r
}

func (p *pendingSet) get(k retryKey) (Request, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[k]
	return r, ok
}

func (p *pendingSet) delete(k retryKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, k)
}

func (p *pendingSet) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}
