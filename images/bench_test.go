package images

import (
	"context"
	"testing"
)

// BenchmarkBuildFresh is one full build of pause (from a prebuilt binary) and
// busybox into an empty directory: layer tar, gzip, tarball write.
func BenchmarkBuildFresh(b *testing.B) {
	needHostInputs(b)
	bin := tinyBinary(b)
	for b.Loop() {
		b.StopTimer()
		out := b.TempDir()
		b.StartTimer()
		if _, err := Build(context.Background(), Options{Version: "bench", OutDir: out, Only: []string{"pause", "busybox"}, Binaries: map[string]string{"pause": bin}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildCached is the warm path the local cluster takes on every
// start: every input hashed, nothing rewritten.
func BenchmarkBuildCached(b *testing.B) {
	needHostInputs(b)
	bin := tinyBinary(b)
	opts := Options{Version: "bench", OutDir: b.TempDir(), Only: []string{"pause", "busybox"}, Binaries: map[string]string{"pause": bin}}
	if _, err := Build(context.Background(), opts); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		imgs, err := Build(context.Background(), opts)
		if err != nil || !imgs[0].Cached || !imgs[1].Cached {
			b.Fatalf("not cached: %v %+v", err, imgs)
		}
	}
}
