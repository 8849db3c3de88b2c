// Package spcclient is a small typed client for the secrets-store.csi.x-k8s.io
// v1 resources, built on the dynamic client. It avoids generated clientsets
// while keeping callers typed, and it works unchanged with
// k8s.io/client-go/dynamic/fake in unit tests (see spcclienttest.NewFake).
package spcclient

import (
	"context"
	"fmt"

	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Client gives typed access to SecretProviderClass and
// SecretProviderClassPodStatus objects.
type Client struct {
	dyn dynamic.Interface
}

// New wraps a dynamic client.
func New(dyn dynamic.Interface) *Client { return &Client{dyn: dyn} }

// NewForConfig builds a Client from a rest config.
func NewForConfig(cfg *rest.Config) (*Client, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("secrets-store client: %w", err)
	}
	return New(dyn), nil
}

// Dynamic returns the underlying dynamic client (for informers).
func (c *Client) Dynamic() dynamic.Interface { return c.dyn }

// SecretProviderClasses returns the SecretProviderClasses of one namespace
// ("" for all namespaces, with List and Watch only).
func (c *Client) SecretProviderClasses(namespace string) *Resource[*secretsstorev1.SecretProviderClass, *secretsstorev1.SecretProviderClassList] {
	return &Resource[*secretsstorev1.SecretProviderClass, *secretsstorev1.SecretProviderClassList]{
		res: c.dyn.Resource(secretsstorev1.SecretProviderClassesResource).Namespace(namespace),
		gvk: secretsstorev1.SchemeGroupVersion.WithKind("SecretProviderClass"),
		newObj: func() *secretsstorev1.SecretProviderClass {
			return &secretsstorev1.SecretProviderClass{}
		},
		newList: func() *secretsstorev1.SecretProviderClassList {
			return &secretsstorev1.SecretProviderClassList{}
		},
	}
}

// PodStatuses returns the SecretProviderClassPodStatuses of one namespace
// ("" for all namespaces, with List and Watch only).
func (c *Client) PodStatuses(namespace string) *Resource[*secretsstorev1.SecretProviderClassPodStatus, *secretsstorev1.SecretProviderClassPodStatusList] {
	return &Resource[*secretsstorev1.SecretProviderClassPodStatus, *secretsstorev1.SecretProviderClassPodStatusList]{
		res: c.dyn.Resource(secretsstorev1.SecretProviderClassPodStatusesResource).Namespace(namespace),
		gvk: secretsstorev1.SchemeGroupVersion.WithKind("SecretProviderClassPodStatus"),
		newObj: func() *secretsstorev1.SecretProviderClassPodStatus {
			return &secretsstorev1.SecretProviderClassPodStatus{}
		},
		newList: func() *secretsstorev1.SecretProviderClassPodStatusList {
			return &secretsstorev1.SecretProviderClassPodStatusList{}
		},
	}
}

// Resource is a typed view of one namespaced resource.
type Resource[T runtime.Object, L runtime.Object] struct {
	res     dynamic.ResourceInterface
	gvk     schema.GroupVersionKind
	newObj  func() T
	newList func() L
}

// Get returns one object; a missing object gives an error for which
// apierrors.IsNotFound is true.
func (r *Resource[T, L]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	u, err := r.res.Get(ctx, name, opts)
	if err != nil {
		var zero T
		return zero, err
	}
	return r.fromUnstructured(u)
}

// List returns the objects matching opts (label and field selectors).
func (r *Resource[T, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	u, err := r.res.List(ctx, opts)
	if err != nil {
		var zero L
		return zero, err
	}
	// Convert item by item: an UnstructuredList keeps its items outside
	// UnstructuredContent.
	content := map[string]any{"metadata": map[string]any{"resourceVersion": u.GetResourceVersion(), "continue": u.GetContinue()}}
	items := make([]any, 0, len(u.Items))
	for i := range u.Items {
		items = append(items, u.Items[i].Object)
	}
	content["items"] = items
	out := r.newList()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(content, out); err != nil {
		var zero L
		return zero, fmt.Errorf("decode %s list: %w", r.gvk.Kind, err)
	}
	return out, nil
}

// Create creates obj and returns the stored object.
func (r *Resource[T, L]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	u, err := r.toUnstructured(obj)
	if err != nil {
		var zero T
		return zero, err
	}
	got, err := r.res.Create(ctx, u, opts)
	if err != nil {
		var zero T
		return zero, err
	}
	return r.fromUnstructured(got)
}

// Update replaces obj; the API server rejects it with a Conflict when
// obj's resourceVersion is stale, so callers never overwrite fields they did
// not read.
func (r *Resource[T, L]) Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	u, err := r.toUnstructured(obj)
	if err != nil {
		var zero T
		return zero, err
	}
	got, err := r.res.Update(ctx, u, opts)
	if err != nil {
		var zero T
		return zero, err
	}
	return r.fromUnstructured(got)
}

// Patch applies a patch (merge or JSON patch; CRDs do not support
// strategic merge patch).
func (r *Resource[T, L]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions) (T, error) {
	got, err := r.res.Patch(ctx, name, pt, data, opts)
	if err != nil {
		var zero T
		return zero, err
	}
	return r.fromUnstructured(got)
}

// Delete deletes one object.
func (r *Resource[T, L]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return r.res.Delete(ctx, name, opts)
}

// Watch watches objects; events carry *unstructured.Unstructured, which
// callers convert with FromUnstructured.
func (r *Resource[T, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return r.res.Watch(ctx, opts)
}

func (r *Resource[T, L]) fromUnstructured(u *unstructured.Unstructured) (T, error) {
	out := r.newObj()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out); err != nil {
		var zero T
		return zero, fmt.Errorf("decode %s %s/%s: %w", r.gvk.Kind, u.GetNamespace(), u.GetName(), err)
	}
	return out, nil
}

func (r *Resource[T, L]) toUnstructured(obj T) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", r.gvk.Kind, err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(r.gvk)
	return u, nil
}

// FromUnstructured converts an object from a dynamic watch or informer.
func FromUnstructured[T any](obj any, out *T) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return fmt.Errorf("expected *unstructured.Unstructured, got %T", obj)
	}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out)
}

// Scheme returns a scheme with the v1 types registered, for codecs and fake
// clients. (The CRDs still serve v1alpha1; the driver only reads and writes v1.)
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = secretsstorev1.AddToScheme(s)
	return s
}

// ListKinds maps the v1 resources to their list kinds, as
// dynamic/fake.NewSimpleDynamicClientWithCustomListKinds needs.
func ListKinds() map[schema.GroupVersionResource]string {
	return map[schema.GroupVersionResource]string{
		secretsstorev1.SecretProviderClassesResource:          "SecretProviderClassList",
		secretsstorev1.SecretProviderClassPodStatusesResource: "SecretProviderClassPodStatusList",
	}
}
