package secretsynccontroller_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	ssv1alpha1 "github.com/kvcsi/kvcsi/api/secretsync/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// upstreamExamples reads testdata/upstream/*.yaml (upstream's e2e SecretSyncs).
func upstreamExamples(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob("testdata/upstream/*.yaml")
	if err != nil || len(files) != 6 {
		t.Fatalf("upstream examples %v (%v): want the 6 files of upstream's e2e suite", files, err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = &unstructured.Unstructured{Object: obj}
	}
	return out
}

// TestCRDAcceptsUpstreamExamples: the CRD alone (no policies) accepts every
// SecretSync of upstream's e2e suite; its defaults and pruning apply.
func TestCRDAcceptsUpstreamExamples(t *testing.T) {
	w := newWorld(t)
	for name, u := range upstreamExamples(t) {
		got, err := w.dyn.Resource(ssv1alpha1.Resource).Namespace(w.ns).Create(context.Background(), u.DeepCopy(),
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Errorf("%s: refused by the CRD: %v", name, err)
			continue
		}
		if c, _, _ := unstructured.NestedString(got.Object, "spec", "secretSyncControllerName"); c != "" {
			t.Errorf("%s: secretSyncControllerName defaulted to %q, want \"\"", name, c)
		}
		if _, found, _ := unstructured.NestedFieldNoCopy(got.Object, "spec", "syncInterval"); found {
			t.Errorf("%s: unknown field spec.syncInterval kept; the structural schema prunes it as upstream's does", name)
		}
	}
	// What the CRD itself refuses, as upstream's does: the reserved label
	// prefix, a missing data list, a malformed class name.
	bad := map[string]string{
		"reserved label":      `{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","metadata":{"name":"x"},"spec":{"serviceAccountName":"default","secretProviderClassName":"c","secretObject":{"data":[{"sourcePath":"a","targetKey":"b"}],"labels":{"secrets-store.sync.x-k8s.io/x":"y"}}}}`,
		"no data":             `{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","metadata":{"name":"x"},"spec":{"serviceAccountName":"default","secretProviderClassName":"c","secretObject":{"data":[]}}}`,
		"bad class name":      `{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","metadata":{"name":"x"},"spec":{"serviceAccountName":"default","secretProviderClassName":"Bad_Name","secretObject":{"data":[{"sourcePath":"a","targetKey":"b"}]}}}`,
		"reserved annotation": `{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","metadata":{"name":"x"},"spec":{"serviceAccountName":"default","secretProviderClassName":"c","secretObject":{"data":[{"sourcePath":"a","targetKey":"b"}],"annotations":{"secrets-store.sync.x-k8s.io":"y"}}}}`,
	}
	for what, js := range bad {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(js), &obj); err != nil {
			t.Fatal(err)
		}
		if _, err := w.dyn.Resource(ssv1alpha1.Resource).Namespace(w.ns).Create(context.Background(), &unstructured.Unstructured{Object: obj},
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err == nil {
			t.Errorf("%s: accepted, want refused by the CRD", what)
		}
	}
}
