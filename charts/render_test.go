package charts

import (
	"bytes"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/api/secretsstore/crds"
	secretsynccrds "github.com/kvcsi/kvcsi/api/secretsync/crds"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// testCA is a real self-signed CA certificate (public data).
const testCA = `-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAXMRUwEwYDVQQDEwxrdmNzaS10
ZXN0LWNhMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowFzEVMBMGA1UE
AxMMa3Zjc2ktdGVzdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHq0j3nT
-----END CERTIFICATE-----
`

func render(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	r, err := Render(Options{Values: values})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	objs, err := r.Objects()
	if err != nil {
		t.Fatalf("Objects: %v", err)
	}
	return objs
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func mustFind(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := find(objs, kind, name)
	if o == nil {
		var have []string
		for _, o := range objs {
			have = append(have, o.GetKind()+"/"+o.GetName())
		}
		t.Fatalf("no %s %s rendered; have %v", kind, name, have)
	}
	return o
}

func containers(t *testing.T, ds *unstructured.Unstructured) []map[string]any {
	t.Helper()
	cs, _, err := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "containers")
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, c := range cs {
		out = append(out, c.(map[string]any))
	}
	return out
}

func container(t *testing.T, ds *unstructured.Unstructured, name string) map[string]any {
	t.Helper()
	for _, c := range containers(t, ds) {
		if c["name"] == name {
			return c
		}
	}
	t.Fatalf("%s has no container %s", ds.GetName(), name)
	return nil
}

func args(c map[string]any) []string {
	var out []string
	for _, a := range c["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func str(o *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	if s == nil {
		return ""
	}
	return strings.TrimSpace(toString(s))
}

func toString(v any) string {
	return fmt.Sprint(v)
}

func TestChartCRDsAreTheAPIsCRDs(t *testing.T) {
	for _, name := range crds.Files {
		want, err := crds.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FS.ReadFile(ChartDir + "/crds/" + name)
		if err != nil {
			t.Fatalf("chart lacks crds/%s: run `make manifests`", name)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/kvcsi/crds/%s differs from api/secretsstore/crds/%s: run `make manifests`", name, name)
		}
	}
	entries, err := fs.ReadDir(FS, ChartDir+"/crds")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == secretsynccrds.File {
			if got, _ := FS.ReadFile(ChartDir + "/crds/" + e.Name()); !bytes.Equal(got, secretsynccrds.SecretSyncs) {
				t.Errorf("charts/kvcsi/crds/%s differs from api/secretsync/crds: run `make manifests`", e.Name())
			}
			continue
		}
		if !slices.Contains(crds.Files, e.Name()) {
			t.Errorf("charts/kvcsi/crds/%s is not in api/secretsstore/crds: remove it", e.Name())
		}
	}
}

