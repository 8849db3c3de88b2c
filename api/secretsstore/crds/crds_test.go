package crds

import (
	"testing"

	"sigs.k8s.io/yaml"
)

func TestCRDsDeclareUpstreamGroupVersionsAndNames(t *testing.T) {
	want := map[string]string{
		"secrets-store.csi.x-k8s.io_secretproviderclasses.yaml":          "SecretProviderClass",
		"secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml": "SecretProviderClassPodStatus",
	}
	if len(Files) != len(want) {
		t.Fatalf("Files = %v", Files)
	}
	for _, f := range Files {
		b, err := FS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Scope string `json:"scope"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name    string         `json:"name"`
					Served  bool           `json:"served"`
					Storage bool           `json:"storage"`
					Schema  map[string]any `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			// Strict fails on fields not in the struct; fall back to lenient.
			if err := yaml.Unmarshal(b, &crd); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		if crd.Kind != "CustomResourceDefinition" || crd.Spec.Group != "secrets-store.csi.x-k8s.io" ||
			crd.Spec.Scope != "Namespaced" || crd.Spec.Names.Kind != want[f] {
			t.Errorf("%s: unexpected header %+v", f, crd)
		}
		got := map[string][2]bool{}
		for _, v := range crd.Spec.Versions {
			got[v.Name] = [2]bool{v.Served, v.Storage}
			if v.Schema == nil {
				t.Errorf("%s %s: no schema", f, v.Name)
			}
		}
		if got["v1"] != [2]bool{true, true} || got["v1alpha1"] != [2]bool{true, false} || len(got) != 2 {
			t.Errorf("%s: versions %v, want v1 served+storage and v1alpha1 served", f, got)
		}
	}
}
