package podstatus

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient/spcclienttest"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
)

func newFake(t *testing.T, objs ...runtime.Object) (*spcclient.Client, *dynamicfake.FakeDynamicClient) {
	t.Helper()
	c, fake, err := spcclienttest.NewFake(objs...)
	if err != nil {
		t.Fatal(err)
	}
	return c, fake
}

func mount() Mount {
	return Mount{
		PodName: "web-0", Namespace: "apps", PodUID: "uid-1", SPCName: "azure-kv",
		TargetPath: "/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~csi/secrets/mount",
		Objects: []ssv1.SecretProviderClassObject{
			{ID: "secret/b", Version: "2"}, {ID: "key/a", Version: "1"},
		},
	}
}

func TestRecordCreates(t *testing.T) {
	ctx := context.Background()
	api, _ := newFake(t)
	c, err := New(api, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Record(ctx, mount())
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "web-0-apps-azure-kv" || got.Namespace != "apps" {
		t.Errorf("name = %s/%s", got.Namespace, got.Name)
	}
	if got.Labels[ssv1.NodeNameLabel] != "node-1" {
		t.Errorf("labels = %v", got.Labels)
	}
	if len(got.OwnerReferences) != 1 || got.OwnerReferences[0].Kind != "Pod" || got.OwnerReferences[0].UID != "uid-1" || got.OwnerReferences[0].Name != "web-0" {
		t.Errorf("owner references = %+v", got.OwnerReferences)
	}
	want := []ssv1.SecretProviderClassObject{{ID: "key/a", Version: "1"}, {ID: "secret/b", Version: "2"}}
	if !objectsEqual(got.Status.Objects, want) || got.Status.Objects[0].ID != "key/a" {
		t.Errorf("objects = %+v, want sorted %+v", got.Status.Objects, want)
	}
	if !got.Status.Mounted || got.Status.PodName != "web-0" || got.Status.SecretProviderClassName != "azure-kv" || got.Status.TargetPath != mount().TargetPath {
		t.Errorf("status = %+v", got.Status)
	}
	// Read back through the API, not just the returned value.
	back, err := c.Get(ctx, "apps", "web-0-apps-azure-kv")
	if err != nil {
		t.Fatal(err)
	}
	if !statusEqual(back.Status, got.Status) {
		t.Errorf("stored %+v, returned %+v", back.Status, got.Status)
	}
}

func TestRecordKeepsOtherFields(t *testing.T) {
	ctx := context.Background()
	existing := &ssv1.SecretProviderClassPodStatus{
		TypeMeta: metav1.TypeMeta{APIVersion: "secrets-store.csi.x-k8s.io/v1", Kind: "SecretProviderClassPodStatus"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-0-apps-azure-kv", Namespace: "apps", ResourceVersion: "7",
			Labels:      map[string]string{"team": "blue"},
			Annotations: map[string]string{"note": "keep"},
			Finalizers:  []string{"example.com/keep"},
			OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "v1", Kind: "Pod", Name: "web-0", UID: "old-uid"},
				{APIVersion: "example.com/v1", Kind: "Audit", Name: "a", UID: "audit-uid"},
			},
		},
		Status: ssv1.SecretProviderClassPodStatusStatus{PodName: "web-0", Mounted: true, Objects: []ssv1.SecretProviderClassObject{{ID: "key/a", Version: "0"}}},
	}
	api, fake := newFake(t, existing)
	c, _ := New(api, "node-1")
	got, err := c.Record(ctx, mount())
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels["team"] != "blue" || got.Labels[ssv1.NodeNameLabel] != "node-1" {
		t.Errorf("labels = %v", got.Labels)
	}
	if got.Annotations["note"] != "keep" || len(got.Finalizers) != 1 {
		t.Errorf("annotations %v finalizers %v were dropped", got.Annotations, got.Finalizers)
	}
	var uids []types.UID
	for _, r := range got.OwnerReferences {
		uids = append(uids, r.UID)
	}
	if len(uids) != 2 || uids[0] != "audit-uid" || uids[1] != "uid-1" {
		t.Errorf("owner uids = %v, want the stale pod replaced and the other owner kept", uids)
	}
	if len(got.Status.Objects) != 2 || got.Status.Objects[0].Version != "1" {
		t.Errorf("objects = %+v", got.Status.Objects)
	}
	// The patch was a merge patch pinned to the resourceVersion we read.
	var patched bool
	for _, a := range fake.Actions() {
		if a.GetVerb() == "update" {
			t.Errorf("blind update sent: %v", a)
		}
		if p, ok := a.(k8stesting.PatchAction); ok {
			patched = true
			if p.GetPatchType() != types.MergePatchType || !strings.Contains(string(p.GetPatch()), `"resourceVersion":"7"`) {
				t.Errorf("patch %s %s is not pinned to resourceVersion 7", p.GetPatchType(), p.GetPatch())
			}
		}
	}
	if !patched {
		t.Error("no patch sent")
	}
}

