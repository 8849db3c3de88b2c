// Package rotation is the driver's poll loop (the v1.5 model the AKS documentation describes):
// every --rotation-poll-interval it walks this node's SecretProviderClassPodStatuses and, for
// each mounted volume, asks the provider again with the versions it holds, rewrites the files
// atomically when they changed, records the new versions and updates the synced Secrets.
//
// Better than upstream: a provider failure keeps the mounted content and is reported (events and
// total_rotation_reconcile_error) instead of masked, and a volume that keeps failing is retried
// less and less often (exponential backoff in poll ticks), so a broken vault or identity is not
// hammered every interval.
package rotation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/informers"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/podstatus"
	"github.com/kvcsi/kvcsi/driver/secretsync"
	"github.com/kvcsi/kvcsi/driver/tmpfs"
)

// Event reasons, as upstream names them (source csi-secrets-store-rotation).
const (
	ReasonMountRotationComplete  = "MountRotationComplete"
	ReasonMountRotationFailed    = "MountRotationFailed"
	ReasonSecretRotationComplete = "SecretRotationComplete"
	ReasonSecretRotationFailed   = "SecretRotationFailed"
)

// Error types of failures that happen before or after the provider call; the provider's own
// come from content.ErrorType. All are bounded, for the error_type metric label.
const (
	ErrNodePublishSecretRefNotFound = "NodePublishSecretRefNotFound"
	ErrSecretProviderClassNotFound  = "SecretProviderClassNotFound"
	ErrSecretProviderClassGet       = "GetSecretProviderClassFailed"
	ErrTokenRequest                 = "TokenRequestFailed"
	ErrPodStatusUpdate              = "PodStatusUpdateFailed"
	ErrSecretSync                   = "SecretSyncFailed"
	ErrVolumeNotFound               = "VolumeNotFound"
	ErrPodLookup                    = "PodLookupFailed"
)

// Refresher is driver/content's refresh step: provider Mount with the current object versions, then
// an atomic write when the content changed. On error the old content stays.
type Refresher interface {
	Refresh(ctx context.Context, req content.Request) (content.Result, error)
}

// Config is what a Rotator needs. Kube, SPC, PodStatus, Refresher and Watches are required.
type Config struct {
	NodeName string
	// DriverName is the CSI driver name in pod volumes; default secrets-store.csi.k8s.io.
	DriverName string
	// Interval is --rotation-poll-interval; default 2m.
	Interval time.Duration
	// MaxBackoffTicks caps how many ticks a failing volume is skipped; default 15 (30 minutes
	// at the default interval). Failure n skips min(2^(n-1)-1, MaxBackoffTicks) ticks.
	MaxBackoffTicks int

	Kube      kubernetes.Interface
	SPC       *spcclient.Client
	PodStatus *podstatus.Client
	Refresher Refresher
	// Syncer updates the synced Secrets; nil skips them.
	Syncer *secretsync.Syncer
	// Watches are the driver's informers, built with informers.Options{Rotation: true}.
	Watches *informers.Informers
	// Recorder should have source events.SourceRotation; nil sends no events.
	Recorder record.EventRecorder
	Metrics  *metrics.Recorder
	// TargetMounted says whether a volume is still mounted, so rotation never writes secrets into
	// a directory kubelet already unmounted (on Linux that would put them on the node's disk).
	// Default: the target is a mount point (Linux tmpfs) or holds the atomic writer's ..data link
	// (Windows, where the driver writes into the directory).
	TargetMounted func(target string) (bool, error)
}

// Rotator runs the poll loop.
type Rotator struct {
	cfg Config

	mu      sync.Mutex
	backoff map[string]*failState

	// refresh is the refresh-on-demand state (refresh.go).
	refresh refreshState
	// minted are the service-account tokens minted for rotation (tokens.go).
	minted tokenCache
}

