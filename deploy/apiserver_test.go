package deploy

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/addon/kubeapply"
	"github.com/kvcsi/kvcsi/charts"
	"github.com/kvcsi/kvcsi/localcluster/localclustertest"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

func TestMain(m *testing.M) { localclustertest.Main(m) }

const testCA = `-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAXMRUwEwYDVQQDEwxrdmNzaS10
-----END CERTIFICATE-----
`

func kube(t *testing.T, manager string) *kubeapply.Client {
	t.Helper()
	c, err := kubeapply.New(localclustertest.Get(t).RESTConfig(), manager)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dryRun applies objs with server-side dry-run. Namespaces are created for
// real first: a dry-run namespace does not exist for the objects in it.
func dryRun(t *testing.T, k *kubeapply.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	var ns, rest []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			ns = append(ns, o)
		} else {
			rest = append(rest, o)
		}
	}
	ctx := context.Background()
	if err := k.Apply(ctx, ns, false); err != nil {
		t.Fatal(err)
	}
	if err := k.Apply(ctx, rest, true); err != nil {
		t.Fatalf("server-side dry-run: %v", err)
	}
}

func TestManifestsPassServerSideDryRun(t *testing.T) {
	k := kube(t, "kvcsi-deploy-test")
	names, err := fs.Glob(FS, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// One rendering object per committed file, all applied together, so
	// cross-file references (namespaces) resolve as with `kubectl apply -f deploy/`.
	var all []*unstructured.Unstructured
	for _, name := range names {
		data, err := FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := (&charts.Rendering{Files: []charts.File{{Name: name, Content: string(data)}}}).Objects()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(objs) == 0 {
			t.Errorf("%s holds no object", name)
		}
		all = append(all, objs...)
	}
	charts.SortForInstall(all)
	dryRun(t, k, all)
}

func TestEveryChartOptionPassesServerSideDryRun(t *testing.T) {
	k := kube(t, "kvcsi-deploy-test")
	kv, err := k.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(kv, "v1.") {
		// An unstamped source build (v0.0.0-master) of the pinned v1.37.2.
		kv = KubeVersion
	}
	aks, err := addon.Objects(addon.DefaultConfig("v1"), kv)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		values map[string]any
	}{
		{"defaults", nil},
		{"rotation", map[string]any{"enableSecretRotation": true, "rotationPollInterval": "30s"}},
		{"sync secret", map[string]any{"syncSecret": map[string]any{"enabled": true}}},
		{"official sidecars", map[string]any{"sidecars": map[string]any{"official": true}}},
		{"image registry and tag", map[string]any{"image": map[string]any{"registry": "localhost:5000/kvcsi", "tag": "v1.2.3", "pullPolicy": "Always"}}},
		{"windows", map[string]any{"windows": map[string]any{"enabled": true}}},
		{"windows only", map[string]any{"windows": map[string]any{"enabled": true}, "linux": map[string]any{"enabled": false}}},
		{"provider options", map[string]any{"provider": map[string]any{
			"caBundle":          testCA,
			"hostAliases":       []any{map[string]any{"ip": "198.18.1.50", "hostnames": []any{"kv1.vault.azure.net", "login.microsoftonline.com"}}},
			"extraArgs":         []any{"--cache-ttl=0s"},
			"cloudName":         "AzurePublicCloud",
			"logFormatJSON":     true,
			"constructPEMChain": false,
		}}},
		{"driver options", map[string]any{"driver": map[string]any{"providerHealthCheck": true, "logFormatJSON": true, "logVerbosity": 5}}},
		{"no token requests", map[string]any{"tokenRequests": []any{}}},
		{"emulator", map[string]any{"emulator": map[string]any{"enabled": true, "clusterIP": "198.18.1.50", "seed": "vaults: []\n", "tlsSecretName": "kvemulator-ca"}}},
		{"emulator only", map[string]any{"secretsStore": map[string]any{"enabled": false}, "emulator": map[string]any{"enabled": true}}},
		{"emulator in the release namespace", map[string]any{"emulator": map[string]any{"enabled": true, "namespace": "kube-system"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := charts.Render(charts.Options{Values: tc.values, KubeVersion: kv})
			if err != nil {
				t.Fatal(err)
			}
			objs, err := r.Objects()
			if err != nil {
				t.Fatal(err)
			}
			dryRun(t, k, objs)
		})
	}
	t.Run("aks add-on", func(t *testing.T) { dryRun(t, k, aks) })
}

// TestRBACIsLeastPrivilege installs only the RBAC objects of three renderings
// (each with its own service-account names) and asks the real authorizer, with
// SubjectAccessReviews, what each account may do.
func TestRBACIsLeastPrivilege(t *testing.T) {
	cp := localclustertest.Get(t)
	k := kube(t, "kvcsi-rbac-test")
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 100, 200 // a few hundred SubjectAccessReviews
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	install := func(t *testing.T, prefix string, values map[string]any) (driverSA, providerSA string) {
		t.Helper()
		if values == nil {
			values = map[string]any{}
		}
		values["driver"] = map[string]any{"name": prefix + "-driver"}
		values["provider"] = map[string]any{"name": prefix + "-provider"}
		r, err := charts.Render(charts.Options{Values: values})
		if err != nil {
			t.Fatal(err)
		}
		objs, err := r.Objects()
		if err != nil {
			t.Fatal(err)
		}
		var rbac []*unstructured.Unstructured
		for _, o := range objs {
			switch o.GetKind() {
			case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
				rbac = append(rbac, o)
			}
		}
		if err := k.Apply(ctx, rbac, false); err != nil {
			t.Fatal(err)
		}
		return prefix + "-driver", prefix + "-provider"
	}
	can := func(t *testing.T, sa string, a access) bool {
		t.Helper()
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:kube-system:" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.subresource, Namespace: a.namespace,
			},
		}}
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Status.Allowed
	}
	check := func(t *testing.T, sa string, allowed, denied []access) {
		t.Helper()
		// The RBAC authorizer sees new roles and bindings through informers,
		// a moment after they were written: wait until the grants arrived.
		for _, a := range allowed {
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
				return can(t, sa, a), nil
			})
			if err != nil {
				t.Errorf("%s cannot %s %s/%s%s in %q, which it needs", sa, a.verb, a.group, a.resource, sub(a.subresource), a.namespace)
			}
		}
		for _, a := range denied {
			if can(t, sa, a) {
				t.Errorf("%s can %s %s/%s%s in %q, which it must not", sa, a.verb, a.group, a.resource, sub(a.subresource), a.namespace)
			}
		}
	}
	const spcGroup = "secrets-store.csi.x-k8s.io"
	driverNeeds := []access{
		{"get", "", "pods", "", "app"}, {"list", "", "pods", "", ""}, {"watch", "", "pods", "", ""},
		{"get", "", "nodes", "", ""},
		{"get", spcGroup, "secretproviderclasses", "", "app"}, {"list", spcGroup, "secretproviderclasses", "", ""}, {"watch", spcGroup, "secretproviderclasses", "", ""},
		{"create", spcGroup, "secretproviderclasspodstatuses", "", "app"}, {"update", spcGroup, "secretproviderclasspodstatuses", "", "app"},
		{"patch", spcGroup, "secretproviderclasspodstatuses", "", "app"}, {"delete", spcGroup, "secretproviderclasspodstatuses", "", "app"},
		{"list", spcGroup, "secretproviderclasspodstatuses", "", ""}, {"watch", spcGroup, "secretproviderclasspodstatuses", "", ""},
		{"create", "", "events", "", "app"}, {"patch", "", "events", "", "app"},
	}
	neverDriver := []access{
		{"get", "", "configmaps", "", "app"}, {"create", "", "pods", "", "app"}, {"delete", "", "pods", "", "app"},
		{"update", "", "nodes", "", ""}, {"create", spcGroup, "secretproviderclasses", "", "app"},
		{"delete", spcGroup, "secretproviderclasses", "", "app"}, {"update", "storage.k8s.io", "csidrivers", "", ""},
		{"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", ""}, {"escalate", "rbac.authorization.k8s.io", "clusterroles", "", ""},
		{"impersonate", "", "serviceaccounts", "", "app"}, {"create", "", "pods", "exec", "app"},
	}
	secretsRead := []access{{"get", "", "secrets", "", "app"}, {"list", "", "secrets", "", ""}, {"watch", "", "secrets", "", ""}}
	secretsWrite := []access{{"create", "", "secrets", "", "app"}, {"patch", "", "secrets", "", "app"}, {"update", "", "secrets", "", "app"}, {"delete", "", "secrets", "", "app"}}
	token := []access{{"create", "", "serviceaccounts", "token", "app"}}
	providerNever := append(append(append([]access{}, driverNeeds...), secretsRead...), secretsWrite...)

	t.Run("defaults: no access to Secrets", func(t *testing.T) {
		d, p := install(t, "rbac-default", nil)
		check(t, d, driverNeeds, concat(neverDriver, secretsRead, secretsWrite, token))
		check(t, p, nil, providerNever)
	})
	t.Run("sync: Secrets only through the separate sync role", func(t *testing.T) {
		d, p := install(t, "rbac-sync", map[string]any{"syncSecret": map[string]any{"enabled": true}})
		check(t, d, concat(driverNeeds, secretsRead, secretsWrite), concat(neverDriver, token))
		check(t, p, nil, providerNever)
	})
	// Rotation reads the CSIDriver's tokenRequests, and only that CSIDriver.
	canGetCSIDriver := func(t *testing.T, sa, name string) bool {
		t.Helper()
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:kube-system:" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "get", Group: "storage.k8s.io", Resource: "csidrivers", Name: name,
			},
		}}
		res, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Status.Allowed
	}
	t.Run("rotation: read Secrets and request tokens, write nothing", func(t *testing.T) {
		d, p := install(t, "rbac-rotation", map[string]any{"enableSecretRotation": true})
		// The authorizer sees new bindings after a moment (its informers): wait for the grant
		// before asking what is denied, as check does.
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			return canGetCSIDriver(t, d, "secrets-store.csi.k8s.io"), nil
		}); err != nil {
			t.Errorf("%s cannot get CSIDriver secrets-store.csi.k8s.io, whose tokenRequests rotation needs", d)
		}
		if canGetCSIDriver(t, d, "other.csi.example.com") {
			t.Errorf("%s can get other CSIDrivers", d)
		}
		check(t, d, concat(driverNeeds, secretsRead, token), concat(neverDriver, secretsWrite))
		check(t, p, nil, providerNever)
	})
}

// access is one SubjectAccessReview question.
type access struct {
	verb, group, resource, subresource, namespace string
}

func concat(lists ...[]access) []access {
	var out []access
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func sub(s string) string {
	if s == "" {
		return ""
	}
	return "/" + s
}
