package addon

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/localcluster/localclustertest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

func TestMain(m *testing.M) { localclustertest.Main(m) }

// kvcsiAddon makes the manager call `kvcsi addon <verb>` makes (the flag
// parsing is cmd/kvcsi's and tested there): enable installs DefaultConfig
// with image tag v9.9.9 changed by change, update applies change to the
// stored settings.
func kvcsiAddon(t *testing.T, verb string, change func(*Config)) (string, error) {
	t.Helper()
	cp := localclustertest.Get(t)
	rc, err := RESTConfig(cp.KubeconfigPath(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	m, err := NewManager(rc, &out)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	switch verb {
	case "enable":
		c := DefaultConfig("v9.9.9")
		if change != nil {
			change(&c)
		}
		err = m.Enable(ctx, c)
	case "update":
		err = m.Update(ctx, change)
	case "disable":
		err = m.Disable(ctx, DisableOptions{})
	case "status":
		var s *Status
		if s, err = m.Status(ctx); err == nil {
			s.Write(&out)
		}
	default:
		t.Fatalf("no add-on command %q", verb)
	}
	return out.String(), err
}

func mustAddon(t *testing.T, verb string, change func(*Config)) string {
	t.Helper()
	out, err := kvcsiAddon(t, verb, change)
	if err != nil {
		t.Fatalf("kvcsi addon %s: %v\n%s", verb, err, out)
	}
	return out
}

// rotation is `--enable-secret-rotation[=on] [--rotation-poll-interval interval]`.
func rotation(on bool, interval string) func(*Config) {
	return func(c *Config) {
		c.EnableSecretRotation = on
		if interval != "" {
			c.RotationPollInterval = interval
		}
	}
}

type clients struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
}

func newClients(t *testing.T) clients {
	cfg := localclustertest.Get(t).RESTConfig()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clients{cs, dyn}
}

func (c clients) daemonSet(t *testing.T, name string) *appsv1.DaemonSet {
	t.Helper()
	ds, err := c.cs.AppsV1().DaemonSets(Namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("DaemonSet %s: %v", name, err)
	}
	return ds
}

func driverArgs(ds *appsv1.DaemonSet) []string {
	for _, c := range ds.Spec.Template.Spec.Containers {
		if c.Name == "secrets-store" {
			return c.Args
		}
	}
	return nil
}

func (c clients) requiresRepublish(t *testing.T) bool {
	t.Helper()
	d, err := c.cs.StorageV1().CSIDrivers().Get(context.Background(), "secrets-store.csi.k8s.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.RequiresRepublish != nil && *d.Spec.RequiresRepublish
}

func (c clients) exists(t *testing.T, get func(context.Context) error) bool {
	t.Helper()
	err := get(context.Background())
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func (c clients) createSPC(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	spc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1",
		"kind":       "SecretProviderClass",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{"provider": "azure", "parameters": map[string]any{
			"keyvaultName": "kv1", "tenantId": "t", "objects": "array:\n  - |\n    objectName: s\n    objectType: secret\n",
		}},
	}}
	// The CRD may have been re-created a moment ago.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.dyn.Resource(SecretProviderClasses).Namespace(ns).Create(ctx, spc, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("create SecretProviderClass %s/%s: %v", ns, name, err)
	}
}

