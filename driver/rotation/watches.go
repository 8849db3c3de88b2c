package rotation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// Watches are the driver's informers, each narrowed by a selector so the driver's memory follows
// its own node and its own Secrets, not the size of the cluster:
//   - this node's pods (field selector spec.nodeName);
//   - this node's SecretProviderClassPodStatuses (label internal.secrets-store.csi.k8s.io/node-name);
//   - Secrets labelled secrets-store.csi.k8s.io/managed=true (the synced ones);
//   - Secrets labelled secrets-store.csi.k8s.io/used=true (nodePublishSecretRef data).
type Watches struct {
	Pods           corelisters.PodLister
	PodStatuses    cache.GenericLister
	ManagedSecrets corelisters.SecretLister
	UsedSecrets    corelisters.SecretLister

	synced    []cache.InformerSynced
	factories []interface{ Start(<-chan struct{}) }
	shutdown  []func()
}

// NewWatches builds the informers; Start runs them.
func NewWatches(kube kubernetes.Interface, dyn dynamic.Interface, nodeName string) (*Watches, error) {
	if kube == nil || dyn == nil {
		return nil, errors.New("rotation: watches need a Kubernetes client and a dynamic client")
	}
	if nodeName == "" {
		return nil, errors.New("rotation: watches need the node name (--nodeid)")
	}
	w := &Watches{}
	// Resync 0: the rotation ticker re-reads the listers; periodic resyncs would only cost CPU.
	pods := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTransform(stripManagedFields), informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	}))
	managed := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTransform(stripManagedFields), informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{ssv1.ManagedLabel: "true"}.String()
	}))
	used := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTransform(stripManagedFields), informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{ssv1.UsedLabel: "true"}.String()
	}))
	statuses := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{ssv1.NodeNameLabel: nodeName}.String()
	})

	podInf := pods.Core().V1().Pods()
	managedInf := managed.Core().V1().Secrets()
	usedInf := used.Core().V1().Secrets()
	statusInf := statuses.ForResource(ssv1.SecretProviderClassPodStatusesResource)
	if err := statusInf.Informer().SetTransform(stripManagedFields); err != nil {
		return nil, err
	}
	w.Pods, w.ManagedSecrets, w.UsedSecrets, w.PodStatuses = podInf.Lister(), managedInf.Lister(), usedInf.Lister(), statusInf.Lister()
	w.synced = []cache.InformerSynced{podInf.Informer().HasSynced, managedInf.Informer().HasSynced, usedInf.Informer().HasSynced, statusInf.Informer().HasSynced}
	w.factories = []interface{ Start(<-chan struct{}) }{pods, managed, used, statuses}
	w.shutdown = []func(){pods.Shutdown, managed.Shutdown, used.Shutdown, statuses.Shutdown}
	return w, nil
}

// Start runs the informers until ctx ends and waits, up to timeout, for their first list.
func (w *Watches) Start(ctx context.Context, timeout time.Duration) error {
	for _, f := range w.factories {
		f.Start(ctx.Done())
	}
	go func() {
		<-ctx.Done()
		for _, s := range w.shutdown {
			s()
		}
	}()
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !cache.WaitForCacheSync(wait.Done(), w.synced...) {
		return fmt.Errorf("rotation: informers did not sync within %s: check the driver's RBAC (list/watch pods, secrets, secretproviderclasspodstatuses)", timeout)
	}
	return nil
}

// stripManagedFields drops metadata.managedFields before an object enters a cache: the driver
// never reads them, and on pods they are often larger than the rest of the object.
func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
