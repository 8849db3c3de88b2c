package addon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kvcsi/kvcsi/addon/kubeapply"
	"github.com/kvcsi/kvcsi/charts"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// SecretProviderClasses is the resource disable checks before removing anything.
var SecretProviderClasses = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasses"}

// Manager runs the add-on commands against one cluster.
type Manager struct {
	kube *kubeapply.Client
	out  io.Writer
}

// NewManager connects to the cluster of cfg; progress lines go to out.
func NewManager(cfg *rest.Config, out io.Writer) (*Manager, error) {
	k, err := kubeapply.New(cfg, FieldManager)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	return &Manager{kube: k, out: out}, nil
}

// Objects renders everything the add-on installs for c on a server of
// kubeVersion ("" for Helm's offline default), state ConfigMap included, in
// install order. It does not validate c; Enable and Update do.
func Objects(c Config, kubeVersion string) ([]*unstructured.Unstructured, error) {
	r, err := charts.Render(charts.Options{ReleaseName: Name, Namespace: Namespace, ManagedBy: FieldManager, Values: c.Values(), KubeVersion: kubeVersion})
	if err != nil {
		return nil, err
	}
	objs, err := r.Objects()
	if err != nil {
		return nil, err
	}
	state, err := stateObject(c)
	if err != nil {
		return nil, err
	}
	objs = append(objs, state)
	// The chart's crds/ are not templated, so label here: disable removes
	// only objects that carry the add-on label.
	for _, o := range objs {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[AddonLabel] = Name
		l["app.kubernetes.io/managed-by"] = FieldManager
		o.SetLabels(l)
	}
	return objs, nil
}

// allObjects is every object any configuration of the add-on can install: what
// update prunes from and what disable removes.
func allObjects() ([]*unstructured.Unstructured, error) {
	c := DefaultConfig("all")
	c.EnableSecretRotation = true
	c.SyncSecret = true
	c.EnableSecretSyncController = true
	c.windows, c.WindowsImageTag = true, "all"
	c.ProviderCABundle = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
	return Objects(c, "")
}

func stateObject(c Config) (*unstructured.Unstructured, error) {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetName(StateConfigMap)
	u.SetNamespace(Namespace)
	u.SetLabels(map[string]string{AddonLabel: Name, "app.kubernetes.io/managed-by": FieldManager})
	if err := unstructured.SetNestedStringMap(u.Object, map[string]string{"config.json": string(data)}, "data"); err != nil {
		return nil, err
	}
	return u, nil
}

func key(o *unstructured.Unstructured) string {
	return o.GetAPIVersion() + "/" + o.GetKind() + "/" + o.GetNamespace() + "/" + o.GetName()
}

// Enable installs (or re-applies) the add-on with c. Everything is validated,
// rendered and dry-run on the server before the first write.
func (m *Manager) Enable(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return m.install(ctx, c)
}

// Update loads the stored settings, lets change modify them, and re-applies.
// The DaemonSets roll because their pod templates change.
func (m *Manager) Update(ctx context.Context, change func(*Config)) error {
	c, err := m.Config(ctx)
	if err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("the add-on %s is not enabled in this cluster: run `kvcsi addon enable` first", Name)
	}
	change(c)
	if err := c.Validate(); err != nil {
		return err
	}
	return m.install(ctx, *c)
}

func (m *Manager) install(ctx context.Context, c Config) error {
	kv, err := m.kube.ServerVersion()
	if err != nil {
		return err
	}
	win, err := m.kube.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/os=windows"})
	if err != nil {
		return fmt.Errorf("list Windows nodes: %w", err)
	}
	var winMsg string
	c.windows, winMsg = windowsPlan(len(win.Items), c.WindowsImageTag)
	desired, err := Objects(c, renderVersion(kv))
	if err != nil {
		return err
	}
	all, err := allObjects()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, o := range desired {
		want[key(o)] = true
	}
	var prune []*unstructured.Unstructured
	for _, o := range all {
		if !want[key(o)] {
			prune = append(prune, o)
		}
	}
	var live []*unstructured.Unstructured
	for _, o := range desired {
		l, err := m.kube.Get(ctx, o)
		if err != nil {
			if meta.IsNoMatchError(err) {
				continue
			}
			return err
		}
		live = append(live, l)
	}
	if found := foreignObjects(live); len(found) > 0 {
		return foreignError(found)
	}
	if err := m.kube.Apply(ctx, desired, true); err != nil {
		return fmt.Errorf("server-side dry-run failed, nothing was changed: %w", err)
	}
	if err := m.kube.Apply(ctx, desired, false); err != nil {
		return err
	}
	deleted, err := m.deleteOwned(ctx, prune)
	if err != nil {
		return err
	}
	for _, d := range deleted {
		fmt.Fprintf(m.out, "removed %s\n", d)
	}
	if winMsg != "" {
		fmt.Fprintln(m.out, winMsg)
	}
	fmt.Fprintf(m.out, "add-on %s applied: %d objects in %s (rotation %s, poll interval %s, secret sync %s)\n",
		Name, len(desired), Namespace, onOff(c.EnableSecretRotation), c.RotationPollInterval, onOff(c.SyncSecret))
	return nil
}

