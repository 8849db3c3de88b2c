package addon

import (
	"context"
	"io"
	"testing"

	"github.com/kvcsi/kvcsi/localcluster/localclustertest"
)

// BenchmarkObjects is the render step of every command: the chart through
// Helm's engine plus the add-on's labels and state.
func BenchmarkObjects(b *testing.B) {
	c := DefaultConfig("v1")
	c.EnableSecretRotation = true
	for b.Loop() {
		if _, err := Objects(c, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnableAgain measures a repeated `kvcsi addon enable` against the
// real kube-apiserver: validate, render, dry-run everything, apply everything
// (a no-op for the server), check the prunable objects.
func BenchmarkEnableAgain(b *testing.B) {
	cp := localclustertest.Get(b)
	m, err := NewManager(cp.RESTConfig(), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	c := DefaultConfig("bench")
	if err := m.Enable(ctx, c); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := m.Enable(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := m.Disable(ctx, DisableOptions{}); err != nil {
		b.Fatal(err)
	}
}
