package rotation

// Refresh on demand: a change of the annotation refresh.Annotation on a
// SecretProviderClass (every volume using it on this node) or on a pod (that
// pod's volumes) rotates the affected volumes within about a second, once per
// change of the value, without waiting for the poll interval. A refresh asks
// the provider as a first mount does (no current object versions), so the
// provider serves it from Key Vault, not from its cache.

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/refresh"
)

// RefreshMetric counts refreshes on demand by trigger (class|pod) and result
// (ok|error), next to the upstream rotation metrics.
const RefreshMetric = "total_rotation_refresh"

// RefreshCheckInterval is how often the annotations are compared.
var RefreshCheckInterval = time.Second

// refreshState is the rotator's memory of the annotation values it has acted on.
type refreshState struct {
	mu sync.Mutex
	// seen maps a status key to the class and pod values last seen for it.
	seen  map[string][2]string
	spcs  cache.SharedIndexInformer
	total *prometheus.CounterVec
}

// trigger says why a volume is refreshed now; the zero value is the poll.
type trigger struct {
	kind  string // refresh.TriggerClass or refresh.TriggerPod
	value string // the annotation value answered
	on    string // "SecretProviderClass ns/name" or "pod ns/name"
}

func (t trigger) fresh() bool { return t.kind != "" }

func (t trigger) String() string {
	return fmt.Sprintf("refresh requested on %s (%s=%s)", t.on, refresh.Annotation, t.value)
}

// startRefresh starts the SecretProviderClass informer the refresh check
// reads and returns the check's ticker channel.
func (r *Rotator) startRefresh(ctx context.Context) (<-chan time.Time, func()) {
	if inf := r.cfg.Watches.ClassInformer(); inf != nil {
		// The driver's informers already watch the classes (rotation reads them there).
		r.setRefreshInformer(inf)
		t := time.NewTicker(RefreshCheckInterval)
		return t.C, t.Stop
	}
	f := dynamicinformer.NewDynamicSharedInformerFactory(r.cfg.SPC.Dynamic(), 0)
	inf := f.ForResource(ssv1.SecretProviderClassesResource).Informer()
	_ = inf.SetTransform(func(obj any) (any, error) {
		// Only the annotations are read: keep the cache small.
		if u, ok := obj.(*unstructured.Unstructured); ok {
			slim := &unstructured.Unstructured{}
			slim.SetAPIVersion(u.GetAPIVersion())
			slim.SetKind(u.GetKind())
			slim.SetNamespace(u.GetNamespace())
			slim.SetName(u.GetName())
			slim.SetResourceVersion(u.GetResourceVersion())
			if v, ok := u.GetAnnotations()[refresh.Annotation]; ok {
				slim.SetAnnotations(map[string]string{refresh.Annotation: v})
			}
			return slim, nil
		}
		return obj, nil
	})
	r.setRefreshInformer(inf)
	ictx, cancel := context.WithCancel(ctx)
	f.Start(ictx.Done())
	t := time.NewTicker(RefreshCheckInterval)
	return t.C, func() { t.Stop(); cancel(); f.Shutdown() }
}

// setRefreshInformer makes inf the class store the refresh check reads and registers the
// refresh metric.
func (r *Rotator) setRefreshInformer(inf cache.SharedIndexInformer) {
	r.refresh.mu.Lock()
	r.refresh.spcs = inf
	if r.refresh.seen == nil {
		r.refresh.seen = map[string][2]string{}
	}
	if r.refresh.total == nil && r.cfg.Metrics != nil {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: RefreshMetric,
			Help: "The total number of volume refreshes on demand (annotation " + refresh.Annotation + "), by trigger and result."},
			[]string{"os_type", "trigger", "result"})
		if err := r.cfg.Metrics.Registry().Register(c); err == nil {
			r.refresh.total = c
		}
	}
	r.refresh.mu.Unlock()
}