func TestDefaultsRenderTheDocumentedObjects(t *testing.T) {
	objs := render(t, nil)

	drv := mustFind(t, objs, "CSIDriver", "secrets-store.csi.k8s.io")
	for path, want := range map[string]string{
		"spec.podInfoOnMount":    "true",
		"spec.attachRequired":    "false",
		"spec.requiresRepublish": "false",
	} {
		if got := str(drv, strings.Split(path, ".")...); got != want {
			t.Errorf("CSIDriver %s = %q, want %q", path, got, want)
		}
	}
	modes, _, _ := unstructured.NestedStringSlice(drv.Object, "spec", "volumeLifecycleModes")
	if !slices.Equal(modes, []string{"Ephemeral"}) {
		t.Errorf("volumeLifecycleModes = %v", modes)
	}
	trs, _, _ := unstructured.NestedSlice(drv.Object, "spec", "tokenRequests")
	if len(trs) != 1 || trs[0].(map[string]any)["audience"] != "api://AzureADTokenExchange" {
		t.Errorf("tokenRequests = %v", trs)
	}

	ds := mustFind(t, objs, "DaemonSet", "secrets-store-csi-driver")
	if ds.GetNamespace() != "kube-system" || ds.GetLabels()["app"] != "secrets-store-csi-driver" {
		t.Errorf("driver DaemonSet namespace/labels: %s %v", ds.GetNamespace(), ds.GetLabels())
	}
	tl, _, _ := unstructured.NestedStringMap(ds.Object, "spec", "template", "metadata", "labels")
	if tl["app"] != "secrets-store-csi-driver" {
		t.Errorf("driver pod labels %v lack app=secrets-store-csi-driver", tl)
	}
	var names []string
	for _, c := range containers(t, ds) {
		names = append(names, c["name"].(string))
	}
	if !slices.Equal(names, []string{"node-driver-registrar", "secrets-store", "liveness-probe"}) {
		t.Errorf("driver containers = %v", names)
	}
	ss := container(t, ds, "secrets-store")
	if ss["securityContext"].(map[string]any)["privileged"] != true {
		t.Error("secrets-store is not privileged")
	}
	var bidir bool
	for _, m := range ss["volumeMounts"].([]any) {
		m := m.(map[string]any)
		if m["mountPath"] == "/var/lib/kubelet/pods" && m["mountPropagation"] == "Bidirectional" {
			bidir = true
		}
	}
	if !bidir {
		t.Error("secrets-store lacks a Bidirectional mount of /var/lib/kubelet/pods")
	}
	ports := map[string]int64{}
	for _, p := range ss["ports"].([]any) {
		p := p.(map[string]any)
		ports[p["name"].(string)] = p["containerPort"].(int64)
	}
	if ports["metrics"] != 8095 || ports["healthz"] != 9808 {
		t.Errorf("secrets-store ports = %v, want metrics 8095 and healthz 9808", ports)
	}
	a := args(ss)
	for _, want := range []string{"--provider-volume=/provider", "--metrics-addr=:8095", "--enable-secret-rotation=false", "--rotation-poll-interval=2m", "--nodeid=$(KUBE_NODE_NAME)"} {
		if !slices.Contains(a, want) {
			t.Errorf("secrets-store args %v lack %s", a, want)
		}
	}
	if lp := args(container(t, ds, "liveness-probe")); !slices.Contains(lp, "--http-endpoint=0.0.0.0:9808") {
		t.Errorf("liveness-probe args %v do not serve 9808", lp)
	}
	if img := container(t, ds, "node-driver-registrar")["image"]; img != "ghcr.io/kvcsi/csi-node-driver-registrar:0.1.0" {
		t.Errorf("registrar image = %v, want kvcsi's own", img)
	}
	if img := ss["image"]; img != "ghcr.io/kvcsi/secrets-store-csi-driver:0.1.0" {
		t.Errorf("driver image = %v", img)
	}

	pds := mustFind(t, objs, "DaemonSet", "secrets-store-provider-azure")
	if pds.GetLabels()["app"] != "secrets-store-provider-azure" {
		t.Errorf("provider labels %v", pds.GetLabels())
	}
	if hn, _, _ := unstructured.NestedBool(pds.Object, "spec", "template", "spec", "hostNetwork"); !hn {
		t.Error("provider does not use host networking")
	}
	pcs := containers(t, pds)
	if len(pcs) != 1 {
		t.Fatalf("provider has %d containers, want 1", len(pcs))
	}
	pports := map[int64]bool{}
	for _, p := range pcs[0]["ports"].([]any) {
		pports[p.(map[string]any)["containerPort"].(int64)] = true
	}
	if !pports[8898] || !pports[8989] {
		t.Errorf("provider ports %v, want 8898 and 8989", pports)
	}
	if !slices.Contains(args(pcs[0]), "--endpoint=unix:///provider/azure.sock") {
		t.Errorf("provider args %v", args(pcs[0]))
	}
	vols, _, _ := unstructured.NestedSlice(pds.Object, "spec", "template", "spec", "volumes")
	var hostPath bool
	for _, v := range vols {
		if hp, ok := v.(map[string]any)["hostPath"].(map[string]any); ok && hp["path"] == "/var/run/secrets-store-csi-providers" {
			hostPath = true
		}
	}
	if !hostPath {
		t.Error("provider does not mount hostPath /var/run/secrets-store-csi-providers")
	}

	for _, absent := range [][2]string{
		{"ClusterRole", "secrets-store-csi-driver-secretprovidersyncing"},
		{"ClusterRole", "secrets-store-csi-driver-rotation"},
		{"DaemonSet", "secrets-store-csi-driver-windows"},
		{"Deployment", "kvemulator"},
		{"ConfigMap", "secrets-store-provider-azure-ca-bundle"},
	} {
		if find(objs, absent[0], absent[1]) != nil {
			t.Errorf("%s %s rendered by default", absent[0], absent[1])
		}
	}
	// Without sync or rotation the driver has no access to Secrets at all.
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		for _, r := range rules {
			res, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resources")
			if slices.Contains(res, "secrets") {
				t.Errorf("%s %s grants access to secrets by default", o.GetKind(), o.GetName())
			}
		}
	}
	if n := len(mustFind(t, objs, "CustomResourceDefinition", "secretproviderclasses.secrets-store.csi.x-k8s.io").GetName()); n == 0 {
		t.Error("CRD missing")
	}
}

