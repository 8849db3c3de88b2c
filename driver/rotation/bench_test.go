package rotation

import (
	"context"
	"testing"
)

// BenchmarkReconcileUnchanged is one poll of one volume whose content did not change: lister
// reads, a SecretProviderClass GET, a TokenRequest, the provider Mount over a real unix socket,
// the atomic writer's comparison and the Secret comparison. API calls go to fake clients, so
// this is the driver's own cost per volume per poll.
func BenchmarkReconcileUnchanged(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e.rotator.ReconcileAll(ctx)
	}
	if len(e.events()) != 0 {
		b.Fatal("unchanged content produced events")
	}
}

// BenchmarkReconcileRotated is one poll of one volume whose object changed every time: the
// atomic write, the pod status patch and the Secret patch included.
func BenchmarkReconcileRotated(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		e.version = string(rune('a' + i%26))
		e.content = e.version
		e.rotator.ReconcileAll(ctx)
		b.StopTimer()
		e.refreshInformers()
		e.events()
		b.StartTimer()
	}
}
