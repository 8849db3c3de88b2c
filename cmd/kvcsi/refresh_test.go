package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/refresh"
)

func TestRefreshPodSetsTheAnnotation(t *testing.T) {
	kube := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web"}})
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{ssv1.SecretProviderClassesResource: "SecretProviderClassList"})
	connect := func(string, string) (kubernetes.Interface, dynamic.Interface, error) { return kube, dyn, nil }
	var out, errb bytes.Buffer
	if err := runRefresh(context.Background(), []string{"pod", "app/web"}, &out, &errb, connect); err != nil {
		t.Fatal(err)
	}
	p, _ := kube.CoreV1().Pods("app").Get(context.Background(), "web", metav1.GetOptions{})
	if v := p.Annotations[refresh.Annotation]; v == "" || !strings.Contains(out.String(), v) {
		t.Errorf("annotation %q, output %q", v, out.String())
	}
	for _, args := range [][]string{nil, {"pod"}, {"node", "n"}, {"class", "kv"}} {
		if err := runRefresh(context.Background(), args, &out, &errb, connect); err == nil {
			t.Errorf("refresh %q: no usage error", args)
		}
	}
	if err := runRefresh(context.Background(), []string{"class", "app/missing"}, &out, &errb, connect); err == nil {
		t.Error("refresh of a missing class succeeded")
	}
}