func TestRotationFollowsTheValue(t *testing.T) {
	objs := render(t, map[string]any{"enableSecretRotation": true, "rotationPollInterval": "30s"})
	if got := str(mustFind(t, objs, "CSIDriver", "secrets-store.csi.k8s.io"), "spec", "requiresRepublish"); got != "true" {
		t.Errorf("requiresRepublish = %s with rotation on", got)
	}
	a := args(container(t, mustFind(t, objs, "DaemonSet", "secrets-store-csi-driver"), "secrets-store"))
	if !slices.Contains(a, "--enable-secret-rotation=true") || !slices.Contains(a, "--rotation-poll-interval=30s") {
		t.Errorf("driver args %v", a)
	}
	mustFind(t, objs, "ClusterRole", "secrets-store-csi-driver-rotation")
	mustFind(t, objs, "ClusterRoleBinding", "secrets-store-csi-driver-rotation")
}

func TestSyncSecretAddsItsOwnRole(t *testing.T) {
	objs := render(t, map[string]any{"syncSecret": map[string]any{"enabled": true}})
	cr := mustFind(t, objs, "ClusterRole", "secrets-store-csi-driver-secretprovidersyncing")
	rules, _, _ := unstructured.NestedSlice(cr.Object, "rules")
	if len(rules) != 1 {
		t.Fatalf("sync role rules = %v", rules)
	}
	mustFind(t, objs, "ClusterRoleBinding", "secrets-store-csi-driver-secretprovidersyncing")
}

func TestOfficialSidecars(t *testing.T) {
	objs := render(t, map[string]any{"sidecars": map[string]any{"official": true}})
	ds := mustFind(t, objs, "DaemonSet", "secrets-store-csi-driver")
	for name, prefix := range map[string]string{
		"node-driver-registrar": "registry.k8s.io/sig-storage/csi-node-driver-registrar:",
		"liveness-probe":        "registry.k8s.io/sig-storage/livenessprobe:",
	} {
		if img := container(t, ds, name)["image"].(string); !strings.HasPrefix(img, prefix) {
			t.Errorf("%s image = %s, want %s…", name, img, prefix)
		}
	}
}

func TestImageRegistryAndTag(t *testing.T) {
	objs := render(t, map[string]any{"image": map[string]any{"registry": "localhost:5000/kv/", "tag": "v9"}})
	img := container(t, mustFind(t, objs, "DaemonSet", "secrets-store-provider-azure"), "provider-azure-installer")["image"]
	if img != "localhost:5000/kv/secrets-store-provider-azure:v9" {
		t.Errorf("provider image = %v", img)
	}
}

func TestWindowsVariants(t *testing.T) {
	objs := render(t, map[string]any{"windows": map[string]any{"enabled": true}})
	for _, name := range []string{"secrets-store-csi-driver-windows", "secrets-store-provider-azure-windows"} {
		ds := mustFind(t, objs, "DaemonSet", name)
		sel, _, _ := unstructured.NestedStringMap(ds.Object, "spec", "template", "spec", "nodeSelector")
		if sel["kubernetes.io/os"] != "windows" {
			t.Errorf("%s nodeSelector = %v", name, sel)
		}
	}
	// The Linux DaemonSets stay, with selectors that do not overlap.
	lin := mustFind(t, objs, "DaemonSet", "secrets-store-csi-driver")
	win := mustFind(t, objs, "DaemonSet", "secrets-store-csi-driver-windows")
	ls, _, _ := unstructured.NestedStringMap(lin.Object, "spec", "selector", "matchLabels")
	ws, _, _ := unstructured.NestedStringMap(win.Object, "spec", "selector", "matchLabels")
	if ls["kubernetes.io/os"] == ws["kubernetes.io/os"] {
		t.Errorf("linux and windows selectors overlap: %v %v", ls, ws)
	}
}

