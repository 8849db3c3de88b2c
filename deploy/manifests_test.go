package deploy

import (
	"flag"
	"io/fs"
	"os"
	"sort"
	"testing"
)

var update = flag.Bool("update", false, "rewrite deploy/*.yaml from the chart")

func TestManifestsAreRenderedFromTheChart(t *testing.T) {
	want, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		old, _ := fs.Glob(os.DirFS("."), "*.yaml")
		for _, f := range old {
			if _, ok := want[f]; !ok {
				if err := os.Remove(f); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, content := range want {
			if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	have, err := fs.Glob(os.DirFS("."), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("deploy/%s is missing: run `make manifests`", name)
			continue
		}
		if string(got) != want[name] {
			t.Errorf("deploy/%s differs from the chart's rendering: run `make manifests` (edit charts/kvcsi, not deploy/)", name)
		}
	}
	for _, name := range have {
		if _, ok := want[name]; !ok {
			t.Errorf("deploy/%s is not rendered from the chart: remove it or run `make manifests`", name)
		}
	}
}
