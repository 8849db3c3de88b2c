package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/charts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestContainerArgsParseInTheRealBinaries builds kvcsi's binaries and runs
// each with exactly the arguments the chart gives its container, plus
// --version: every flag the chart passes must exist in the binary it runs
// (a flag the binary lacks makes it exit non-zero before serving).
func TestContainerArgsParseInTheRealBinaries(t *testing.T) {
	bin := t.TempDir()
	names := []string{"secrets-store-csi-driver", "secrets-store-provider-azure", "csi-node-driver-registrar", "livenessprobe", "kvemulator"}
	args := []string{"build", "-o", bin + string(os.PathSeparator)}
	for _, n := range names {
		args = append(args, "github.com/kvcsi/kvcsi/cmd/"+n)
	}
	// go test puts its own go first on PATH.
	build := exec.Command("go", args...)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	renderings := map[string]map[string]any{
		"defaults": nil,
		"everything on": {
			"enableSecretRotation": true, "rotationPollInterval": "30s",
			"syncSecret": map[string]any{"enabled": true},
			"driver":     map[string]any{"providerHealthCheck": true, "logFormatJSON": true, "logVerbosity": 4},
			"provider": map[string]any{
				"caBundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "cloudName": "AzurePublicCloud",
				"logFormatJSON": true, "writeCertAndKeyInSeparateFiles": true, "extraArgs": []any{"--cache-ttl=0s"},
			},
			"emulator": map[string]any{"enabled": true, "seed": "vaults: []\n"},
		},
	}
	for name, values := range renderings {
		t.Run(name, func(t *testing.T) {
			r, err := charts.Render(charts.Options{Values: values})
			if err != nil {
				t.Fatal(err)
			}
			objs, err := r.Objects()
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for _, o := range objs {
				if o.GetKind() != "DaemonSet" && o.GetKind() != "Deployment" {
					continue
				}
				cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				for _, c := range cs {
					c := c.(map[string]any)
					image := c["image"].(string)
					short := strings.TrimPrefix(image[:strings.LastIndex(image, ":")], "ghcr.io/kvcsi/")
					if !strings.Contains(image, "ghcr.io/kvcsi/") {
						continue
					}
					var cargs []string
					for _, a := range c["args"].([]any) {
						cargs = append(cargs, a.(string))
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					out, err := exec.CommandContext(ctx, filepath.Join(bin, short), append(cargs, "--version")...).CombinedOutput()
					cancel()
					if err != nil {
						t.Errorf("%s/%s container %s: %s rejects the chart's arguments %q: %v\n%s", o.GetKind(), o.GetName(), c["name"], short, cargs, err, out)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no kvcsi container found")
			}
		})
	}
}
