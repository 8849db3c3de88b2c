package scenarios

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestCatalogueNamesAndSections keeps names stable-looking and unique, and
// every scenario tied to a real heading of the documentation page it proves.
func TestCatalogueNamesAndSections(t *testing.T) {
	doc, err := os.ReadFile("testdata/aks-keyvault-csi-driver.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "#") {
			headings[strings.TrimSpace(strings.TrimLeft(line, "#"))] = true
		}
	}
	// The identity page the seed links to ("Provide an identity to access the
	// Azure Key Vault Provider...") is a section of the seed too.
	headings["Provide an identity to access the Azure key vault"] = true
	nameRE := regexp.MustCompile(`^[a-z]+/[a-z0-9-]+$`)
	seen := map[string]bool{}
	for _, s := range Catalogue() {
		if !nameRE.MatchString(s.Name) {
			t.Errorf("name %q is not group/behaviour in lower case", s.Name)
		}
		if seen[s.Name] {
			t.Errorf("name %q used twice", s.Name)
		}
		seen[s.Name] = true
		if !headings[s.Section] {
			t.Errorf("%s: section %q is not a heading of the documentation", s.Name, s.Section)
		}
		if s.Summary == "" || len(s.Code) == 0 || s.Run == nil {
			t.Errorf("%s: summary, code and run are required", s.Name)
		}
	}
	if first, last := Catalogue()[0].Name, Catalogue()[len(Catalogue())-1].Name; first != "addon/enable" || last != "addon/disable-keeps-existing-pods" {
		t.Errorf("the catalogue must enable first and disable last, got %s … %s", first, last)
	}
}

func TestSelect(t *testing.T) {
	got := Select(regexp.MustCompile(`^sync/`))
	want := 0
	for _, s := range Catalogue() {
		if strings.HasPrefix(s.Name, "sync/") {
			want++
		}
	}
	if len(got) != want || want < 4 {
		t.Fatalf("Select(^sync/) = %d scenarios, want the catalogue's %d (at least the documented 4)", len(got), want)
	}
	for _, s := range got {
		if !strings.HasPrefix(s.Name, "sync/") {
			t.Errorf("selected %s", s.Name)
		}
	}
	if len(Select(nil)) != len(Catalogue()) {
		t.Error("Select(nil) is not the whole catalogue")
	}
}

func TestBusyboxPodIsTheDocumentedPod(t *testing.T) {
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(busyboxPod("p", "a", "b")), &pod); err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	if c.Image != "registry.k8s.io/e2e-test-images/busybox:1.29-1" || len(c.VolumeMounts) != 2 || len(pod.Spec.Volumes) != 2 {
		t.Fatalf("pod = %+v", pod.Spec)
	}
	if c.VolumeMounts[1].MountPath != "/mnt/secrets-store-1" || pod.Spec.Volumes[1].CSI.VolumeAttributes["secretProviderClass"] != "b" {
		t.Errorf("second volume = %+v %+v", c.VolumeMounts[1], pod.Spec.Volumes[1])
	}
	if *pod.Spec.Volumes[0].CSI.ReadOnly != true || pod.Spec.Volumes[0].CSI.Driver != "secrets-store.csi.k8s.io" {
		t.Errorf("volume = %+v", pod.Spec.Volumes[0].CSI)
	}
}