func TestProviderOptionsForTheEmulator(t *testing.T) {
	objs := render(t, map[string]any{"provider": map[string]any{
		"caBundle":    testCA,
		"hostAliases": []any{map[string]any{"ip": "10.96.0.50", "hostnames": []any{"kv1.vault.azure.net", "login.microsoftonline.com"}}},
		"extraArgs":   []any{"--cache-ttl=0s"},
	}})
	cm := mustFind(t, objs, "ConfigMap", "secrets-store-provider-azure-ca-bundle")
	if got := str(cm, "data", "ca.crt"); got != strings.TrimSpace(testCA) {
		t.Errorf("ca.crt = %q", got)
	}
	ds := mustFind(t, objs, "DaemonSet", "secrets-store-provider-azure")
	a := args(container(t, ds, "provider-azure-installer"))
	if !slices.Contains(a, "--ca-bundle=/etc/kvcsi/ca-bundle/ca.crt") || a[len(a)-1] != "--cache-ttl=0s" {
		t.Errorf("provider args = %v", a)
	}
	ha, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "hostAliases")
	if len(ha) != 1 || ha[0].(map[string]any)["ip"] != "10.96.0.50" {
		t.Errorf("hostAliases = %v", ha)
	}
	ann, _, _ := unstructured.NestedStringMap(ds.Object, "spec", "template", "metadata", "annotations")
	if ann["kvcsi.io/ca-bundle-sha256"] == "" {
		t.Error("no CA bundle checksum on the pod template: a changed bundle would not roll the pods")
	}
}

func TestEmulator(t *testing.T) {
	objs := render(t, map[string]any{"emulator": map[string]any{"enabled": true, "clusterIP": "10.96.0.50", "seed": "vaults: []\n"}})
	dep := mustFind(t, objs, "Deployment", "kvemulator")
	if dep.GetNamespace() != "kvcsi-system" {
		t.Errorf("emulator namespace = %s", dep.GetNamespace())
	}
	svc := mustFind(t, objs, "Service", "kvemulator")
	if str(svc, "spec", "clusterIP") != "10.96.0.50" {
		t.Errorf("service clusterIP = %v", svc.Object["spec"])
	}
	mustFind(t, objs, "Namespace", "kvcsi-system")
	mustFind(t, objs, "ConfigMap", "kvemulator-seed")
	if objs[0].GetKind() != "Namespace" {
		t.Errorf("first object is %s, want the Namespace", objs[0].GetKind())
	}
}

func TestBadValuesNameTheValue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"interval not a duration", map[string]any{"rotationPollInterval": "5x"}, "rotationPollInterval \"5x\" is not a Go duration"},
		{"interval a number", map[string]any{"rotationPollInterval": 120}, "rotationPollInterval \"120\""},
		{"health interval", map[string]any{"driver": map[string]any{"providerHealthCheckInterval": "soon"}}, "driver.providerHealthCheckInterval"},
		{"host alias without hostnames", map[string]any{"provider": map[string]any{"hostAliases": []any{map[string]any{"ip": "1.2.3.4"}}}}, "provider.hostAliases"},
		{"CA bundle not PEM", map[string]any{"provider": map[string]any{"caBundle": "hello"}}, "provider.caBundle must be PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(Options{Values: tc.values})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTokensInSecretsFollowTheServerVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		values  map[string]any
		want    bool
	}{
		{"v1.34.3", nil, false},
		{"v1.35.0", nil, true},
		{"v1.37.2", nil, true},
		{"v1.37.2", map[string]any{"serviceAccountTokenInSecrets": false}, false},
		{"v1.37.2", map[string]any{"tokenRequests": []any{}}, false},
	} {
		r, err := Render(Options{KubeVersion: tc.version, Values: tc.values})
		if err != nil {
			t.Fatal(err)
		}
		objs, err := r.Objects()
		if err != nil {
			t.Fatal(err)
		}
		drv := mustFind(t, objs, "CSIDriver", "secrets-store.csi.k8s.io")
		got, _, _ := unstructured.NestedBool(drv.Object, "spec", "serviceAccountTokenInSecrets")
		if got != tc.want {
			t.Errorf("Kubernetes %s, values %v: serviceAccountTokenInSecrets = %v, want %v", tc.version, tc.values, got, tc.want)
		}
	}
	if _, err := Render(Options{KubeVersion: "one.two"}); err == nil || !strings.Contains(err.Error(), "one.two") {
		t.Errorf("bad KubeVersion: err = %v", err)
	}
}

func TestEmulatorOnly(t *testing.T) {
	objs := render(t, map[string]any{"secretsStore": map[string]any{"enabled": false}, "emulator": map[string]any{"enabled": true}})
	for _, o := range objs {
		switch o.GetKind() {
		case "CustomResourceDefinition": // from crds/, skipped by helm --skip-crds
		case "Namespace", "Deployment", "Service":
			if o.GetNamespace() != "" && o.GetNamespace() != "kvcsi-system" {
				t.Errorf("%s %s in %s", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		default:
			t.Errorf("secretsStore.enabled=false still renders %s %s", o.GetKind(), o.GetName())
		}
	}
	mustFind(t, objs, "Deployment", "kvemulator")
}
