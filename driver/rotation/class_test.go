package rotation

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver/metrics"
)

// TestRotationReadsClassFromInformer: with the class informer, a rotation reads the class from
// its store (an edit seen by the watch reaches the provider) and sends no GET per pod.
func TestRotationReadsClassFromInformer(t *testing.T) {
	e := newEnv(t)
	spc, err := e.spc.SecretProviderClasses("apps").Get(context.Background(), "azure-sync", metav1.GetOptions{})
	must(t, err)
	spc.Spec.Parameters["keyvaultName"] = "kv-edited"
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(spc)
	must(t, err)
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	must(t, idx.Add(&unstructured.Unstructured{Object: obj}))
	e.rotator.cfg.Watches.Classes = cache.NewGenericLister(idx, ssv1.SecretProviderClassesResource.GroupResource())
	e.dyn.ClearActions()

	e.poll()
	for _, a := range e.dyn.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "secretproviderclasses" {
			t.Errorf("rotation sent GET secretproviderclasses with the informer in place")
		}
	}
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("provider calls = %d", len(reqs))
	}
	var attrs map[string]string
	must(t, json.Unmarshal([]byte(reqs[0].GetAttributes()), &attrs))
	if attrs["keyvaultName"] != "kv-edited" {
		t.Errorf("keyvaultName sent = %q, want the informer's kv-edited", attrs["keyvaultName"])
	}

	// A class gone from the informer is SecretProviderClassNotFound, as from the API.
	must(t, idx.Delete(&unstructured.Unstructured{Object: obj}))
	e.poll()
	if v := e.counter(metrics.RotationReconcileError, "error_type", ErrSecretProviderClassNotFound); v != 1 {
		t.Errorf("rotation errors of type %s = %v, want 1", ErrSecretProviderClassNotFound, v)
	}
}