type failState struct {
	failures int
	skip     int
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Rotator, error) {
	var missing []string
	if cfg.NodeName == "" {
		missing = append(missing, "NodeName (--nodeid)")
	}
	if cfg.Kube == nil {
		missing = append(missing, "Kube")
	}
	if cfg.SPC == nil {
		missing = append(missing, "SPC")
	}
	if cfg.PodStatus == nil {
		missing = append(missing, "PodStatus")
	}
	if cfg.Refresher == nil {
		missing = append(missing, "Refresher")
	}
	if cfg.Watches == nil {
		missing = append(missing, "Watches")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("rotation: missing %v", missing)
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("rotation: --rotation-poll-interval %s is negative", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Minute
	}
	if cfg.DriverName == "" {
		cfg.DriverName = driver.Name
	}
	if cfg.MaxBackoffTicks <= 0 {
		cfg.MaxBackoffTicks = 15
	}
	if cfg.TargetMounted == nil {
		cfg.TargetMounted = targetMounted
	}
	return &Rotator{cfg: cfg, backoff: map[string]*failState{}}, nil
}

// targetMounted tells a live volume from a directory kubelet already unpublished. A tmpfs mount
// point is live (also with a legacy provider that writes its own files); otherwise the atomic
// writer's ..data link must be there: it lives on the tmpfs, or on Windows in the directory that
// NodeUnpublishVolume removes.
func targetMounted(target string) (bool, error) {
	if mp, err := tmpfs.IsMountPoint(target); err == nil && mp {
		return true, nil
	}
	_, err := os.Lstat(filepath.Join(target, "..data"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Run polls every interval until ctx ends. The watches must be started.
func (r *Rotator) Run(ctx context.Context) {
	klog.InfoS("secret rotation enabled", "interval", r.cfg.Interval, "node", r.cfg.NodeName)
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	// Refreshes on demand run in this loop too, so one volume is never
	// rotated by two goroutines at once.
	refreshTick, stopRefresh := r.startRefresh(ctx)
	defer stopRefresh()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.ReconcileAll(ctx)
		case <-refreshTick:
			r.refreshDue(ctx)
		}
	}
}

// ReconcileAll runs one poll: every status of this node, one after the other, so one node never
// sends its provider more than one Mount at a time from rotation.
func (r *Rotator) ReconcileAll(ctx context.Context) {
	objs, err := r.cfg.Watches.PodStatuses.List(labels.Everything())
	if err != nil {
		klog.ErrorS(err, "listing this node's SecretProviderClassPodStatuses")
		return
	}
	seen := make(map[string]bool, len(objs))
	var tokenAudiences []tokenRequest
	var tokenErr error
	tokensRead := false
	for _, o := range objs {
		if ctx.Err() != nil {
			return
		}
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		var st ssv1.SecretProviderClassPodStatus
		if err := spcclient.FromUnstructured(u, &st); err != nil {
			klog.ErrorS(err, "decoding SecretProviderClassPodStatus", "status", klog.KObj(u))
			continue
		}
		key := st.Namespace + "/" + st.Name
		seen[key] = true
		if r.skip(key) {
			klog.V(4).InfoS("rotation backing off", "status", key)
			continue
		}
		if !tokensRead {
			// The CSIDriver is read once per poll, and only when some volume is due.
			tokenAudiences, tokenErr = r.tokenRequests(ctx)
			tokensRead = true
		}
		r.reconcileOne(ctx, &st, tokenAudiences, tokenErr, trigger{})
	}
	r.prune(seen)
}

// reconcileOne rotates one volume and records the outcome in metrics, events and backoff; it
// returns false when the rotation failed. trig is the zero trigger for the poll.
func (r *Rotator) reconcileOne(ctx context.Context, st *ssv1.SecretProviderClassPodStatus, audiences []tokenRequest, audErr error, trig trigger) bool {
	key := st.Namespace + "/" + st.Name
	start := time.Now()
	res := r.rotate(ctx, st, audiences, audErr, trig)
	if res.skipped {
		return true
	}
	r.cfg.Metrics.RotationReconciled(res.rotated, time.Since(start))
	if res.err != nil {
		r.cfg.Metrics.RotationFailed(res.rotated, res.errType)
		n := r.fail(key)
		klog.ErrorS(res.err, "rotation failed", "status", key, "errorType", res.errType, "failures", n)
		return false
	}
	r.succeed(key)
	return true
}

// result is the outcome of rotating one volume.
type result struct {
	// rotated is true when the mounted content or a synced Secret changed.
	rotated bool
	// skipped is true when there was nothing to rotate: the pod is gone or being deleted, the
	// status belongs to an earlier pod, or the volume is unmounted. A skip is not reconciled.
	skipped bool
	// errType is the bounded error_type label of err.
	errType string
	err     error
}

var skipped = result{skipped: true}

// rotate does the work for one volume.
func (r *Rotator) rotate(ctx context.Context, st *ssv1.SecretProviderClassPodStatus, audiences []tokenRequest, audErr error, trig trigger) result {
	if !st.Status.Mounted || st.Status.TargetPath == "" {
		return skipped
	}
	pod, err := r.cfg.Watches.Pods.Pods(st.Namespace).Get(st.Status.PodName)
	if apierrors.IsNotFound(err) {
		return skipped
	}
	if err != nil {
		// A cache lister fails only for a broken index; nothing to rotate without the pod, but
		// it must be seen: an error log and the error counter (the next poll tries again).
		klog.ErrorS(err, "rotation cannot read the pod from the informer; volume skipped", "pod", klog.KRef(st.Namespace, st.Status.PodName), "status", klog.KObj(st))
		r.cfg.Metrics.RotationFailed(false, ErrPodLookup)
		return skipped
	}
	if pod.DeletionTimestamp != nil || !ownedBy(st, pod) {
		return skipped
	}
	if mounted, err := r.cfg.TargetMounted(st.Status.TargetPath); err != nil || !mounted {
		klog.V(4).InfoS("rotation skips a volume that is not mounted", "pod", klog.KObj(pod), "target", st.Status.TargetPath, "err", err)
		return skipped
	}
	spcName := st.Status.SecretProviderClassName
	mountFailed := func(typ string, err error) result {
		if trig.fresh() {
			r.event(pod, corev1.EventTypeWarning, ReasonMountRotationFailed, "failed to refresh mounted contents of SecretProviderClass %s (%s): %v", spcName, trig, err)
			return result{errType: typ, err: err}
		}
		r.event(pod, corev1.EventTypeWarning, ReasonMountRotationFailed, "failed to rotate mounted contents of SecretProviderClass %s: %v", spcName, err)
		return result{errType: typ, err: err}
	}

	spc, err := r.class(ctx, st.Namespace, spcName)
	if apierrors.IsNotFound(err) {
		return mountFailed(ErrSecretProviderClassNotFound, fmt.Errorf("failed to get secretproviderclass %s/%s, error: %w", st.Namespace, spcName, err))
	}
	if err != nil {
		return mountFailed(ErrSecretProviderClassGet, fmt.Errorf("failed to get secretproviderclass %s/%s, error: %w", st.Namespace, spcName, err))
	}
	vol := findVolume(pod, spcName, r.cfg.DriverName)
	if vol == nil {
		return mountFailed(ErrVolumeNotFound, fmt.Errorf("pod %s/%s has no %s volume with secretProviderClass %s", pod.Namespace, pod.Name, r.cfg.DriverName, spcName))
	}
	own := podInfo(pod)
	if audErr != nil {
		return mountFailed(ErrTokenRequest, audErr)
	}
	if len(audiences) > 0 {
		tokens, err := r.tokens(ctx, pod, audiences)
		if err != nil {
			return mountFailed(ErrTokenRequest, err)
		}
		own[driver.AttrServiceAccountToken] = tokens
	}
	secrets, err := r.nodePublishSecrets(pod, vol)
	if err != nil {
		return mountFailed(ErrNodePublishSecretRefNotFound, err)
	}
	current := driver.FromPodStatusObjects(st.Status.Objects)
	if trig.fresh() {
		// Asked as a first mount is, so the provider reads Key Vault, not its cache.
		current = nil
	}
	res, err := r.cfg.Refresher.Refresh(ctx, content.Request{
		Provider:              string(spc.Spec.Provider),
		Attributes:            attributes(spc, vol, own),
		Secrets:               secrets,
		TargetPath:            st.Status.TargetPath,
		CurrentObjectVersions: current,
	})
	if err != nil {
		// A provider failure may be the identity refusing the token (a service account
		// recreated, a federated credential changed): the next rotation mints a new one.
		r.minted.forget(pod.UID)
		return mountFailed(content.ErrorType(err), err)
	}
	var out result
	newObjects := driver.ToPodStatusObjects(res.Objects)
	if !slices.Equal(podstatus.SortObjects(newObjects), podstatus.SortObjects(st.Status.Objects)) {
		if err := r.cfg.PodStatus.SetObjects(ctx, st.Namespace, st.Name, newObjects); err != nil {
			// The content is rotated; the next poll sends the older versions again and the
			// provider answers with the same content, so nothing is lost.
			return mountFailed(ErrPodStatusUpdate, err)
		}
	}
	if res.Changed {
		out.rotated = true
	}
	if res.Changed || trig.fresh() {
		r.event(pod, corev1.EventTypeNormal, ReasonMountRotationComplete, "%s", rotatedMessage(spcName, trig, res.Changed))
	}
	if r.cfg.Syncer == nil || len(spc.Spec.SecretObjects) == 0 {
		return out
	}
	sres, err := r.cfg.Syncer.Sync(ctx, secretsync.Request{SPC: spc, PodName: pod.Name, PodUID: pod.UID, Provider: string(spc.Spec.Provider), TargetPath: st.Status.TargetPath})
	if err != nil {
		r.event(pod, corev1.EventTypeWarning, ReasonSecretRotationFailed, "failed to rotate Kubernetes Secrets of SecretProviderClass %s: %v", spcName, err)
		out.errType, out.err = ErrSecretSync, err
		return out
	}
	if len(sres.Changed) > 0 {
		out.rotated = true
		r.event(pod, corev1.EventTypeNormal, ReasonSecretRotationComplete, "successfully rotated Kubernetes Secrets %v of SecretProviderClass %s", sres.Changed, spcName)
	}
	return out
}

func (r *Rotator) event(pod *corev1.Pod, typ, reason, format string, args ...any) {
	if r.cfg.Recorder != nil {
		r.cfg.Recorder.Eventf(pod, typ, reason, format, args...)
	}
}

// ownedBy tells whether the status was written for this pod and not for an earlier pod of the
// same name (a recreated StatefulSet pod whose new mount is not recorded yet).
func ownedBy(st *ssv1.SecretProviderClassPodStatus, pod *corev1.Pod) bool {
	for _, o := range st.OwnerReferences {
		if o.Kind == "Pod" && o.UID == pod.UID {
			return true
		}
	}
	return false
}

// findVolume returns the pod's inline volume of this driver and SecretProviderClass.
func findVolume(pod *corev1.Pod, spc, driverName string) *corev1.CSIVolumeSource {
	for i := range pod.Spec.Volumes {
		csi := pod.Spec.Volumes[i].CSI
		if csi != nil && csi.Driver == driverName && csi.VolumeAttributes[driver.AttrSecretProviderClass] == spc {
			return csi
		}
	}
	return nil
}

// podInfo is what kubelet adds to the volume context with podInfoOnMount; the driver adds the
// tokens it minted.
func podInfo(pod *corev1.Pod) map[string]string {
	return map[string]string{
		driver.AttrPodName:            pod.Name,
		driver.AttrPodNamespace:       pod.Namespace,
		driver.AttrPodUID:             string(pod.UID),
		driver.AttrServiceAccountName: pod.Spec.ServiceAccountName,
		driver.AttrEphemeral:          "true",
	}
}

// attributes are the provider attributes of a rotation: the SPC parameters and the volume's
// attributes without reserved keys (NodePublishVolume already reported those as events), then
// the pod information and tokens.
func attributes(spc *ssv1.SecretProviderClass, vol *corev1.CSIVolumeSource, own map[string]string) map[string]string {
	attrs, dropped := driver.ProviderAttributes(spc.Spec.Parameters, vol.VolumeAttributes, own)
	for _, d := range dropped {
		klog.V(4).InfoS("rotation drops a reserved attribute", "secretProviderClass", klog.KObj(spc), "key", d.Key, "source", d.Source)
	}
	return attrs
}

// nodePublishSecrets reads the volume's nodePublishSecretRef from the used=true Secret informer;
// the driver deliberately cannot read other Secrets.
func (r *Rotator) nodePublishSecrets(pod *corev1.Pod, vol *corev1.CSIVolumeSource) (map[string]string, error) {
	if vol.NodePublishSecretRef == nil || vol.NodePublishSecretRef.Name == "" {
		return nil, nil
	}
	name := vol.NodePublishSecretRef.Name
	s, err := r.cfg.Watches.UsedSecrets.Secrets(pod.Namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%s: failed to get node publish secret %s/%s: not found among Secrets labelled %s=true; if it exists, label it: kubectl label secret %s -n %s %s=true",
			ErrNodePublishSecretRefNotFound, pod.Namespace, name, ssv1.UsedLabel, name, pod.Namespace, ssv1.UsedLabel)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to get node publish secret %s/%s: %w", pod.Namespace, name, err)
	}
	out := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out, nil
}

// skip consumes one tick of a volume's backoff.
func (r *Rotator) skip(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.backoff[key]
	if !ok || s.skip == 0 {
		return false
	}
	s.skip--
	return true
}

// fail records a failure and sets how many ticks to skip before the next attempt.
func (r *Rotator) fail(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.backoff[key]
	if !ok {
		s = &failState{}
		r.backoff[key] = s
	}
	s.failures++
	s.skip = r.cfg.MaxBackoffTicks
	if s.failures < 31 {
		s.skip = min(1<<(s.failures-1)-1, r.cfg.MaxBackoffTicks)
	}
	return s.failures
}

func (r *Rotator) succeed(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.backoff, key)
}

// prune forgets the backoff of statuses that are gone, so the map is bounded by this node's mounts.
func (r *Rotator) prune(seen map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.backoff {
		if !seen[k] {
			delete(r.backoff, k)
		}
	}
}

// class reads a SecretProviderClass from the informer (the API when there is none): one GET per
// pod per interval would be the driver's largest apiserver load in a steady cycle.
func (r *Rotator) class(ctx context.Context, namespace, name string) (*ssv1.SecretProviderClass, error) {
	if r.cfg.Watches.Classes == nil {
		return r.cfg.SPC.SecretProviderClasses(namespace).Get(ctx, name, metav1.GetOptions{})
	}
	obj, err := r.cfg.Watches.Classes.ByNamespace(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("secretproviderclass %s/%s: informer holds a %T", namespace, name, obj)
	}
	spc := &ssv1.SecretProviderClass{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, spc); err != nil {
		return nil, fmt.Errorf("decoding secretproviderclass %s/%s: %w", namespace, name, err)
	}
	return spc, nil
}
