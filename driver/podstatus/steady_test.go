package podstatus

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// writes are the verbs other than reads since the last ClearActions.
func writes(actions []k8stesting.Action) []string {
	var out []string
	for _, a := range actions {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			out = append(out, v)
		}
	}
	return out
}

// TestSteadyWritesNothing: recording the same mount again or the same object versions (in any
// order) writes nothing; every change the driver manages is written, once.
func TestSteadyWritesNothing(t *testing.T) {
	ctx := context.Background()
	api, fake := newFake(t)
	c, _ := New(api, "node-1")
	if _, err := c.Record(ctx, mount()); err != nil {
		t.Fatal(err)
	}
	const name = "web-0-apps-azure-kv"

	fake.ClearActions()
	m := mount()
	m.Objects = []ssv1.SecretProviderClassObject{m.Objects[1], m.Objects[0]}
	if _, err := c.Record(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := c.SetObjects(ctx, "apps", name, m.Objects); err != nil {
		t.Fatal(err)
	}
	if w := writes(fake.Actions()); len(w) != 0 {
		t.Errorf("unchanged mount and versions, other order: writes %v", w)
	}

	for _, tc := range []struct {
		name  string
		write func() error
		check func(st *ssv1.SecretProviderClassPodStatus) bool
	}{
		{"object version rotated", func() error {
			return c.SetObjects(ctx, "apps", name, []ssv1.SecretProviderClassObject{{ID: "key/a", Version: "1"}, {ID: "secret/b", Version: "3"}})
		}, func(st *ssv1.SecretProviderClassPodStatus) bool { return st.Status.Objects[1].Version == "3" }},
		{"object added", func() error {
			return c.SetObjects(ctx, "apps", name, []ssv1.SecretProviderClassObject{{ID: "key/a", Version: "1"}, {ID: "secret/b", Version: "3"}, {ID: "secret/c", Version: "1"}})
		}, func(st *ssv1.SecretProviderClassPodStatus) bool { return len(st.Status.Objects) == 3 }},
		{"object removed", func() error {
			return c.SetObjects(ctx, "apps", name, []ssv1.SecretProviderClassObject{{ID: "secret/c", Version: "1"}})
		}, func(st *ssv1.SecretProviderClassPodStatus) bool { return len(st.Status.Objects) == 1 }},
		{"target path changed", func() error {
			m := mount()
			m.TargetPath += "-2"
			_, err := c.Record(ctx, m)
			return err
		}, func(st *ssv1.SecretProviderClassPodStatus) bool {
			return st.Status.TargetPath == mount().TargetPath+"-2"
		}},
		{"pod recreated under the same name", func() error {
			m := mount()
			m.PodUID = types.UID("uid-2")
			_, err := c.Record(ctx, m)
			return err
		}, func(st *ssv1.SecretProviderClassPodStatus) bool {
			return len(st.OwnerReferences) == 1 && st.OwnerReferences[0].UID == "uid-2"
		}},
		{"moved to another node's driver", func() error {
			other, _ := New(api, "node-2")
			m := mount()
			m.PodUID = types.UID("uid-2")
			_, err := other.Record(ctx, m)
			return err
		}, func(st *ssv1.SecretProviderClassPodStatus) bool { return st.Labels[ssv1.NodeNameLabel] == "node-2" }},
	} {
		fake.ClearActions()
		if err := tc.write(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if w := writes(fake.Actions()); len(w) != 1 || w[0] != "patch" {
			t.Errorf("%s: writes %v, want one patch", tc.name, w)
		}
		st, err := c.Get(ctx, "apps", name)
		if err != nil {
			t.Fatal(err)
		}
		if !tc.check(st) {
			t.Errorf("%s: not written: %+v %+v", tc.name, st.ObjectMeta, st.Status)
		}
		// The same write again is free.
		fake.ClearActions()
		if err := tc.write(); err != nil {
			t.Fatal(err)
		}
		if w := writes(fake.Actions()); len(w) != 0 {
			t.Errorf("%s repeated: writes %v", tc.name, w)
		}
	}
}
