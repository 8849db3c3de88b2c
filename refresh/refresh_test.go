package refresh

import (
	"context"
	"strings"
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

func TestWaitAnswersAndFailures(t *testing.T) {
	ev := func(name, pod, reason, msg string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "app", Name: pod}, Reason: reason, Message: msg}
	}
	kube := fake.NewClientset(
		ev("a", "web-0", ReasonDone, "successfully refreshed … ("+Annotation+"=v2)"),
		ev("b", "web-1", ReasonDone, "successfully refreshed … ("+Annotation+"=v1)"), // an earlier request
		ev("c", "web-2", ReasonFailed, "failed to refresh … ("+Annotation+"=v2): denied"),
	)
	ctx := context.Background()
	if err := Wait(ctx, kube, "app", []string{"web-0"}, "v2"); err != nil {
		t.Errorf("answered refresh: %v", err)
	}
	if err := Wait(ctx, kube, "app", []string{"web-0", "web-2"}, "v2"); err == nil || !strings.Contains(err.Error(), "web-2") {
		t.Errorf("failed refresh: err %v, want one naming web-2", err)
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := Wait(short, kube, "app", []string{"web-1"}, "v2"); err == nil || !strings.Contains(err.Error(), "web-1") || !strings.Contains(err.Error(), "rotation") {
		t.Errorf("unanswered refresh: err %v, want one naming web-1 and rotation", err)
	}
}
