// Package simkubelet is a simulated kubelet for the sim target: it registers a
// Node, watches the pods bound to it and does for every CSI volume of the
// configured driver what kubelet's CSI volume plugin does (pkg/volume/csi of
// Kubernetes v1.37): NodePublishVolume with kubelet's volume_id
// (csi-<sha256(podUID+volumeName)>), the target path
// <root>/pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount (kubelet creates the
// parent directory and vol_data.json, the driver creates mount/), the volume
// attributes plus csi.storage.k8s.io/pod.* and ephemeral when the CSIDriver has
// podInfoOnMount, service-account tokens per the CSIDriver's tokenRequests (in
// the volume context or the secrets, as serviceAccountTokenInSecrets says, cached
// like kubelet's token manager), nodePublishSecretRef data read at every publish,
// periodic republish when requiresRepublish (sync period with kubelet's 0.5
// jitter), FailedMount events with kubelet's exponential backoff (500 ms doubling
// to 2m2s) through client-go's event correlator, pod status Pending → Running
// and Ready, and on deletion NodeUnpublishVolume, removal of the volume
// directories and the final delete with grace period 0.
//
// It renews the node's Lease every 10 s. It runs no containers: no images, no
// container statuses beyond "running", no probes, no node status updates after
// registration, no volume types other than CSI.
package simkubelet

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	authv1 "k8s.io/api/authentication/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Kubelet's constants this package reproduces.
const (
	// DefaultSyncPeriod is kubelet's syncFrequency: a pod with a requiresRepublish
	// volume is republished about this often.
	DefaultSyncPeriod = time.Minute
	// backoffInitial and backoffMax are nestedpendingoperations' exponential
	// backoff for a failing volume operation.
	backoffInitial = 500 * time.Millisecond
	backoffMax     = 2*time.Minute + 2*time.Second
	csiTimeout     = 2 * time.Minute
	tokensKey      = "csi.storage.k8s.io/serviceAccount.tokens"
)

// Config describes one simulated node.
type Config struct {
	NodeName string
	// NodeIP is the node's InternalIP (any address; nothing listens there).
	NodeIP string
	Client kubernetes.Interface
	// CSIEndpoint is the driver's unix socket path.
	CSIEndpoint string
	// RootDir is the kubelet root directory of this node.
	RootDir string
	// DriverName is the CSI driver whose volumes this kubelet publishes; other
	// volume types are ignored (treated as ready).
	DriverName string
	// SyncPeriod is the republish period (DefaultSyncPeriod).
	SyncPeriod time.Duration
	// MaxPods is the node's pods capacity (default 110).
	MaxPods int
	Logger  *slog.Logger
	// OnCall, when set, sees every NodePublishVolume and NodeUnpublishVolume
	// request before it is sent (the fidelity test records them).
	OnCall func(method string, req any)
}

// Kubelet is one running simulated kubelet.
type Kubelet struct {
	cfg      Config
	conn     *grpc.ClientConn
	node     csi.NodeClient
	recorder record.EventRecorder
	bcast    record.EventBroadcaster
	drivers  interface {
		Get(name string) (*storagev1.CSIDriver, error)
	}

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	tokens  map[string]*authv1.TokenRequestStatus
	tokMu   sync.Mutex
	wg      sync.WaitGroup
}

type podWorker struct {
	update chan *corev1.Pod
}

// New checks cfg and connects to the driver socket (lazily, as gRPC does).
func New(cfg Config) (*Kubelet, error) {
	if cfg.NodeName == "" || cfg.Client == nil || cfg.CSIEndpoint == "" || cfg.RootDir == "" || cfg.DriverName == "" {
		return nil, errors.New("simkubelet: NodeName, Client, CSIEndpoint, RootDir and DriverName are required")
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = DefaultSyncPeriod
	}
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = 110
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = "198.18.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sock := cfg.CSIEndpoint
	conn, err := grpc.NewClient("unix://"+sock,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}))
	if err != nil {
		return nil, err
	}
	return &Kubelet{cfg: cfg, conn: conn, node: csi.NewNodeClient(conn), workers: map[types.UID]*podWorker{}, tokens: map[string]*authv1.TokenRequestStatus{}}, nil
}

