// Package kubeapply applies rendered objects to a cluster with server-side
// apply, the same code path for the add-on manager and for the tests that
// validate every manifest against a real kube-apiserver (with dry-run).
package kubeapply

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Client applies and deletes objects of any kind the server knows.
type Client struct {
	Discovery    discovery.DiscoveryInterface
	Dynamic      dynamic.Interface
	Mapper       meta.ResettableRESTMapper
	FieldManager string
}

// New builds a Client for cfg. fieldManager names the owner of the applied
// fields (e.g. "kvcsi-addon").
func New(cfg *rest.Config, fieldManager string) (*Client, error) {
	if fieldManager == "" {
		return nil, errors.New("kubeapply: field manager is empty; give a name such as \"kvcsi-addon\"")
	}
	// client-go's default limit (5 requests/s, burst 10) would make one
	// install (a dry-run and an apply of ~20 objects) take seconds.
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	return &Client{
		Discovery:    dc,
		Dynamic:      dyn,
		Mapper:       restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		FieldManager: fieldManager,
	}, nil
}

// ServerVersion is the server's Kubernetes version, e.g. "v1.37.2".
func (c *Client) ServerVersion() (string, error) {
	v, err := c.Discovery.ServerVersion()
	if err != nil {
		return "", fmt.Errorf("read the server version: %w", err)
	}
	return v.GitVersion, nil
}

// Resource maps an object to its REST resource. A kind the server does not
// serve (yet) is an error naming the kind; the mapper is refreshed once first,
// because CRDs applied a moment ago are not in the cached discovery.
func (c *Client) Resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.Mapper.Reset()
		m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: the server does not serve this kind: %w", gvk.Kind, name(obj), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			return nil, fmt.Errorf("%s %s: namespaced object without metadata.namespace", gvk.Kind, obj.GetName())
		}
		return c.Dynamic.Resource(m.Resource).Namespace(ns), nil
	}
	return c.Dynamic.Resource(m.Resource), nil
}

// Apply server-side applies every object in order, forcing ownership of the
// fields it sets (the manager is the owner of what it installs). With dryRun
// the server validates and admits everything but persists nothing. It stops at
// the first error, which names the object.
func (c *Client) Apply(ctx context.Context, objs []*unstructured.Unstructured, dryRun bool) error {
	opts := metav1.ApplyOptions{FieldManager: c.FieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, obj := range objs {
		ri, err := c.Resource(obj)
		if err != nil {
			return err
		}
		if _, err := ri.Apply(ctx, obj.GetName(), obj, opts); err != nil {
			return fmt.Errorf("apply %s %s: %w", obj.GetKind(), name(obj), err)
		}
	}
	return nil
}

// Delete deletes the objects in reverse order, in the background (dependents
// such as pods are garbage-collected by the server). Objects already gone, and
// kinds the server no longer serves, are not errors.
func (c *Client) Delete(ctx context.Context, objs []*unstructured.Unstructured) (deleted []string, err error) {
	policy := metav1.DeletePropagationBackground
	for i := len(objs) - 1; i >= 0; i-- {
		obj := objs[i]
		ri, err := c.Resource(obj)
		if err != nil && meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return deleted, err
		}
		err = ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return deleted, fmt.Errorf("delete %s %s: %w", obj.GetKind(), name(obj), err)
		}
		deleted = append(deleted, obj.GetKind()+" "+name(obj))
	}
	return deleted, nil
}

// Get reads the live copy of obj; (nil, nil) when it does not exist.
func (c *Client) Get(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := c.Resource(obj)
	if err != nil {
		return nil, err
	}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return live, err
}

// List lists a resource in all namespaces. A resource the server does not serve
// lists as empty.
func (c *Client) List(ctx context.Context, gvr schema.GroupVersionResource) ([]unstructured.Unstructured, error) {
	l, err := c.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

func name(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}
