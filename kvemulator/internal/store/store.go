package store

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
)

// Store guards the State with one lock and persists it after changes when a
// state directory is configured.
type Store struct {
	mu     sync.RWMutex
	st     *State
	dir    string // "" = in memory only
	log    *slog.Logger
	saveMu sync.Mutex
}

const stateFile = "state.json"

func NewState() *State { return &State{Vaults: map[string]*Vault{}} }

// Load reads a persisted state, or returns nil when there is none.
func Load(dir string) (*State, error) {
	if dir == "" || breakIgnoreStateDir() {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading persisted state: %w", err)
	}
	st := NewState()
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("persisted state %s is corrupt (%v); move it away to start from the seed", filepath.Join(dir, stateFile), err)
	}
	if st.Vaults == nil {
		st.Vaults = map[string]*Vault{}
	}
	return st, nil
}

// save writes the state atomically: a temporary file in the same directory,
// fsync, rename over the old file, fsync the directory. A crash leaves either
// the old or the new state, never a torn one.
func (s *Store) Save() error {
	if s.dir == "" {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.RLock()
	b, err := json.Marshal(s.st)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(s.dir, stateFile), b, 0o600)
}

func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (s *Store) Persist() {
	if err := s.Save(); err != nil {
		s.log.Error("persisting state failed", "dir", s.dir, "err", err)
	}
}

func (s *Store) UpdateVault(name string, fn func(v *Vault) error) error {
	s.mu.Lock()
	v, ok := s.st.Vaults[name]
	if !ok {
		s.mu.Unlock()
		return kverr.ErrVaultNotFound(name)
	}
	err := fn(v)
	s.mu.Unlock()
	if err == nil {
		s.Persist()
	}
	return err
}

func (s *Store) ViewVault(name string, fn func(v *Vault) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.st.Vaults[name]
	if !ok {
		return kverr.ErrVaultNotFound(name)
	}
	return fn(v)
}

func (s *Store) View(fn func(st *State) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(s.st)
}

func (s *Store) HasVault(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.st.Vaults[name]
	return ok
}

func (s *Store) VaultTenant(name string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if v, ok := s.st.Vaults[name]; ok && v.TenantID != "" {
		return v.TenantID
	}
	if len(s.st.Tenants) > 0 {
		return s.st.Tenants[0].ID
	}
	return DefaultTenantID
}

// CanonicalName returns the stored spelling of an object name: Key Vault
// names are case-insensitive, so "MySecret" and "mysecret" are one object and
// keep the case they were created with. Handlers then index the maps with the
// canonical name; a name not yet stored is returned unchanged.
func (s *Store) CanonicalName(vault, kind, name string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := s.st.Vaults[vault]
	if v == nil {
		return name
	}
	switch kind {
	case KindSecret:
		return CanonicalIn(v.Secrets, name)
	case KindKey:
		return CanonicalIn(v.Keys, name)
	case KindCertificate:
		return CanonicalIn(v.Certificates, name)
	}
	return name
}

func CanonicalIn[V any](m map[string]*Object[V], name string) string {
	if _, ok := m[name]; ok {
		return name
	}
	for n := range m {
		if strings.EqualFold(n, name) {
			return n
		}
	}
	return name
}

// SweepDeleted purges the soft-deleted objects whose retention ended before
// now, as the service does at scheduledPurgeDate. It reports how many went.
func (s *Store) SweepDeleted(now time.Time) int {
	s.mu.Lock()
	n := 0
	for _, v := range s.st.Vaults {
		n += purgeExpired(v.Secrets, now) + purgeExpired(v.Keys, now) + purgeExpired(v.Certificates, now)
	}
	s.mu.Unlock()
	if n > 0 {
		s.Persist()
	}
	return n
}

func purgeExpired[V any](m map[string]*Object[V], now time.Time) int {
	n := 0
	for name, obj := range m {
		if obj.Deleted != nil && obj.Deleted.ScheduledPurgeDate <= now.Unix() {
			delete(m, name)
			n++
		}
	}
	return n
}

// DefaultTenantID is used when the seed declares no tenant.
const DefaultTenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// IdentityBy finds an identity with pred under the read lock; the returned
// copy is safe to use after the lock is released.
func (s *Store) IdentityBy(pred func(*Identity) bool) (Identity, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range s.st.Identities {
		if pred(id) {
			return *id, true
		}
	}
	return Identity{}, false
}

// Permissions returns the permissions of objectID on the vault for kind.
func (v *Vault) Permissions(objectID, kind string) []string {
	var perms []string
	for _, ap := range v.AccessPolicies {
		if !strings.EqualFold(ap.ObjectID, objectID) {
			continue
		}
		switch kind {
		case KindSecret:
			perms = append(perms, ap.Secrets...)
		case KindKey:
			perms = append(perms, ap.Keys...)
		case KindCertificate:
			perms = append(perms, ap.Certificates...)
		}
	}
	return perms
}

// New returns a store of st, persisted in dir ("" = memory only).
func New(st *State, dir string, log *slog.Logger) *Store { return &Store{st: st, dir: dir, log: log} }

// Replace swaps the whole state (seed, reset) and persists it.
func (s *Store) Replace(st *State) {
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	s.Persist()
}

// Clone deep-copies a state through its JSON form.
func Clone(st *State) *State {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err)
	}
	out := NewState()
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	if out.Vaults == nil {
		out.Vaults = map[string]*Vault{}
	}
	return out
}

// VaultNames returns the vault names sorted.
func VaultNames(st *State) []string {
	names := make([]string, 0, len(st.Vaults))
	for n := range st.Vaults {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
