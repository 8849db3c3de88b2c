// Package secretsync creates and updates the Kubernetes Secrets a SecretProviderClass lists in
// spec.secretObjects, from the files a pod's volume mounted.
//
// Each synced Secret is labelled secrets-store.csi.k8s.io/managed=true and owned by every pod that
// mounts it, so the garbage collector deletes it once the last of those pods is gone (see
// docs/driver.md, "Sync and rotation", for rolling updates). Writes are strategic merge patches
// without a resourceVersion, so the many pods of one Deployment syncing one Secret at once compose
// instead of failing with 409, and nothing another writer added is dropped (see upsert). A sync that fails for a reason a
// retry can fix is retried with exponential backoff while the pod exists.
package secretsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/metrics"
)

// ReasonFailedToCreateSecret is the upstream event reason for a failed sync.
const ReasonFailedToCreateSecret = "FailedToCreateSecret"

// Config holds what a Syncer needs; Client is required.
type Config struct {
	Client kubernetes.Interface
	// Recorder receives FailedToCreateSecret events on the pod; use a recorder whose source is
	// events.SourceSecretSync. Nil sends no events.
	Recorder record.EventRecorder
	// Metrics records total_sync_k8s_secret and sync_k8s_secret_duration_sec. Nil records nothing.
	Metrics *metrics.Recorder
	// Secrets, optional, lists the managed Secrets (label secrets-store.csi.k8s.io/managed=true)
	// from an informer, so a sync with nothing to change makes no API call.
	Secrets corelisters.SecretLister
	// RetryBase and RetryMax bound the exponential backoff of retried syncs; defaults 2s and 5m.
	RetryBase, RetryMax time.Duration
	// MaxRetries is how many times one failed sync is retried; default 20 (about 1.5 hours at
	// the defaults).
	MaxRetries int
}

// Syncer syncs Secrets. It is a driver.PublishHook; Run drives its retries.
type Syncer struct {
	client     kubernetes.Interface
	recorder   record.EventRecorder
	metrics    *metrics.Recorder
	lister     corelisters.SecretLister
	maxRetries int
	queue      workqueue.TypedRateLimitingInterface[retryKey]
	pending    *pendingSet
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Syncer, error) {
	if cfg.Client == nil {
		return nil, errors.New("secretsync: a Kubernetes client is required")
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 2 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 5 * time.Minute
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 20
	}
	return &Syncer{
		client:     cfg.Client,
		recorder:   cfg.Recorder,
		metrics:    cfg.Metrics,
		lister:     cfg.Secrets,
		maxRetries: cfg.MaxRetries,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[retryKey](cfg.RetryBase, cfg.RetryMax),
			workqueue.TypedRateLimitingQueueConfig[retryKey]{Name: "secretsync"}),
		pending: newPendingSet(),
	}, nil
}

// Request is one sync: the Secrets of SPC from the files of one pod's mount.
type Request struct {
	SPC        *ssv1.SecretProviderClass
	PodName    string
	PodUID     types.UID
	Provider   string
	TargetPath string
}

// Result tells which Secrets' data was created or changed.
type Result struct {
	Changed []string
	// Warnings say where the class was synced leniently, as upstream would (see Normalize).
	Warnings []string
}

// Sync validates the SecretProviderClass, reads every object first and then writes the Secrets,
// so a missing object fails the sync before any Secret is touched. The namespace is the SPC's,
// which is always the pod's.
func (s *Syncer) Sync(ctx context.Context, req Request) (Result, error) {
	var res Result
	if req.SPC == nil || len(req.SPC.Spec.SecretObjects) == 0 {
		return res, nil
	}
	if req.PodName == "" || req.PodUID == "" {
		return res, permanent(errors.New("secret sync needs the pod name and uid (kubelet sends them when the CSIDriver has podInfoOnMount: true)"))
	}
	spc, warnings := Normalize(req.SPC)
	res.Warnings = warnings
	if err := Validate(spc); err != nil {
		return res, err
	}
	want, err := desiredSecrets(spc, req.TargetPath)
	if err != nil {
		return res, err
	}
	owner := podOwner(req.PodName, req.PodUID)
	var errs []error
	for _, w := range want {
		start := time.Now()
		changed, err := s.upsert(ctx, w, owner)
		if err != nil {
			hint := ""
			if apierrors.IsForbidden(err) {
				hint = " (the driver may not write Secrets: install it with syncSecret.enabled=true, which grants the RBAC)"
			}
			errs = append(errs, fmt.Errorf("syncing Secret %s/%s%s: %w", w.Namespace, w.Name, hint, err))
			continue
		}
		s.metrics.SecretSynced(req.Provider, time.Since(start))
		if changed {
			res.Changed = append(res.Changed, w.Name)
		}
	}
	return res, joinKeepPermanent(errs)
}

