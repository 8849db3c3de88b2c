package rotation

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// TestWatchesAreNarrowed checks every list the informers send carries the selector that bounds
// the driver's memory to its node and its own Secrets.
func TestWatchesAreNarrowed(t *testing.T) {
	managed := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "synced", Namespace: "apps", Labels: map[string]string{ssv1.ManagedLabel: "true"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}}}}
	unrelated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "apps"}}
	kube := fake.NewClientset(managed, unrelated)
	_, dyn, err := spcclient.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatches(kube, dyn, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.Start(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	selectors := map[string][]string{}
	for _, a := range append(kube.Actions(), dyn.Actions()...) {
		if l, ok := a.(k8stesting.ListAction); ok {
			r := l.GetListRestrictions()
			selectors[a.GetResource().Resource] = append(selectors[a.GetResource().Resource], r.Labels.String()+"|"+r.Fields.String())
		}
	}
	want := map[string][]string{
		"pods":                           {"|spec.nodeName=node-1"},
		"secretproviderclasspodstatuses": {ssv1.NodeNameLabel + "=node-1|"},
	}
	for res, sel := range want {
		if got := selectors[res]; len(got) != 1 || got[0] != sel[0] {
			t.Errorf("%s listed with %v, want %v", res, got, sel)
		}
	}
	secretSel := selectors["secrets"]
	if len(secretSel) != 2 {
		t.Fatalf("secrets listed %v", secretSel)
	}
	for _, s := range secretSel {
		if s != ssv1.ManagedLabel+"=true|" && s != ssv1.UsedLabel+"=true|" {
			t.Errorf("secrets listed with %q", s)
		}
	}
	all, err := w.ManagedSecrets.List(labels.Everything())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Name != "synced" {
		t.Fatalf("managed Secret cache holds %d objects", len(all))
	}
	if len(all[0].ManagedFields) != 0 {
		t.Error("managedFields kept in the cache")
	}
}

func TestNewWatchesChecks(t *testing.T) {
	if _, err := NewWatches(nil, nil, "n"); err == nil {
		t.Error("nil clients accepted")
	}
	_, dyn, _ := spcclient.NewFake()
	if _, err := NewWatches(fake.NewClientset(), dyn, ""); err == nil {
		t.Error("empty node accepted")
	}
}
