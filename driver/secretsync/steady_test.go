package secretsync

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// informerFixture is a fixture whose syncer reads the managed Secrets from a lister, as the
// driver's does; sync copies the API state into it the way the informer would.
type informerFixture struct {
	*fixture
	indexer cache.Indexer
}

func newInformerFixture(t *testing.T) *informerFixture {
	f := &informerFixture{fixture: newFixture(t), indexer: cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})}
	f.syncer.lister = corelisters.NewSecretLister(f.indexer)
	return f
}

// sync syncs, then brings the lister up to date with the API server.
func (f *informerFixture) sync(t *testing.T, spc *ssv1.SecretProviderClass, pod string, dir string) Result {
	t.Helper()
	res, err := f.syncer.Sync(context.Background(), req(spc, pod, types.UID("uid-"+pod), dir))
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.client.CoreV1().Secrets("apps").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]any, 0, len(list.Items))
	for i := range list.Items {
		items = append(items, &list.Items[i])
	}
	if err := f.indexer.Replace(items, ""); err != nil {
		t.Fatal(err)
	}
	return res
}

// patches are the strategic merge patches sent since the last ClearActions, decoded.
func (f *informerFixture) patches(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, a := range f.client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			var m map[string]any
			if err := json.Unmarshal(p.GetPatch(), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// TestSteadySyncCostsNoAPICall: with the informer's copy up to date, a rotation's sync of an
// unchanged Secret makes no API call at all, also for a Secret many pods own (issue 20's
// sync/many-pods-one-secret), while every change the driver manages is still written, each as
// one patch carrying only what changed.
func TestSteadySyncCostsNoAPICall(t *testing.T) {
	f := newInformerFixture(t)
	dir := opaqueMount(t)
	const pods = 5
	var owners []string
	for i := range pods {
		owners = append(owners, fmt.Sprintf("web-%d", i))
		f.sync(t, opaqueSPC(), owners[i], dir)
	}
	if n := len(f.secret(t, "foosecret").OwnerReferences); n != pods {
		t.Fatalf("owner references = %d, want %d", n, pods)
	}

	steady := func(spc func() *ssv1.SecretProviderClass) {
		t.Helper()
		f.client.ClearActions()
		for _, pod := range owners {
			if res := f.sync(t, spc(), pod, dir); len(res.Changed) != 0 {
				t.Errorf("steady sync reported changed %v", res.Changed)
			}
		}
		for _, a := range f.client.Actions() {
			if a.GetVerb() != "list" { // the fixture's own informer refresh
				t.Errorf("steady sync of an unchanged Secret made API call %s %s", a.GetVerb(), a.GetResource().Resource)
			}
		}
	}
	steady(opaqueSPC)

	for _, c := range []struct {
		name  string
		spc   func() *ssv1.SecretProviderClass
		pod   string
		field string // the only top-level or metadata field the patch may carry
		check func(t *testing.T, f *informerFixture)
	}{
		{
			name: "value rotated", spc: opaqueSPC, pod: "web-0", field: "data",
			check: func(t *testing.T, f *informerFixture) {
				if got := string(f.secret(t, "foosecret").Data["username"]); got != "rotated" {
					t.Errorf("data username = %q", got)
				}
			},
		},
		{
			name: "label added to secretObjects", pod: "web-1", field: "labels",
			spc: func() *ssv1.SecretProviderClass {
				s := opaqueSPC()
				s.Spec.SecretObjects[0].Labels["tier"] = "db"
				return s
			},
			check: func(t *testing.T, f *informerFixture) {
				if l := f.secret(t, "foosecret").Labels; l["tier"] != "db" || l[ssv1.ManagedLabel] != "true" {
					t.Errorf("labels = %v", l)
				}
			},
		},
		{
			name: "annotation value changed", pod: "web-2", field: "annotations",
			spc: func() *ssv1.SecretProviderClass {
				s := opaqueSPC()
				s.Spec.SecretObjects[0].Labels["tier"] = "db"
				s.Spec.SecretObjects[0].Annotations["team"] = "red"
				return s
			},
			check: func(t *testing.T, f *informerFixture) {
				if a := f.secret(t, "foosecret").Annotations; a["team"] != "red" {
					t.Errorf("annotations = %v", a)
				}
			},
		},
		{
			name: "another pod mounts it", pod: "web-new", field: "ownerReferences",
			spc: func() *ssv1.SecretProviderClass {
				s := opaqueSPC()
				s.Spec.SecretObjects[0].Labels["tier"] = "db"
				s.Spec.SecretObjects[0].Annotations["team"] = "red"
				return s
			},
			check: func(t *testing.T, f *informerFixture) {
				refs := f.secret(t, "foosecret").OwnerReferences
				if len(refs) != pods+1 || !hasOwner(refs, "uid-web-new") {
					t.Errorf("owner references = %+v", refs)
				}
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.field == "data" {
				if err := os.WriteFile(filepath.Join(dir, "secretalias"), []byte("rotated"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f.client.ClearActions()
			res := f.sync(t, c.spc(), c.pod, dir)
			if (c.field == "data") != (len(res.Changed) == 1) {
				t.Errorf("changed = %v", res.Changed)
			}
			p := f.patches(t)
			if len(p) != 1 {
				t.Fatalf("patches = %d, want 1", len(p))
			}
			var fields []string
			for k, v := range p[0] {
				if k != "metadata" {
					fields = append(fields, k)
					continue
				}
				for mk := range v.(map[string]any) {
					fields = append(fields, mk)
				}
			}
			if len(fields) != 1 || fields[0] != c.field {
				t.Errorf("patch fields = %v, want only %s", fields, c.field)
			}
			c.check(t, f)
			if !slices.Contains(owners, c.pod) {
				owners = append(owners, c.pod)
			}
			// The change written, the next cycle (every pod, the new one too) is free again.
			steady(c.spc)
		})
	}
}
