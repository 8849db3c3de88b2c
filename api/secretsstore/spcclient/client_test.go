package spcclient_test

import (
	"context"
	"testing"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient/spcclienttest"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestRoundTripThroughDynamicClient(t *testing.T) {
	spc := &secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "azure-kvname", Namespace: "default"},
		Spec: secretsstorev1.SecretProviderClassSpec{
			Provider:   "azure",
			Parameters: map[string]string{"keyvaultName": "kv", "objects": "array:\n- |\n  objectName: s1\n"},
			SecretObjects: []secretsstorev1.SecretObject{{
				SecretName: "foosecret", Type: "Opaque",
				Labels: map[string]string{"environment": "test"},
				Data:   []secretsstorev1.SecretObjectData{{ObjectName: "s1", Key: "username"}},
			}},
		},
	}
	c, _, err := spcclienttest.NewFake(spc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := c.SecretProviderClasses("default").Get(ctx, "azure-kvname", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Provider != "azure" || got.Spec.Parameters["keyvaultName"] != "kv" ||
		got.Spec.SecretObjects[0].Data[0].Key != "username" || got.Spec.SecretObjects[0].Labels["environment"] != "test" {
		t.Fatalf("round trip lost fields: %+v", got.Spec)
	}
	if _, err := c.SecretProviderClasses("other").Get(ctx, "azure-kvname", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("other namespace: err = %v, want NotFound", err)
	}

	ps := &secretsstorev1.SecretProviderClassPodStatus{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-default-azure-kvname", Namespace: "default",
			Labels: map[string]string{secretsstorev1.NodeNameLabel: "node1"}},
		Status: secretsstorev1.SecretProviderClassPodStatusStatus{PodName: "pod", Mounted: true,
			Objects: []secretsstorev1.SecretProviderClassObject{{ID: "secret/s1", Version: "v1"}}},
	}
	pss := c.PodStatuses("default")
	if _, err := pss.Create(ctx, ps, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := pss.List(ctx, metav1.ListOptions{LabelSelector: secretsstorev1.NodeNameLabel + "=node1"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Status.Objects[0].Version != "v1" {
		t.Fatalf("list: %v %+v", err, list)
	}
	patched, err := pss.Patch(ctx, ps.Name, types.MergePatchType, []byte(`{"status":{"targetPath":"/t"}}`), metav1.PatchOptions{})
	if err != nil || patched.Status.TargetPath != "/t" || !patched.Status.Mounted {
		t.Fatalf("patch: %v %+v", err, patched)
	}
}
