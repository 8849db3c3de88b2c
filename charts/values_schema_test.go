package charts

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite kvcsi/values.schema.json from kvcsi/values.yaml")

// schemaFor is the JSON schema of one value, derived from its default: a
// mapping with keys accepts only those keys (so an unknown key, such as one
// from upstream's charts, is named in the error); an empty mapping and
// resources are free-form; any other value is unconstrained (the templates
// check what they use).
func schemaFor(path string, v any) map[string]any {
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]any{}
	}
	if len(m) == 0 || strings.HasSuffix(path, "resources") {
		return map[string]any{"type": []any{"object", "null"}}
	}
	props := map[string]any{}
	for k, sub := range m {
		props[k] = schemaFor(path+"."+k, sub)
	}
	return map[string]any{"type": []any{"object", "null"}, "properties": props, "additionalProperties": false}
}

func generatedSchema(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(ChartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(raw, &vals); err != nil {
		t.Fatal(err)
	}
	s := schemaFor("", vals)
	s["$schema"] = "http://json-schema.org/draft-07/schema#"
	s["title"] = "kvcsi chart values (generated from values.yaml by `go test ./charts -run TestValuesSchema -update-schema`; unknown keys are errors)"
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestValuesSchemaMatchesValues keeps values.schema.json in step with
// values.yaml: a value added to values.yaml needs the schema regenerated.
func TestValuesSchemaMatchesValues(t *testing.T) {
	want := generatedSchema(t)
	p := filepath.Join(ChartDir, "values.schema.json")
	if *updateSchema {
		if err := os.WriteFile(p, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not generated from values.yaml: run go test ./charts -run TestValuesSchema -update-schema", p)
	}
}

// TestUpstreamValuesFiles: upstream's default values files (the
// secrets-store-csi-driver and csi-secrets-store-provider-azure charts)
// fail with kvcsi's chart with a message that names each key kvcsi does not
// have, instead of being silently ignored.
func TestUpstreamValuesFiles(t *testing.T) {
	for file, unknown := range map[string][]string{
		"upstream-csi-secrets-store-provider-azure-values.yaml": {
			"nameOverride", "fullnameOverride", "imagePullSecrets", "logFormatJSON", "logVerbosity", "enableArcExtension",
			"secrets-store-csi-driver", "rbac", "constructPEMChain", "writeCertAndKeyInSeparateFiles",
			"linux.image", "linux.customUserAgent", "linux.healthzPort", "linux.tolerations", "windows.image", "windows.customUserAgent"},
		"upstream-secrets-store-csi-driver-values.yaml": {
			"logVerbosity", "logFormatJSON", "livenessProbe", "maxCallRecvMsgSize", "rbac", "filteredWatchSecret",
			"providerHealthCheck", "providerHealthCheckInterval", "imagePullSecrets",
			"linux.image", "linux.crds", "linux.registrarImage", "linux.metricsAddr", "windows.image", "windows.driver"},
	} {
		t.Run(file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			var vals map[string]any
			if err := yaml.Unmarshal(raw, &vals); err != nil {
				t.Fatal(err)
			}
			_, err = Render(Options{Values: vals})
			if err == nil {
				t.Fatal("upstream's values rendered with kvcsi's chart without naming its unknown keys")
			}
			named := unknownKeys(err.Error())
			for _, k := range unknown {
				if !named[k] {
					t.Errorf("error does not name %s:\n%v", k, err)
				}
			}
			for _, k := range []string{"linux.enabled", "windows.enabled", "syncSecret", "enableSecretRotation", "rotationPollInterval"} {
				if named[k] {
					t.Errorf("error names %s, which kvcsi's chart has:\n%v", k, err)
				}
			}
			if !strings.Contains(err.Error(), "docs/compatibility.md") {
				t.Errorf("error does not point at docs/compatibility.md: %v", err)
			}
		})
	}
}

var (
	schemaAtRE    = regexp.MustCompile(`at '([^']*)': additional properties (.*) not allowed`)
	schemaQuoteRE = regexp.MustCompile(`'([^']+)'`)
)

// unknownKeys reads Helm's schema errors ("at '/linux': additional
// properties 'image', 'crds' not allowed") into dotted key paths.
func unknownKeys(msg string) map[string]bool {
	out := map[string]bool{}
	for _, m := range schemaAtRE.FindAllStringSubmatch(msg, -1) {
		prefix := strings.ReplaceAll(strings.TrimPrefix(m[1], "/"), "/", ".")
		for _, q := range schemaQuoteRE.FindAllStringSubmatch(m[2], -1) {
			k := q[1]
			if prefix != "" {
				k = prefix + "." + k
			}
			out[k] = true
		}
	}
	return out
}