// Run registers the Node, then syncs the pods bound to it until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	defer k.conn.Close()
	// Plugin registration: kubelet calls NodeGetInfo once the driver registers.
	if err := k.waitDriver(ctx); err != nil {
		return err
	}
	// kubelet retries its registration until it succeeds.
	for {
		err := k.registerNode(ctx)
		if err == nil {
			break
		}
		k.cfg.Logger.Warn("node registration failed, retrying", "node", k.cfg.NodeName, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
	go k.heartbeat(ctx)
	k.bcast = record.NewBroadcaster(record.WithContext(ctx))
	k.bcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.cfg.Client.CoreV1().Events("")})
	defer k.bcast.Shutdown()
	k.recorder = k.bcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.cfg.NodeName})

	sf := informers.NewSharedInformerFactory(k.cfg.Client, 0)
	k.drivers = sf.Storage().V1().CSIDrivers().Lister()
	pf := informers.NewSharedInformerFactoryWithOptions(k.cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
	}))
	pi := pf.Core().V1().Pods().Informer()
	_, _ = pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.dispatch(ctx, o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { k.dispatch(ctx, o.(*corev1.Pod)) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				p = p.DeepCopy()
				now := metav1.Now()
				p.DeletionTimestamp = &now
				k.dispatch(ctx, p)
			}
		},
	})
	sf.Start(ctx.Done())
	pf.Start(ctx.Done())
	sf.WaitForCacheSync(ctx.Done())
	pf.WaitForCacheSync(ctx.Done())
	<-ctx.Done()
	k.wg.Wait()
	return nil
}

func (k *Kubelet) waitDriver(ctx context.Context) error {
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := k.node.NodeGetInfo(c, &csi.NodeGetInfoRequest{})
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("driver at %s never answered NodeGetInfo: %w", k.cfg.CSIEndpoint, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (k *Kubelet) registerNode(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(int64(k.cfg.MaxPods), resource.DecimalSI),
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Labels: map[string]string{
			"kubernetes.io/hostname": k.cfg.NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "kvcsi.io/sim": "true",
		}},
	}
	cs := k.cfg.Client.CoreV1().Nodes()
	created, err := cs.Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = cs.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", k.cfg.NodeName, err)
	}
	now := metav1.Now()
	created.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "simkubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now},
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.cfg.NodeIP}, {Type: corev1.NodeHostName, Address: k.cfg.NodeName}},
		NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v1.37.2-simkubelet", OperatingSystem: "linux", Architecture: "amd64"},
	}
	_, err = cs.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("node %s status: %w", k.cfg.NodeName, err)
	}
	return nil
}

// dispatch hands the newest version of a pod to its worker, starting one.
func (k *Kubelet) dispatch(ctx context.Context, p *corev1.Pod) {
	k.mu.Lock()
	w, ok := k.workers[p.UID]
	if !ok {
		w = &podWorker{update: make(chan *corev1.Pod, 1)}
		k.workers[p.UID] = w
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.runPod(ctx, w, p)
			k.mu.Lock()
			delete(k.workers, p.UID)
			k.mu.Unlock()
		}()
		k.mu.Unlock()
		return
	}
	k.mu.Unlock()
	// Keep only the newest version.
	select {
	case <-w.update:
	default:
	}
	select {
	case w.update <- p:
	default:
	}
}

// volState is kubelet's per-volume mount state for one pod.
type volState struct {
	vol     corev1.Volume
	mounted bool
	fails   int
	retryAt time.Time
	nextRep time.Time
}

