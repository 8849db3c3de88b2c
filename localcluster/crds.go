package localcluster

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/kvcsi/kvcsi/api/secretsstore/crds"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRDs creates every CRD of crds.FS and waits until each is
// Established. It runs before kube-controller-manager starts so that the
// garbage collector sees the types at once.
func (c *Cluster) installCRDs(ctx context.Context) error {
	files, err := fs.Glob(crds.FS, "*.yaml")
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(c.rest)
	if err != nil {
		return err
	}
	client := dc.Resource(crdGVR)
	var names []string
	for _, f := range files {
		b, err := fs.ReadFile(crds.FS, f)
		if err != nil {
			return err
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &obj.Object); err != nil {
			return fmt.Errorf("CRD file %s: %w", f, err)
		}
		if obj.GetKind() != "CustomResourceDefinition" {
			return fmt.Errorf("CRD file %s holds a %q, not a CustomResourceDefinition", f, obj.GetKind())
		}
		if _, err := client.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("install CRD %s from %s: %w", obj.GetName(), f, err)
		}
		names = append(names, obj.GetName())
	}
	for _, n := range names {
		err := c.poll(ctx, "CRD "+n, nil, 30*time.Second, func() error {
			o, err := client.Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
			for _, ci := range conds {
				m, _ := ci.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return fmt.Errorf("not Established yet")
		})
		if err != nil {
			return err
		}
	}
	c.cfg.Logger.Info("installed CRDs", "count", len(names))
	return nil
}