// joinKeepPermanent joins errors; the result is permanent only if every error is.
func joinKeepPermanent(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	all := true
	for _, e := range errs {
		all = all && IsPermanent(e)
	}
	err := errors.Join(errs...)
	if all {
		return permanent(err)
	}
	return err
}

// Published syncs after NodePublishVolume. A failed sync must not fail the mount (the pod may not
// even read the Secret), so it is reported by a FailedToCreateSecret event on the pod and, when a
// retry can help, retried in the background with backoff. It always returns nil.
func (s *Syncer) Published(ctx context.Context, m driver.MountInfo) error {
	if m.SecretProviderClass == nil || len(m.SecretProviderClass.Spec.SecretObjects) == 0 {
		return nil
	}
	req := Request{SPC: m.SecretProviderClass, PodName: m.PodName, PodUID: m.PodUID, Provider: m.Provider, TargetPath: m.TargetPath}
	res, err := s.Sync(ctx, req)
	s.warn(req, res.Warnings)
	if err != nil {
		s.failed(req, err)
		return nil
	}
	// A republish that synced supersedes a retry still queued for the same pod.
	s.pending.delete(retryKey{namespace: req.SPC.Namespace, pod: req.PodName, uid: req.PodUID, spc: req.SPC.Name})
	return nil
}

// ReasonSecretProviderClassWarning is the Warning event reason for a setting synced leniently.
const ReasonSecretProviderClassWarning = "SecretProviderClassWarning"

// warn reports each warning of a publish's sync: a Warning event on the pod and a log line.
func (s *Syncer) warn(req Request, warnings []string) {
	for _, w := range warnings {
		klog.InfoS("SecretProviderClass warning", "pod", klog.KRef(req.SPC.Namespace, req.PodName), "secretProviderClass", req.SPC.Name, "warning", w)
		s.metrics.ProviderWarning(req.Provider)
		if s.recorder != nil {
			ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: req.PodName, Namespace: req.SPC.Namespace, UID: req.PodUID}
			s.recorder.Eventf(ref, corev1.EventTypeWarning, ReasonSecretProviderClassWarning, "SecretProviderClass %s: %s", req.SPC.Name, w)
		}
	}
}

// failed reports err on the pod and queues a retry unless the error is permanent.
func (s *Syncer) failed(req Request, err error) {
	ref := &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: req.PodName, Namespace: req.SPC.Namespace, UID: req.PodUID}
	if s.recorder != nil {
		s.recorder.Eventf(ref, corev1.EventTypeWarning, ReasonFailedToCreateSecret, "failed to sync secrets of SecretProviderClass %s: %v", req.SPC.Name, err)
	}
	klog.ErrorS(err, "secret sync failed", "pod", klog.KRef(req.SPC.Namespace, req.PodName), "secretProviderClass", req.SPC.Name, "retry", !IsPermanent(err))
	if !IsPermanent(err) {
		key := retryKey{namespace: req.SPC.Namespace, pod: req.PodName, uid: req.PodUID, spc: req.SPC.Name}
		s.pending.put(key, req)
		s.queue.AddRateLimited(key)
	}
}

// retryKey identifies one pod's sync of one SecretProviderClass.
type retryKey struct {
	namespace, pod, spc string
	uid                 types.UID
}

// Run retries failed syncs until ctx ends. Each retry first checks that the pod still exists, so
// the queue never outlives the pods it serves.
func (s *Syncer) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	for s.processNext(ctx) {
	}
}

func (s *Syncer) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	req, ok := s.pending.get(key)
	if !ok {
		s.queue.Forget(key)
		return true
	}
	pod, err := s.client.CoreV1().Pods(key.namespace).Get(ctx, key.pod, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || (err == nil && (pod.UID != key.uid || pod.DeletionTimestamp != nil)):
		s.drop(key)
		return true
	case err != nil:
		s.retry(key, err)
		return true
	}
	if _, err := s.Sync(ctx, req); err != nil {
		if IsPermanent(err) {
			s.failed(req, err)
			s.drop(key)
			return true
		}
		s.retry(key, err)
		return true
	}
	klog.V(2).InfoS("secret sync succeeded on retry", "pod", klog.KRef(key.namespace, key.pod), "secretProviderClass", key.spc, "retries", s.queue.NumRequeues(key))
	s.drop(key)
	return true
}

func (s *Syncer) retry(key retryKey, err error) {
	if s.queue.NumRequeues(key) >= s.maxRetries {
		klog.ErrorS(err, "secret sync given up", "pod", klog.KRef(key.namespace, key.pod), "secretProviderClass", key.spc, "retries", s.maxRetries)
		s.drop(key)
		return
	}
	s.queue.AddRateLimited(key)
}

func (s *Syncer) drop(key retryKey) {
	s.queue.Forget(key)
	s.pending.delete(key)
}

var _ driver.PublishHook = (*Syncer)(nil)