func (k *Kubelet) runPod(ctx context.Context, w *podWorker, pod *corev1.Pod) {
	var vols []*volState
	for _, v := range pod.Spec.Volumes {
		if v.CSI != nil && v.CSI.Driver == k.cfg.DriverName {
			vols = append(vols, &volState{vol: v})
		}
	}
	statusWritten, running := false, false
	for {
		if pod.DeletionTimestamp != nil {
			k.teardown(ctx, pod, vols)
			return
		}
		if !statusWritten && !running {
			k.writeStatus(ctx, pod, false)
			statusWritten = true
		}
		now := time.Now()
		all := true
		var wake time.Time
		for _, vs := range vols {
			if !vs.mounted {
				if now.Before(vs.retryAt) {
					all = false
					wake = earliest(wake, vs.retryAt)
					continue
				}
				if err := k.publish(ctx, pod, vs.vol, false); err != nil {
					if ctx.Err() != nil {
						return
					}
					k.failed(pod, vs, err)
					all = false
					wake = earliest(wake, vs.retryAt)
					continue
				}
				vs.mounted, vs.fails = true, 0
				vs.nextRep = time.Now().Add(k.jitter())
			}
		}
		if all && !running {
			k.writeStatus(ctx, pod, true)
			running = true
		}
		if all && k.requiresRepublish() {
			for _, vs := range vols {
				if !time.Now().Before(vs.nextRep) {
					if err := k.publish(ctx, pod, vs.vol, true); err != nil && ctx.Err() == nil {
						k.failed(pod, vs, err)
						vs.nextRep = vs.retryAt
					} else {
						vs.fails = 0
						vs.nextRep = time.Now().Add(k.jitter())
					}
				}
				wake = earliest(wake, vs.nextRep)
			}
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !wake.IsZero() {
			t = time.NewTimer(time.Until(wake))
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case p := <-w.update:
			if p.DeletionTimestamp != nil || pod.DeletionTimestamp == nil {
				pod = p
			}
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// jitter is wait.Jitter(SyncPeriod, 0.5), kubelet's pod resync.
func (k *Kubelet) jitter() time.Duration {
	return k.cfg.SyncPeriod + time.Duration(rand.Float64()*0.5*float64(k.cfg.SyncPeriod))
}

func (k *Kubelet) csiDriver() *storagev1.CSIDriver {
	d, err := k.drivers.Get(k.cfg.DriverName)
	if err != nil {
		return nil
	}
	return d
}

func (k *Kubelet) requiresRepublish() bool {
	d := k.csiDriver()
	return d != nil && d.Spec.RequiresRepublish != nil && *d.Spec.RequiresRepublish
}

// failed records a FailedMount event and backs the volume off as
// nestedpendingoperations does.
func (k *Kubelet) failed(pod *corev1.Pod, vs *volState, err error) {
	d := backoffInitial
	for i := 0; i < vs.fails && d < backoffMax; i++ {
		d *= 2
	}
	if d > backoffMax {
		d = backoffMax
	}
	vs.fails++
	vs.retryAt = time.Now().Add(d)
	k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed for volume %q : %v", vs.vol.Name, err)
}

// VolumeHandle is kubelet's volume_id of an inline CSI volume.
func VolumeHandle(podUID types.UID, volName string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(string(podUID)+volName)))
}

// TargetPath is kubelet's target path of a CSI volume.
func TargetPath(root string, podUID types.UID, volName string) string {
	return filepath.Join(root, "pods", string(podUID), "volumes", "kubernetes.io~csi", strings.ReplaceAll(volName, "/", "~"), "mount")
}

func (k *Kubelet) publish(ctx context.Context, pod *corev1.Pod, v corev1.Volume, remount bool) error {
	src := v.CSI
	target := TargetPath(k.cfg.RootDir, pod.UID, v.Name)
	handle := VolumeHandle(pod.UID, v.Name)
	octx, cancel := context.WithTimeout(ctx, csiTimeout)
	defer cancel()
	drv := k.csiDriver()
	if drv == nil {
		// kubelet: supportsVolumeLifecycleMode fails without a CSIDriver for inline volumes.
		return fmt.Errorf("kubernetes.io/csi: mounter.SetupAt failed to check volume lifecycle mode: CSIDriver %s not found", k.cfg.DriverName)
	}
	fsType := ""
	if src.FSType != nil {
		fsType = *src.FSType
	}
	parent := filepath.Dir(target)
	if err := os.MkdirAll(parent, 0o750); err != nil {
		return fmt.Errorf("kubernetes.io/csi: mounter.SetUpAt failed to create dir %q: %v", parent, err)
	}
	secrets := map[string]string{}
	if src.NodePublishSecretRef != nil {
		s, err := k.cfg.Client.CoreV1().Secrets(pod.Namespace).Get(octx, src.NodePublishSecretRef.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("fetching NodePublishSecretRef %s/%s failed: %v", pod.Namespace, src.NodePublishSecretRef.Name, err)
		}
		for key, val := range s.Data {
			secrets[key] = string(val)
		}
	}
	attrs := map[string]string{}
	for key, val := range src.VolumeAttributes {
		attrs[key] = val
	}
	if drv.Spec.PodInfoOnMount != nil && *drv.Spec.PodInfoOnMount {
		attrs["csi.storage.k8s.io/pod.name"] = pod.Name
		attrs["csi.storage.k8s.io/pod.namespace"] = pod.Namespace
		attrs["csi.storage.k8s.io/pod.uid"] = string(pod.UID)
		attrs["csi.storage.k8s.io/serviceAccount.name"] = pod.Spec.ServiceAccountName
		attrs["csi.storage.k8s.io/ephemeral"] = "true"
	}
	if len(drv.Spec.TokenRequests) > 0 {
		tok, err := k.podTokens(octx, pod, drv.Spec.TokenRequests)
		if err != nil {
			return fmt.Errorf("kubernetes.io/csi: mounter.SetUpAt failed to get service accoount token attributes: %v", err)
		}
		if drv.Spec.ServiceAccountTokenInSecrets != nil && *drv.Spec.ServiceAccountTokenInSecrets {
			secrets[tokensKey] = tok
		} else {
			attrs[tokensKey] = tok
		}
	}
	caps, err := k.node.NodeGetCapabilities(octx, &csi.NodeGetCapabilitiesRequest{})
	if err != nil {
		return err
	}
	mountGroup, multiWriter := false, false
	for _, c := range caps.GetCapabilities() {
		switch c.GetRpc().GetType() {
		case csi.NodeServiceCapability_RPC_VOLUME_MOUNT_GROUP:
			mountGroup = true
		case csi.NodeServiceCapability_RPC_SINGLE_NODE_MULTI_WRITER:
			multiWriter = true
		}
	}
	// kubelet asks twice (mount group, access mode mapper).
	if _, err := k.node.NodeGetCapabilities(octx, &csi.NodeGetCapabilitiesRequest{}); err != nil {
		return err
	}
	volData, _ := json.Marshal(map[string]string{
		"specVolID": v.Name, "volumeHandle": handle, "driverName": k.cfg.DriverName, "nodeName": k.cfg.NodeName,
		"volumeLifecycleMode": "Ephemeral",
		"attachmentID":        fmt.Sprintf("csi-%x", sha256.Sum256([]byte(handle+k.cfg.DriverName+k.cfg.NodeName))),
	})
	if err := os.WriteFile(filepath.Join(parent, "vol_data.json"), volData, 0o640); err != nil {
		return fmt.Errorf("kubernetes.io/csi: mounter.SetUpAt failed to save volume info data: %v", err)
	}
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	if multiWriter {
		mode = csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER
	}
	mv := &csi.VolumeCapability_MountVolume{FsType: fsType}
	if mountGroup && pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.FSGroup != nil {
		mv.VolumeMountGroup = strconv.FormatInt(*pod.Spec.SecurityContext.FSGroup, 10)
	}
	req := &csi.NodePublishVolumeRequest{
		VolumeId:         handle,
		TargetPath:       target,
		Readonly:         src.ReadOnly != nil && *src.ReadOnly,
		VolumeContext:    attrs,
		Secrets:          secrets,
		VolumeCapability: &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}, AccessType: &csi.VolumeCapability_Mount{Mount: mv}},
	}
	if k.cfg.OnCall != nil {
		k.cfg.OnCall("NodePublishVolume", req)
	}
	if _, err := k.node.NodePublishVolume(octx, req); err != nil {
		if !remount {
			removeMountDir(target)
		}
		return err
	}
	return nil
}

