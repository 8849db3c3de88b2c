package deploy

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/charts"
)

// kvcsi has one version, the chart's appVersion: `make` stamps it into the
// binaries and tags the images with it, the chart and the plain manifests
// default to it, and `kvcsi addon` built by make installs it.
func TestOneVersion(t *testing.T) {
	c, err := charts.Load()
	if err != nil {
		t.Fatal(err)
	}
	v := c.Metadata.AppVersion
	if v == "" {
		t.Fatal("charts/kvcsi/Chart.yaml has no appVersion")
	}

	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("needs make: cannot evaluate the Makefile's VERSION")
	}
	cmd := exec.Command("make", "-s", "--no-print-directory", "--eval", "kvcsi-print-version: ; @echo $(VERSION)", "kvcsi-print-version")
	cmd.Dir = ".."
	for _, e := range cmd.Environ() { // an exported VERSION would override the Makefile's
		if !strings.HasPrefix(e, "VERSION=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != v {
		t.Errorf("the Makefile's VERSION (binaries, `make images` tags) = %q, want the chart's appVersion %q", got, v)
	}

	files, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	img := regexp.MustCompile(`image: (ghcr\.io/kvcsi/[^:\s]+):(\S+)`)
	n := 0
	for name, content := range files {
		for _, m := range img.FindAllStringSubmatch(content, -1) {
			n++
			if m[2] != v {
				t.Errorf("deploy/%s: %s:%s, want tag %s", name, m[1], m[2], v)
			}
		}
	}
	if n == 0 {
		t.Error("no kvcsi image in the plain manifests")
	}

	// `kvcsi addon enable` defaults --image-tag to the binary's version, which
	// make sets to VERSION.
	if got := addon.ImageTagOf(v); got != v {
		t.Errorf("addon image tag for a binary of version %q = %q", v, got)
	}
}
