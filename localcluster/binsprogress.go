package localcluster

import (
	"os"
	"path/filepath"
	"strings"
)

// BinariesRemaining names the cluster binaries not built yet: neither in the
// cache nor in a build directory the running cold build has already linked
// them into. `make k8s-bins` prints it while it waits, since a cold build on
// two cores stays silent for many minutes otherwise.
func BinariesRemaining() ([]string, error) {
	cache, err := BinaryCacheDir()
	if err != nil {
		return nil, err
	}
	return binariesRemainingIn(cache), nil
}

func binariesRemainingIn(cache string) []string {
	linked := map[string]bool{}
	builds, _ := filepath.Glob(filepath.Join(cache, ".build-*"))
	for _, b := range builds {
		entries, _ := os.ReadDir(b)
		for _, e := range entries {
			linked[e.Name()] = true
		}
	}
	var remaining []string
	for _, c := range components {
		if fi, err := os.Stat(filepath.Join(cache, c.name+"-"+c.version)); err == nil && fi.Mode().IsRegular() {
			continue
		}
		if linked[filepath.Base(strings.TrimPrefix(c.pkg, "./"))] {
			continue
		}
		remaining = append(remaining, c.name)
	}
	return remaining
}