// removeMountDir is kubelet's: an unmounted target, its vol_data.json and the
// volume directory go.
func removeMountDir(target string) {
	if mounted(target) {
		return
	}
	_ = os.Remove(target)
	_ = os.Remove(filepath.Join(filepath.Dir(target), "vol_data.json"))
	_ = os.Remove(filepath.Dir(target))
}

func mounted(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// podTokens is kubelet's podServiceAccountTokenAttrs with its token manager's
// cache: a token is reused until 80% of its lifetime has passed.
func (k *Kubelet) podTokens(ctx context.Context, pod *corev1.Pod, trs []storagev1.TokenRequest) (string, error) {
	out := map[string]authv1.TokenRequestStatus{}
	for _, tr := range trs {
		auds := []string{tr.Audience}
		if tr.Audience == "" {
			auds = []string{}
		}
		key := fmt.Sprintf("%s/%s/%s/%v/%s", pod.Namespace, pod.Spec.ServiceAccountName, tr.Audience, tr.ExpirationSeconds, pod.UID)
		k.tokMu.Lock()
		st := k.tokens[key]
		k.tokMu.Unlock()
		if st == nil || time.Now().After(refreshAt(st)) {
			res, err := k.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authv1.TokenRequest{
				Spec: authv1.TokenRequestSpec{
					Audiences:         auds,
					ExpirationSeconds: tr.ExpirationSeconds,
					BoundObjectRef:    &authv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
				},
			}, metav1.CreateOptions{})
			if err != nil {
				return "", err
			}
			st = &res.Status
			k.tokMu.Lock()
			k.tokens[key] = st
			k.tokMu.Unlock()
		}
		out[tr.Audience] = *st
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func refreshAt(st *authv1.TokenRequestStatus) time.Time {
	// kubelet refreshes at 80% of the TTL; the issue time is not in the status,
	// so assume the default hour when the expiry is further away.
	exp := st.ExpirationTimestamp.Time
	ttl := time.Hour
	return exp.Add(-ttl / 5)
}

func (k *Kubelet) teardown(ctx context.Context, pod *corev1.Pod, vols []*volState) {
	backoff := backoffInitial
	for {
		var errs []error
		for _, vs := range vols {
			target := TargetPath(k.cfg.RootDir, pod.UID, vs.vol.Name)
			if _, err := os.Stat(filepath.Dir(target)); os.IsNotExist(err) {
				continue
			}
			req := &csi.NodeUnpublishVolumeRequest{VolumeId: VolumeHandle(pod.UID, vs.vol.Name), TargetPath: target}
			if k.cfg.OnCall != nil {
				k.cfg.OnCall("NodeUnpublishVolume", req)
			}
			octx, cancel := context.WithTimeout(ctx, csiTimeout)
			_, err := k.node.NodeUnpublishVolume(octx, req)
			cancel()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			removeMountDir(target)
		}
		if len(errs) == 0 {
			break
		}
		k.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedUnmount", "UnmountVolume.TearDown failed: %v", errors.Join(errs...))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > backoffMax {
			backoff = backoffMax
		}
	}
	_ = os.RemoveAll(filepath.Join(k.cfg.RootDir, "pods", string(pod.UID), "volumes"))
	_ = os.Remove(filepath.Join(k.cfg.RootDir, "pods", string(pod.UID)))
	zero := int64(0)
	uid := pod.UID
	err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		k.cfg.Logger.Warn("delete pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	k.tokMu.Lock()
	for key := range k.tokens {
		if strings.HasSuffix(key, "/"+string(pod.UID)) {
			delete(k.tokens, key)
		}
	}
	k.tokMu.Unlock()
}

// writeStatus writes kubelet's status: Pending with the containers in
// ContainerCreating before the volumes are up, Running and Ready after.
func (k *Kubelet) writeStatus(ctx context.Context, pod *corev1.Pod, running bool) {
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := k.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || cur.UID != pod.UID {
			return
		}
		now := metav1.Now()
		st := cur.Status.DeepCopy()
		st.HostIP = k.cfg.NodeIP
		st.HostIPs = []corev1.HostIP{{IP: k.cfg.NodeIP}}
		if st.StartTime == nil {
			st.StartTime = &now
		}
		cond := func(t corev1.PodConditionType, ok bool, reason string) {
			s := corev1.ConditionFalse
			if ok {
				s = corev1.ConditionTrue
			}
			for i := range st.Conditions {
				if st.Conditions[i].Type == t {
					if st.Conditions[i].Status != s {
						st.Conditions[i].Status, st.Conditions[i].LastTransitionTime, st.Conditions[i].Reason = s, now, reason
					}
					return
				}
			}
			st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now, Reason: reason})
		}
		cond(corev1.PodReadyToStartContainers, running, "")
		cond(corev1.PodInitialized, true, "")
		notReady := ""
		if !running {
			notReady = "ContainersNotReady"
		}
		cond(corev1.ContainersReady, running, notReady)
		cond(corev1.PodReady, running, notReady)
		st.ContainerStatuses = nil
		for _, c := range cur.Spec.Containers {
			cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: running}
			if running {
				started := true
				cs.Started = &started
				cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
				cs.ImageID, cs.ContainerID = c.Image, "sim://"+string(pod.UID)+"/"+c.Name
			} else {
				cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			}
			st.ContainerStatuses = append(st.ContainerStatuses, cs)
		}
		if running {
			st.Phase = corev1.PodRunning
			ip := podIP(pod.UID)
			st.PodIP, st.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		} else {
			st.Phase = corev1.PodPending
		}
		cur.Status = *st
		_, err = k.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) {
			return
		}
	}
}

// podIP is a stable fake address in 100.64.0.0/10 (nothing listens there).
func podIP(uid types.UID) string {
	h := sha256.Sum256([]byte(uid))
	return fmt.Sprintf("100.%d.%d.%d", 64+h[0]%64, h[1], h[2])
}

// heartbeat renews the node's Lease in kube-node-lease every 10 s (kubelet's
// nodeLeaseDurationSeconds 40 / 4), so the node lifecycle controller keeps the
// node Ready and untainted.
func (k *Kubelet) heartbeat(ctx context.Context) {
	leases := k.cfg.Client.CoordinationV1().Leases("kube-node-lease")
	dur := int32(40)
	for {
		now := metav1.NewMicroTime(time.Now())
		l, err := leases.Get(ctx, k.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = leases.Create(ctx, &coordv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Namespace: "kube-node-lease"},
				Spec:       coordv1.LeaseSpec{HolderIdentity: &k.cfg.NodeName, LeaseDurationSeconds: &dur, RenewTime: &now},
			}, metav1.CreateOptions{})
		case err == nil:
			l.Spec.RenewTime = &now
			_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		if err != nil && ctx.Err() == nil {
			k.cfg.Logger.Warn("renew the node lease", "node", k.cfg.NodeName, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
		}
	}
}