func TestUserMSIClassParses(t *testing.T) {
	class := userMSIClass("c", objects(object("objectName", "a", "objectType", "secret"), object("objectName", "b", "objectAlias", "x/y")), "")
	var spc struct {
		Spec struct {
			Parameters map[string]string `json:"parameters"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(class), &spc); err != nil {
		t.Fatal(err)
	}
	var arr struct {
		Array []string `json:"array"`
	}
	if err := yaml.Unmarshal([]byte(spc.Spec.Parameters["objects"]), &arr); err != nil {
		t.Fatal(err)
	}
	if len(arr.Array) != 2 || !strings.Contains(arr.Array[1], `objectAlias: "x/y"`) {
		t.Fatalf("objects array = %q", arr.Array)
	}
}

func TestHasArg(t *testing.T) {
	pod := func(args ...string) corev1.Pod {
		return corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "secrets-store", Args: args}}}}
	}
	for _, tc := range []struct {
		name string
		args []string
		arg  string
		want bool
	}{
		{"equals form", []string{"--rotation-poll-interval=5m"}, "--rotation-poll-interval=5m", true},
		{"separate value", []string{"--rotation-poll-interval", "5m"}, "--rotation-poll-interval=5m", true},
		{"other value", []string{"--rotation-poll-interval=2m"}, "--rotation-poll-interval=5m", false},
		{"bare bool is true", []string{"--enable-secret-rotation"}, "--enable-secret-rotation=true", true},
		{"absent bool is false", []string{"--endpoint=x"}, "--enable-secret-rotation=false", true},
		{"absent bool is not true", nil, "--enable-secret-rotation=true", false},
		{"explicit false", []string{"--enable-secret-rotation=false"}, "--enable-secret-rotation=true", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hasArg(pod(tc.args...), tc.arg); got != tc.want {
				t.Errorf("hasArg(%v, %s) = %v, want %v", tc.args, tc.arg, got, tc.want)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP total_node_publish x
# TYPE total_node_publish counter
total_node_publish{os_type="linux",provider="azure"} 3
total_node_publish{os_type="linux",provider="vault"} 2
grpc_request_count{grpc_code="OK"} 7
`
	m := ParseMetrics(text)
	if n, ok := MetricSum(m, "total_node_publish"); !ok || n != 5 {
		t.Errorf("sum = %v %v, want 5", n, ok)
	}
	if _, ok := MetricSum(m, "total_node"); ok {
		t.Error("a name prefix matched another metric")
	}
	if got := missingMetrics(text, []string{"total_node_publish", "total_sync_k8s_secret"}); len(got) != 1 || got[0] != "total_sync_k8s_secret" {
		t.Errorf("missing = %v", got)
	}
}

func TestExpectPEM(t *testing.T) {
	ch, err := newChain("test")
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.PFX) == 0 || ch.Leaf.Issuer.CommonName != "test intermediate" || ch.Intermediate.Issuer.CommonName != "test root" {
		t.Fatalf("chain = %+v", ch)
	}
	if err := expectPEM("", "CERTIFICATE"); err == nil {
		t.Error("an empty file passed as a certificate")
	}
}

var update = flag.Bool("update", false, "rewrite the generated catalogue in docs/scenarios.md")

// TestDocsCatalogueIsCurrent fails when docs/scenarios.md or the README does
// not list every scenario of the catalogue as `kvcsi scenarios list
// --markdown` prints it; `make scenarios-docs` (go test -run this -update)
// rewrites them.
func TestDocsCatalogueIsCurrent(t *testing.T) {
	var b strings.Builder
	if err := WriteCatalogue(&b); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"../docs/scenarios.md", "../README.md"} {
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		before, rest, ok1 := strings.Cut(string(doc), CatalogueBegin)
		_, after, ok2 := strings.Cut(rest, CatalogueEnd)
		if !ok1 || !ok2 {
			t.Errorf("%s lacks the markers %q … %q", path, CatalogueBegin, CatalogueEnd)
			continue
		}
		want := before + CatalogueBegin + "\n" + b.String() + CatalogueEnd + after
		if want == string(doc) {
			continue
		}
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s is stale: run make scenarios-docs", path)
	}
}

// TestCodeLinksExist keeps every scenario's "implemented by" link pointing at
// real code: <package path>.<Func or Type>[.<Method>] under the repository.
func TestCodeLinksExist(t *testing.T) {
	for _, s := range Catalogue() {
		for _, link := range s.Code {
			dir, syms, ok := strings.Cut(link, ".")
			if i := strings.LastIndex(link, "/"); i >= 0 {
				var last string
				last, syms, ok = strings.Cut(link[i+1:], ".")
				dir = link[:i+1] + last
			}
			if !ok {
				t.Errorf("%s: link %q names no function or type", s.Name, link)
				continue
			}
			src := packageSource(t, "../"+dir)
			if src == "" {
				t.Errorf("%s: link %q: no package %s", s.Name, link, dir)
				continue
			}
			typ, method, isMethod := strings.Cut(syms, ".")
			var re *regexp.Regexp
			if isMethod {
				re = regexp.MustCompile(`(?m)^func \([a-z]+ \*?` + typ + `\) ` + method + `\(`)
			} else {
				re = regexp.MustCompile(`(?m)^(func ` + typ + `\(|type ` + typ + ` )`)
			}
			if !re.MatchString(src) {
				t.Errorf("%s: link %q: %s not found in %s", s.Name, link, syms, dir)
			}
		}
	}
}

// packageSource concatenates the non-test Go files of dir ("" if none).
func packageSource(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			data, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			b.Write(data)
		}
	}
	return b.String()
}
