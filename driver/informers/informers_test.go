package informers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient/spcclienttest"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// TestInformersAreNarrowed checks every list the informers send carries the selector that bounds
// the driver's memory to its node and its own Secrets.
func TestInformersAreNarrowed(t *testing.T) {
	managed := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "synced", Namespace: "apps", Labels: map[string]string{ssv1.ManagedLabel: "true"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}}}}
	unrelated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "apps"}}
	kube := fake.NewClientset(managed, unrelated)
	_, dyn, err := spcclienttest.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(kube, dyn, "node-1", Options{Rotation: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.Start(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	// The managed Secrets start on first use and answer once synced.
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		_, err := w.ManagedSecrets().List(labels.Everything())
		return err == nil, nil
	}); err != nil {
		t.Fatalf("managed Secrets never synced: %v", err)
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
		"secretproviderclasses":          {"|"},
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
	all, err := w.ManagedSecrets().List(labels.Everything())
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

func TestNewChecks(t *testing.T) {
	if _, err := New(nil, nil, "n", Options{}); err == nil {
		t.Error("nil clients accepted")
	}
	_, dyn, _ := spcclienttest.NewFake()
	if _, err := New(fake.NewClientset(), dyn, "", Options{}); err == nil {
		t.Error("empty node accepted")
	}
}

// TestWithoutRotationNothingIsWatched checks a driver without rotation lists nothing at start,
// and lists the managed Secrets only once a sync asks for them.
func TestWithoutRotationNothingIsWatched(t *testing.T) {
	kube := fake.NewClientset()
	_, dyn, err := spcclienttest.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(kube, dyn, "node-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Pods != nil || w.PodStatuses != nil || w.UsedSecrets != nil || w.Classes != nil {
		t.Fatal("rotation listers built without rotation")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.Start(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(kube.Actions()) + len(dyn.Actions()); n != 0 {
		t.Fatalf("%d API calls before any sync, want 0: %v", n, kube.Actions())
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		_, err := w.ManagedSecrets().Secrets("ns").Get("x")
		return err != ErrNotSynced, nil
	}); err != nil {
		t.Fatalf("managed Secrets never synced: %v", err)
	}
	for _, a := range kube.Actions() {
		if a.GetResource().Resource != "secrets" {
			t.Errorf("unexpected call %v", a)
		}
	}
}
