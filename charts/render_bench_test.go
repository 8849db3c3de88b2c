package charts

import "testing"

// BenchmarkRender measures one full rendering of the chart with Helm's engine
// (load from the embedded FS, coalesce values, render, decode objects): the
// cost every `kvcsi addon` command pays before it connects.
func BenchmarkRender(b *testing.B) {
	values := map[string]any{"syncSecret": map[string]any{"enabled": true}, "enableSecretRotation": true}
	for b.Loop() {
		r, err := Render(Options{Values: values})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Objects(); err != nil {
			b.Fatal(err)
		}
	}
}
