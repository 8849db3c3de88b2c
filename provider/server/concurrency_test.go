package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/provider/render"
)

// gate is a fake object source that holds every Get until enough are in
// flight at once (or all are), and records the most seen in flight.
type gate struct {
	mu       sync.Mutex
	inFlight int
	max      int
	release  chan struct{}
	want     int
	released bool
}

func (g *gate) Get(ctx context.Context, t keyvault.Target, typ, name, version string) (*keyvault.Item, error) {
	g.mu.Lock()
	g.inFlight++
	if g.inFlight > g.max {
		g.max = g.inFlight
	}
	if g.inFlight == g.want && !g.released {
		g.released = true
		close(g.release)
	}
	g.mu.Unlock()
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
	return &keyvault.Item{Secret: &render.Secret{Value: name}, Version: "v"}, nil
}

func (g *gate) EnabledVersions(context.Context, keyvault.Target, string, string) ([]string, error) {
	return nil, fmt.Errorf("not used")
}

// TestMountFetchesConcurrentlyWithinTheBound: 6 objects with a bound of 3
// are fetched 3 at a time — never more, and not one by one (the gate only
// opens once 3 are waiting together, so a sequential Mount would block).
func TestMountFetchesConcurrentlyWithinTheBound(t *testing.T) {
	s, err := New(Config{MaxConcurrentFetches: 3})
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{release: make(chan struct{}), want: 3}
	s.fetcher = g
	attrs := map[string]string{
		"csi.storage.k8s.io/pod.name": "p", "csi.storage.k8s.io/pod.namespace": "ns",
		"keyvaultName": "kv1", "tenantID": "t", "useVMManagedIdentity": "true",
		"objects": "array:\n" +
			"  - {objectName: o1, objectType: secret}\n  - {objectName: o2, objectType: secret}\n  - {objectName: o3, objectType: secret}\n" +
			"  - {objectName: o4, objectType: secret}\n  - {objectName: o5, objectType: secret}\n  - {objectName: o6, objectType: secret}\n",
	}
	b, _ := json.Marshal(attrs)
	r, err := s.Mount(context.Background(), &v1alpha1.MountRequest{Attributes: string(b), Permission: "420"})
	if err != nil {
		t.Fatal(err)
	}
	if g.max != 3 {
		t.Fatalf("at most %d fetches were in flight, want exactly the bound 3", g.max)
	}
	for i, f := range r.Files {
		if want := fmt.Sprintf("o%d", i+1); f.Path != want || string(f.Contents) != want {
			t.Fatalf("file %d = %s, want %s in parameter order", i, f.Path, want)
		}
	}
}