// refreshDue refreshes the volumes whose class or pod annotation changed
// since the last check. A volume seen for the first time is only
// remembered: it was just mounted, from Key Vault.
func (r *Rotator) refreshDue(ctx context.Context) {
	r.refresh.mu.Lock()
	spcs := r.refresh.spcs
	r.refresh.mu.Unlock()
	if spcs == nil || !spcs.HasSynced() {
		return
	}
	objs, err := r.cfg.Watches.PodStatuses.List(labels.Everything())
	if err != nil {
		return
	}
	type due struct {
		st   ssv1.SecretProviderClassPodStatus
		trig trigger
	}
	var todo []due
	present := make(map[string]bool, len(objs))
	r.refresh.mu.Lock()
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		var st ssv1.SecretProviderClassPodStatus
		if err := spcclient.FromUnstructured(u, &st); err != nil || !st.Status.Mounted {
			continue
		}
		pod, err := r.cfg.Watches.Pods.Pods(st.Namespace).Get(st.Status.PodName)
		if err != nil || !ownedBy(&st, pod) {
			continue
		}
		key := st.Namespace + "/" + st.Name
		present[key] = true
		cur := [2]string{"", pod.Annotations[refresh.Annotation]}
		if obj, ok, _ := spcs.GetStore().GetByKey(st.Namespace + "/" + st.Status.SecretProviderClassName); ok {
			if su, ok := obj.(*unstructured.Unstructured); ok {
				cur[0] = su.GetAnnotations()[refresh.Annotation]
			}
		}
		last, known := r.refresh.seen[key]
		r.refresh.seen[key] = cur
		if !known {
			// First sight: the volume was mounted from Key Vault, unless a
			// request written as a time (kvcsi refresh does) came after
			// the mount; a request that raced the informer is not lost.
			last = [2]string{cur[0], cur[1]}
			if requestedAfter(cur[0], st.CreationTimestamp.Time) {
				last[0] = ""
			}
			if requestedAfter(cur[1], st.CreationTimestamp.Time) {
				last[1] = ""
			}
		}
		switch {
		case last == cur:
		case cur[0] != last[0] && cur[0] != "":
			todo = append(todo, due{st, trigger{refresh.TriggerClass, cur[0], "SecretProviderClass " + st.Namespace + "/" + st.Status.SecretProviderClassName}})
		case cur[1] != last[1] && cur[1] != "":
			todo = append(todo, due{st, trigger{refresh.TriggerPod, cur[1], "pod " + st.Namespace + "/" + st.Status.PodName}})
		}
	}
	for k := range r.refresh.seen {
		if !present[k] {
			delete(r.refresh.seen, k)
		}
	}
	total := r.refresh.total
	r.refresh.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	audiences, audErr := r.tokenRequests(ctx)
	for _, d := range todo {
		if ctx.Err() != nil {
			return
		}
		klog.InfoS("refresh on demand", "status", klog.KObj(&d.st), "trigger", d.trig.kind, "value", d.trig.value)
		ok := r.reconcileOne(ctx, &d.st, audiences, audErr, d.trig)
		if total != nil {
			result := "ok"
			if !ok {
				result = "error"
			}
			total.WithLabelValues(runtime.GOOS, d.trig.kind, result).Inc()
		}
	}
}

// rotatedMessage is the MountRotationComplete message; a refresh names its
// trigger, and says so also when nothing changed.
func rotatedMessage(spc string, t trigger, changed bool) string {
	if !t.fresh() {
		return "successfully rotated mounted contents of SecretProviderClass " + spc
	}
	what := "content unchanged"
	if changed {
		what = "content changed"
	}
	return strings.Join([]string{"successfully refreshed mounted contents of SecretProviderClass ", spc, " (", what, "): ", t.String()}, "")
}

// requestedAfter says whether an annotation value is a time (RFC 3339) later
// than t.
func requestedAfter(value string, t time.Time) bool {
	at, err := time.Parse(time.RFC3339Nano, value)
	return err == nil && !t.IsZero() && at.After(t)
}