func TestRecordIdempotent(t *testing.T) {
	ctx := context.Background()
	api, fake := newFake(t)
	c, _ := New(api, "node-1")
	if _, err := c.Record(ctx, mount()); err != nil {
		t.Fatal(err)
	}
	fake.ClearActions()
	if _, err := c.Record(ctx, mount()); err != nil {
		t.Fatal(err)
	}
	for _, a := range fake.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("repeated Record wrote: %s", a.GetVerb())
		}
	}
}

func TestRecordRetriesConflict(t *testing.T) {
	ctx := context.Background()
	api, fake := newFake(t)
	c, _ := New(api, "node-1")
	if _, err := c.Record(ctx, mount()); err != nil {
		t.Fatal(err)
	}
	conflicts := 0
	fake.PrependReactor("patch", "secretproviderclasspodstatuses", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts < 2 {
			conflicts++
			return true, nil, apierrors.NewConflict(ssv1.SecretProviderClassPodStatusesResource.GroupResource(), "x", nil)
		}
		return false, nil, nil
	})
	m := mount()
	m.Objects = []ssv1.SecretProviderClassObject{{ID: "key/a", Version: "9"}}
	got, err := c.Record(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if conflicts != 2 || len(got.Status.Objects) != 1 || got.Status.Objects[0].Version != "9" {
		t.Errorf("conflicts=%d objects=%+v", conflicts, got.Status.Objects)
	}
}

func TestSetObjects(t *testing.T) {
	ctx := context.Background()
	api, _ := newFake(t)
	c, _ := New(api, "node-1")
	if _, err := c.Record(ctx, mount()); err != nil {
		t.Fatal(err)
	}
	err := c.SetObjects(ctx, "apps", "web-0-apps-azure-kv", []ssv1.SecretProviderClassObject{{ID: "secret/b", Version: "3"}, {ID: "key/a", Version: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := c.Get(ctx, "apps", "web-0-apps-azure-kv")
	if got.Status.Objects[1].Version != "3" || !got.Status.Mounted || got.Status.TargetPath == "" {
		t.Errorf("status = %+v", got.Status)
	}
	if err := c.SetObjects(ctx, "apps", "missing", nil); !apierrors.IsNotFound(err) {
		t.Errorf("missing status: err = %v, want NotFound", err)
	}
}

func TestValidation(t *testing.T) {
	if _, err := New(nil, "n"); err == nil {
		t.Error("nil client accepted")
	}
	api, _ := newFake(t)
	if _, err := New(api, ""); err == nil || !strings.Contains(err.Error(), "--nodeid") {
		t.Errorf("empty node: %v", err)
	}
	c, _ := New(api, "n")
	m := mount()
	m.PodUID = ""
	if _, err := c.Record(context.Background(), m); err == nil || !strings.Contains(err.Error(), "pod uid") || !strings.Contains(err.Error(), "podInfoOnMount") {
		t.Errorf("missing uid: %v", err)
	}
}

func TestPublishedHook(t *testing.T) {
	api, _ := newFake(t)
	c, _ := New(api, "node-1")
	m := driver.MountInfo{
		PodName: "web-0", PodNamespace: "apps", PodUID: "uid-1", TargetPath: "/t",
		SecretProviderClass: &ssv1.SecretProviderClass{ObjectMeta: metav1.ObjectMeta{Name: "azure-kv", Namespace: "apps"}},
		Objects:             []driver.ObjectVersion{{ID: "secret/z", Version: "1"}, {ID: "cert/a", Version: "2"}},
	}
	if err := c.Published(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(context.Background(), "apps", "web-0-apps-azure-kv")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Objects[0].ID != "cert/a" || got.Status.TargetPath != "/t" || got.OwnerReferences[0].UID != "uid-1" {
		t.Errorf("status = %+v", got)
	}
	m.SecretProviderClass = nil
	if err := c.Published(context.Background(), m); err == nil || !strings.Contains(err.Error(), "secretProviderClass") {
		t.Errorf("no SPC: %v", err)
	}
}
