package refresh

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

func TestClassAndPodSetTheAnnotation(t *testing.T) {
	ctx := context.Background()
	spc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
		"metadata": map[string]any{"namespace": "app", "name": "kv", "annotations": map[string]any{"keep": "me"}},
	}}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{ssv1.SecretProviderClassesResource: "SecretProviderClassList"}, spc)
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	v, err := Class(ctx, dyn, "app", "kv", t1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dyn.Resource(ssv1.SecretProviderClassesResource).Namespace("app").Get(ctx, "kv", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.GetAnnotations(); a[Annotation] != v || a["keep"] != "me" || v != "2026-01-02T03:04:05.000000006Z" {
		t.Errorf("annotations %v after refresh %q", a, v)
	}
	// A second request is a new value: the driver refreshes once per change.
	if v2, _ := Class(ctx, dyn, "app", "kv", t1.Add(time.Second)); v2 == v {
		t.Errorf("a later refresh wrote the same value %q", v2)
	}
	if _, err := Class(ctx, dyn, "app", "missing", t1); err == nil {
		t.Error("refresh of a missing class succeeded")
	}

	kube := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web"}})
	v, err = Pod(ctx, kube, "app", "web", t1)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := kube.CoreV1().Pods("app").Get(ctx, "web", metav1.GetOptions{})
	if p.Annotations[Annotation] != v {
		t.Errorf("pod annotations %v", p.Annotations)
	}
}
