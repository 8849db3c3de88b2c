// Package informers holds the driver's informers, each narrowed by a selector so the driver's
// memory follows its own node and its own Secrets, not the size of the cluster:
//   - this node's pods (field selector spec.nodeName), for rotation;
//   - this node's SecretProviderClassPodStatuses (label internal.secrets-store.csi.k8s.io/node-name),
//     for rotation;
//   - Secrets labelled secrets-store.csi.k8s.io/used=true (nodePublishSecretRef data), for rotation;
//   - Secrets labelled secrets-store.csi.k8s.io/managed=true (the synced ones), for secret sync.
//
// The first three start only when rotation is enabled (Options.Rotation). The managed Secrets
// start on the first sync that looks at them (ManagedSecrets), so a driver that never syncs a
// Secret never lists or watches Secrets.
package informers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// Options chooses which informers run.
type Options struct {
	// Rotation starts the pod, pod-status, SecretProviderClass and used=true Secret informers
	// that rotation reads.
	Rotation bool
}

// Informers are the driver's narrowed caches. Pods, PodStatuses, Classes and UsedSecrets are
// nil unless Options.Rotation is set; tests may fill them with listers of their own.
type Informers struct {
	Pods        corelisters.PodLister
	PodStatuses cache.GenericLister
	// Classes are the SecretProviderClasses of every namespace: rotation reads a pod's class
	// from here rather than with a GET per pod per interval. Nil means read from the API.
	Classes     cache.GenericLister
	UsedSecrets corelisters.SecretLister

	synced    []cache.InformerSynced
	factories []interface{ Start(<-chan struct{}) }
	shutdown  []func()

	managed *lazySecrets
	classes cache.SharedIndexInformer
}

// ClassInformer is the informer behind Classes (nil without Options.Rotation), for a caller
// that needs the store or event handlers rather than a second watch on the same resource.
func (w *Informers) ClassInformer() cache.SharedIndexInformer { return w.classes }

// New builds the informers; Start runs them.
func New(kube kubernetes.Interface, dyn dynamic.Interface, nodeName string, opts Options) (*Informers, error) {
	if kube == nil || dyn == nil {
		return nil, errors.New("informers: need a Kubernetes client and a dynamic client")
	}
	if nodeName == "" {
		return nil, errors.New("informers: need the node name (--nodeid)")
	}
	w := &Informers{}
	// Resync 0: the rotation ticker re-reads the listers; periodic resyncs would only cost CPU.
	managed := kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0, kubeinformers.WithTransform(stripManagedFields), kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{ssv1.ManagedLabel: "true"}.String()
	}))
	managedInf := managed.Core().V1().Secrets()
	w.managed = &lazySecrets{factory: managed, informer: managedInf.Informer(), lister: managedInf.Lister()}
	if !opts.Rotation {
		return w, nil
	}
	pods := kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0, kubeinformers.WithTransform(stripManagedFields), kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
	}))
	used := kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0, kubeinformers.WithTransform(stripManagedFields), kubeinformers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{ssv1.UsedLabel: "true"}.String()
	}))
	statuses := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.LabelSelector = labels.Set{ssv1.NodeNameLabel: nodeName}.String()
	})

	classes := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)

	podInf := pods.Core().V1().Pods()
	usedInf := used.Core().V1().Secrets()
	statusInf := statuses.ForResource(ssv1.SecretProviderClassPodStatusesResource)
	if err := statusInf.Informer().SetTransform(stripManagedFields); err != nil {
		return nil, err
	}
	classInf := classes.ForResource(ssv1.SecretProviderClassesResource)
	if err := classInf.Informer().SetTransform(stripManagedFields); err != nil {
		return nil, err
	}
	w.Pods, w.UsedSecrets, w.PodStatuses, w.Classes = podInf.Lister(), usedInf.Lister(), statusInf.Lister(), classInf.Lister()
	w.classes = classInf.Informer()
	w.synced = []cache.InformerSynced{podInf.Informer().HasSynced, usedInf.Informer().HasSynced, statusInf.Informer().HasSynced, classInf.Informer().HasSynced}
	w.factories = []interface{ Start(<-chan struct{}) }{pods, used, statuses, classes}
	w.shutdown = []func(){pods.Shutdown, used.Shutdown, statuses.Shutdown, classes.Shutdown}
	return w, nil
}

// Start runs the informers until ctx ends and waits, up to timeout, for their first list. It
// starts nothing without Options.Rotation, but ManagedSecrets needs it to have been called.
func (w *Informers) Start(ctx context.Context, timeout time.Duration) error {
	w.managed.setContext(ctx)
	for _, f := range w.factories {
		f.Start(ctx.Done())
	}
	go func() {
		<-ctx.Done()
		for _, s := range w.shutdown {
			s()
		}
		w.managed.factory.Shutdown()
	}()
	if len(w.synced) == 0 {
		return nil
	}
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !cache.WaitForCacheSync(wait.Done(), w.synced...) {
		return fmt.Errorf("informers did not sync within %s: check the driver's RBAC (list/watch pods, secrets, secretproviderclasses, secretproviderclasspodstatuses)", timeout)
	}
	return nil
}

// ManagedSecrets lists the Secrets labelled managed=true. Its first use starts the informer
// (once Start was called); until the informer has synced every call returns ErrNotSynced, so
// callers fall back to the API.
func (w *Informers) ManagedSecrets() corelisters.SecretLister { return w.managed }

// ErrNotSynced is returned by ManagedSecrets' lister before its informer has synced.
var ErrNotSynced = errors.New("informers: managed Secrets not synced yet")

// lazySecrets is a SecretLister whose informer starts on first use.
type lazySecrets struct {
	factory  kubeinformers.SharedInformerFactory
	informer cache.SharedIndexInformer
	lister   corelisters.SecretLister

	mu      sync.Mutex
	ctx     context.Context
	started bool
}

func (l *lazySecrets) setContext(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ctx = ctx
}

// ready starts the informer if it has not started yet and says whether it has synced.
func (l *lazySecrets) ready() bool {
	l.mu.Lock()
	if !l.started && l.ctx != nil {
		l.started = true
		l.factory.Start(l.ctx.Done())
	}
	started := l.started
	l.mu.Unlock()
	return started && l.informer.HasSynced()
}

func (l *lazySecrets) List(selector labels.Selector) ([]*corev1.Secret, error) {
	if !l.ready() {
		return nil, ErrNotSynced
	}
	return l.lister.List(selector)
}

func (l *lazySecrets) Secrets(namespace string) corelisters.SecretNamespaceLister {
	if !l.ready() {
		return notSynced{}
	}
	return l.lister.Secrets(namespace)
}

type notSynced struct{}

func (notSynced) List(labels.Selector) ([]*corev1.Secret, error) { return nil, ErrNotSynced }
func (notSynced) Get(string) (*corev1.Secret, error)             { return nil, ErrNotSynced }

// stripManagedFields drops metadata.managedFields before an object enters a cache: the driver
// never reads them, and on pods they are often larger than the rest of the object.
func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}