// deleteOwned deletes those of objs that exist and carry the add-on label, so
// that objects of the same name installed by something else are left alone.
func (m *Manager) deleteOwned(ctx context.Context, objs []*unstructured.Unstructured) ([]string, error) {
	var owned []*unstructured.Unstructured
	for _, o := range objs {
		live, err := m.kube.Get(ctx, o)
		if err != nil {
			if meta.IsNoMatchError(err) {
				continue
			}
			return nil, err
		}
		if live != nil && live.GetLabels()[AddonLabel] == Name {
			owned = append(owned, o)
		}
	}
	return m.kube.Delete(ctx, owned)
}

// Config reads the stored settings; nil when the add-on is not enabled.
func (m *Manager) Config(ctx context.Context) (*Config, error) {
	probe, _ := stateObject(Config{})
	live, err := m.kube.Get(ctx, probe)
	if err != nil || live == nil {
		return nil, err
	}
	raw, _, _ := unstructured.NestedString(live.Object, "data", "config.json")
	c := &Config{}
	if err := json.Unmarshal([]byte(raw), c); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s: config.json is corrupt (%v): re-run `kvcsi addon enable` with your settings", Namespace, StateConfigMap, err)
	}
	return c, nil
}

// SecretProviderClassNames lists every SecretProviderClass as namespace/name.
func (m *Manager) SecretProviderClassNames(ctx context.Context) ([]string, error) {
	items, err := m.kube.List(ctx, SecretProviderClasses)
	if err != nil {
		return nil, fmt.Errorf("list SecretProviderClasses: %w", err)
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		names = append(names, it.GetNamespace()+"/"+it.GetName())
	}
	sort.Strings(names)
	return names, nil
}

// SecretSyncs is the resource of the sync controller's SecretSync objects.
var SecretSyncs = schema.GroupVersionResource{Group: "secret-sync.x-k8s.io", Version: "v1alpha1", Resource: "secretsyncs"}

// ErrSecretSyncsExist is returned (wrapped) by Disable while any SecretSync
// exists: removing the CRD would delete them and, with them, their Secrets.
var ErrSecretSyncsExist = errors.New("SecretSyncs exist")

// SecretSyncNames lists every SecretSync as namespace/name; none when the
// CRD is not installed.
func (m *Manager) SecretSyncNames(ctx context.Context) ([]string, error) {
	items, err := m.kube.List(ctx, SecretSyncs)
	if err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list SecretSyncs: %w", err)
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		names = append(names, it.GetNamespace()+"/"+it.GetName())
	}
	sort.Strings(names)
	return names, nil
}

// ErrSecretProviderClassesExist is returned (wrapped) by Disable while any
// SecretProviderClass exists.
var ErrSecretProviderClassesExist = errors.New("SecretProviderClasses exist")

// DisableOptions tune Disable.
type DisableOptions struct {
	// KeepCRDs leaves the two CRDs installed. By default they are removed too,
	// as AKS does; that is safe because no SecretProviderClass exists then and
	// SecretProviderClassPodStatuses are meaningless without the driver.
	KeepCRDs bool
}

// Disable removes what Enable installed. It refuses, changing nothing, while
// any SecretProviderClass exists in any namespace, and names them all.
func (m *Manager) Disable(ctx context.Context, o DisableOptions) error {
	if err := m.refuseWithSPCs(ctx); err != nil {
		return err
	}
	all, err := allObjects()
	if err != nil {
		return err
	}
	var crds, rest []*unstructured.Unstructured
	for _, obj := range all {
		if obj.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, obj)
		} else {
			rest = append(rest, obj)
		}
	}
	deleted, err := m.deleteOwned(ctx, rest)
	if err != nil {
		return err
	}
	if !o.KeepCRDs {
		// A SecretProviderClass created while we were deleting would be lost
		// with its CRD: check again right before.
		if err := m.refuseWithSPCs(ctx); err != nil {
			return fmt.Errorf("the add-on's workloads were removed but its CRDs were kept: %w", err)
		}
		d, err := m.deleteOwned(ctx, crds)
		if err != nil {
			return err
		}
		deleted = append(deleted, d...)
	}
	if len(deleted) == 0 {
		fmt.Fprintf(m.out, "add-on %s is not enabled; nothing to remove\n", Name)
		return nil
	}
	for _, d := range deleted {
		fmt.Fprintf(m.out, "removed %s\n", d)
	}
	fmt.Fprintf(m.out, "add-on %s disabled\n", Name)
	return nil
}

func (m *Manager) refuseWithSPCs(ctx context.Context) error {
	syncs, err := m.SecretSyncNames(ctx)
	if err != nil {
		return err
	}
	if len(syncs) > 0 {
		return fmt.Errorf("cannot disable the add-on %s: %w (%d): %s; delete them first (kubectl delete secretsync -n <namespace> <name>), then run `kvcsi addon disable` again",
			Name, ErrSecretSyncsExist, len(syncs), strings.Join(syncs, ", "))
	}
	names, err := m.SecretProviderClassNames(ctx)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("cannot disable the add-on %s: %w (%d): %s; delete them first (kubectl delete secretproviderclass -n <namespace> <name>), then run `kvcsi addon disable` again",
			Name, ErrSecretProviderClassesExist, len(names), strings.Join(names, ", "))
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