// TestAddonLifecycle walks the AKS documentation's add-on story against a real
// kube-apiserver: enable, re-enable (idempotent), update the rotation interval
// (the DaemonSets' templates change, so they roll), disable refused while
// SecretProviderClasses exist, disable, disable again, enable again.
func TestAddonLifecycle(t *testing.T) {
	c := newClients(t)
	ctx := context.Background()

	if out := mustAddon(t, "status", nil); !strings.Contains(out, "disabled") {
		t.Fatalf("status before enable:\n%s", out)
	}
	if _, err := kvcsiAddon(t, "update", rotation(true, "")); err == nil || !strings.Contains(err.Error(), "not enabled") {
		t.Fatalf("update before enable: err = %v, want 'not enabled'", err)
	}

	// enable
	mustAddon(t, "enable", nil)
	drv := c.daemonSet(t, DriverName)
	prov := c.daemonSet(t, ProviderName)
	if n := len(drv.Spec.Template.Spec.Containers); n != 3 {
		t.Errorf("%s has %d containers, want 3", DriverName, n)
	}
	if n := len(prov.Spec.Template.Spec.Containers); n != 1 {
		t.Errorf("%s has %d containers, want 1", ProviderName, n)
	}
	if a := driverArgs(drv); !slices.Contains(a, "--enable-secret-rotation=false") || !slices.Contains(a, "--rotation-poll-interval=2m") {
		t.Errorf("driver args after enable: %v", a)
	}
	if img := prov.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/kvcsi/secrets-store-provider-azure:v9.9.9" {
		t.Errorf("provider image = %s", img)
	}
	if c.requiresRepublish(t) {
		t.Error("requiresRepublish is true with rotation off")
	}
	gen := drv.Generation

	// enable again: nothing changes
	mustAddon(t, "enable", nil)
	if g := c.daemonSet(t, DriverName).Generation; g != gen {
		t.Errorf("re-running enable changed the driver DaemonSet (generation %d -> %d)", gen, g)
	}

	// a bad update changes nothing
	if _, err := kvcsiAddon(t, "update", rotation(true, "5x")); err == nil || !strings.Contains(err.Error(), "--rotation-poll-interval") {
		t.Fatalf("update with a bad interval: err = %v", err)
	}
	if g := c.daemonSet(t, DriverName).Generation; g != gen {
		t.Errorf("a rejected update changed the driver DaemonSet")
	}

	// update the interval: the templates change and the DaemonSets roll
	mustAddon(t, "update", rotation(true, "5m"))
	drv = c.daemonSet(t, DriverName)
	if a := driverArgs(drv); !slices.Contains(a, "--enable-secret-rotation=true") || !slices.Contains(a, "--rotation-poll-interval=5m") {
		t.Errorf("driver args after update: %v", a)
	}
	if drv.Generation == gen {
		t.Error("update did not change the driver's pod template")
	}
	if drv.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		t.Errorf("update strategy %s, want RollingUpdate", drv.Spec.UpdateStrategy.Type)
	}
	if img := c.daemonSet(t, ProviderName).Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, ":v9.9.9") {
		t.Errorf("update lost the image tag given to enable: %s", img)
	}
	if !c.requiresRepublish(t) {
		t.Error("requiresRepublish is false with rotation on")
	}
	// The DaemonSet controller sees the new template.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		ds, err := c.cs.AppsV1().DaemonSets(Namespace).Get(ctx, DriverName, metav1.GetOptions{})
		return err == nil && ds.Status.ObservedGeneration >= ds.Generation, err
	})
	if err != nil {
		t.Errorf("the DaemonSet controller did not observe the new template: %v", err)
	}
	if !c.exists(t, func(ctx context.Context) error {
		_, err := c.cs.RbacV1().ClusterRoles().Get(ctx, DriverName+"-rotation", metav1.GetOptions{})
		return err
	}) {
		t.Error("rotation on but no rotation ClusterRole")
	}
	// Settings that no longer need an object remove it, and bring it back.
	rotationRole := func(ctx context.Context) error {
		_, err := c.cs.RbacV1().ClusterRoles().Get(ctx, DriverName+"-rotation", metav1.GetOptions{})
		return err
	}
	syncRole := func(ctx context.Context) error {
		_, err := c.cs.RbacV1().ClusterRoles().Get(ctx, DriverName+"-secretprovidersyncing", metav1.GetOptions{})
		return err
	}
	if !c.exists(t, syncRole) {
		t.Error("the add-on's default has no sync ClusterRole")
	}
	mustAddon(t, "update", func(c *Config) { c.EnableSecretRotation, c.SyncSecret = false, false })
	if c.exists(t, rotationRole) || c.exists(t, syncRole) {
		t.Error("rotation or sync ClusterRole left after turning both off")
	}
	if c.requiresRepublish(t) {
		t.Error("requiresRepublish still true after --disable-secret-rotation")
	}
	if a := driverArgs(c.daemonSet(t, DriverName)); !slices.Contains(a, "--enable-secret-rotation=false") || !slices.Contains(a, "--rotation-poll-interval=5m") {
		t.Errorf("driver args after --disable-secret-rotation: %v (the interval must be kept)", a)
	}
	mustAddon(t, "update", func(c *Config) { c.EnableSecretRotation, c.SyncSecret = true, true })
	if !c.exists(t, rotationRole) || !c.exists(t, syncRole) {
		t.Error("rotation or sync ClusterRole not restored")
	}
	drv = c.daemonSet(t, DriverName)

	gen = drv.Generation
	mustAddon(t, "update", rotation(true, "5m"))
	if g := c.daemonSet(t, DriverName).Generation; g != gen {
		t.Errorf("repeating the update changed the DaemonSet again")
	}
	out := mustAddon(t, "status", nil)
	if !strings.Contains(out, "enabled") || !strings.Contains(out, "5m") || !strings.Contains(out, "3 containers") {
		t.Errorf("status after update:\n%s", out)
	}
	t.Logf("kvcsi addon status:\n%s", out)

	// disable is refused while SecretProviderClasses exist, naming each
	c.createSPC(t, "team-a", "azure-kvname")
	c.createSPC(t, "team-b", "db")
	out, err = kvcsiAddon(t, "disable", nil)
	if !errors.Is(err, ErrSecretProviderClassesExist) {
		t.Fatalf("disable with SecretProviderClasses: err = %v", err)
	}
	for _, want := range []string{"team-a/azure-kvname", "team-b/db", "delete them first"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %s", err, want)
		}
	}
	if out != "" {
		t.Errorf("refused disable printed %q", out)
	}
	c.daemonSet(t, DriverName) // still there
	c.daemonSet(t, ProviderName)

	// disable after deleting them
	for _, n := range [][2]string{{"team-a", "azure-kvname"}, {"team-b", "db"}} {
		if err := c.dyn.Resource(SecretProviderClasses).Namespace(n[0]).Delete(ctx, n[1], metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mustAddon(t, "disable", nil)
	gone := map[string]func(context.Context) error{
		"driver DaemonSet": func(ctx context.Context) error {
			_, err := c.cs.AppsV1().DaemonSets(Namespace).Get(ctx, DriverName, metav1.GetOptions{})
			return err
		},
		"provider DaemonSet": func(ctx context.Context) error {
			_, err := c.cs.AppsV1().DaemonSets(Namespace).Get(ctx, ProviderName, metav1.GetOptions{})
			return err
		},
		"CSIDriver": func(ctx context.Context) error {
			_, err := c.cs.StorageV1().CSIDrivers().Get(ctx, "secrets-store.csi.k8s.io", metav1.GetOptions{})
			return err
		},
		"rotation ClusterRole": func(ctx context.Context) error {
			_, err := c.cs.RbacV1().ClusterRoles().Get(ctx, DriverName+"-rotation", metav1.GetOptions{})
			return err
		},
		"driver ServiceAccount": func(ctx context.Context) error {
			_, err := c.cs.CoreV1().ServiceAccounts(Namespace).Get(ctx, DriverName, metav1.GetOptions{})
			return err
		},
		"state ConfigMap": func(ctx context.Context) error {
			_, err := c.cs.CoreV1().ConfigMaps(Namespace).Get(ctx, StateConfigMap, metav1.GetOptions{})
			return err
		},
	}
	for what, get := range gone {
		if c.exists(t, get) {
			t.Errorf("%s still exists after disable", what)
		}
	}
	// The CRDs go too (deleted, possibly still terminating).
	crd, err := c.dyn.Resource(crdGVR).Get(ctx, "secretproviderclasses.secrets-store.csi.x-k8s.io", metav1.GetOptions{})
	if err == nil && crd.GetDeletionTimestamp() == nil {
		t.Error("the SecretProviderClass CRD was kept after disable")
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

	// disable again: nothing to do, no error
	if out := mustAddon(t, "disable", nil); !strings.Contains(out, "nothing to remove") {
		t.Errorf("second disable printed %q", out)
	}
	if out := mustAddon(t, "status", nil); !strings.Contains(out, "disabled") {
		t.Errorf("status after disable:\n%s", out)
	}

	// enable again (the documented way to turn rotation off): the CRDs come back.
	waitGone(t, c, "secretproviderclasses.secrets-store.csi.x-k8s.io")
	mustAddon(t, "enable", nil)
	if a := driverArgs(c.daemonSet(t, DriverName)); !slices.Contains(a, "--enable-secret-rotation=false") {
		t.Errorf("re-enabled without rotation but args are %v", a)
	}
	c.createSPC(t, "team-a", "after-reenable")

	// Leave the control plane as we found it.
	if err := c.dyn.Resource(SecretProviderClasses).Namespace("team-a").Delete(ctx, "after-reenable", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustAddon(t, "disable", nil)
}

func waitGone(t *testing.T, c clients, crd string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.dyn.Resource(crdGVR).Get(ctx, crd, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		t.Fatalf("CRD %s not removed: %v", crd, err)
	}
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
