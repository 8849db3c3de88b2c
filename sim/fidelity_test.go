package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	csi "github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
	"k8s.io/utils/ptr"

	"github.com/kvcsi/kvcsi/charts"
	"github.com/kvcsi/kvcsi/localcluster"
	"github.com/kvcsi/kvcsi/sim/simkubelet"
)

// recorder is a CSI node plugin that records NodePublishVolume and
// NodeUnpublishVolume and answers like the driver (no node capabilities,
// creates and removes the target directory). Both kubelets talk to one, so
// the requests are compared, not the driver's answers.
type recorder struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedNodeServer
	nodeID string
	mu     sync.Mutex
	pub    []*csi.NodePublishVolumeRequest
	unpub  []*csi.NodeUnpublishVolumeRequest
}

func (r *recorder) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: driverName, VendorVersion: "fidelity"}, nil
}
func (r *recorder) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{}, nil
}
func (r *recorder) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}
func (r *recorder) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: r.nodeID}, nil
}
func (r *recorder) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil
}
func (r *recorder) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	r.mu.Lock()
	r.pub = append(r.pub, req)
	r.mu.Unlock()
	return &csi.NodePublishVolumeResponse{}, os.MkdirAll(req.TargetPath, 0o755)
}
func (r *recorder) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	r.mu.Lock()
	r.unpub = append(r.unpub, req)
	r.mu.Unlock()
	return &csi.NodeUnpublishVolumeResponse{}, os.RemoveAll(req.TargetPath)
}

func serveRecorder(t *testing.T, sock, nodeID string) *recorder {
	t.Helper()
	_ = os.MkdirAll(filepath.Dir(sock), 0o755)
	_ = os.Remove(sock)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{nodeID: nodeID}
	g := grpc.NewServer()
	csi.RegisterIdentityServer(g, r)
	csi.RegisterNodeServer(g, r)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return r
}

// registration is kubelet's plugin registration service for the recorder.
type registration struct {
	registerapi.UnimplementedRegistrationServer
	endpoint string
	done     chan string
}

func (g *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: driverName, Endpoint: g.endpoint, SupportedVersions: []string{"1.0.0"}}, nil
}
func (g *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	select {
	case g.done <- fmt.Sprintf("registered=%v %s", s.PluginRegistered, s.Error):
	default:
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// fidelityPods are the specs both kubelets get: an inline volume, a
// nodePublishSecretRef, a workload-identity service account, two volumes.
func fidelityPods(node string) map[string]*corev1.Pod {
	vol := func(name, class string, ref bool) corev1.Volume {
		v := corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
			Driver: driverName, ReadOnly: ptr.To(true), VolumeAttributes: map[string]string{"secretProviderClass": class},
		}}}
		if ref {
			v.CSI.NodePublishSecretRef = &corev1.LocalObjectReference{Name: "creds"}
		}
		return v
	}
	pod := func(name, sa string, vols ...corev1.Volume) *corev1.Pod {
		var mounts []corev1.VolumeMount
		for _, v := range vols {
			mounts = append(mounts, corev1.VolumeMount{Name: v.Name, MountPath: "/mnt/" + v.Name, ReadOnly: true})
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fidelity"},
			Spec: corev1.PodSpec{
				NodeName: node, ServiceAccountName: sa, TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", ImagePullPolicy: corev1.PullNever, VolumeMounts: mounts}},
				Volumes:    vols,
			},
		}
	}
	return map[string]*corev1.Pod{
		"inline":            pod("inline", "default", vol("secrets", "spc-a", false)),
		"secret-ref":        pod("secret-ref", "default", vol("secrets", "spc-a", true)),
		"workload-identity": pod("workload-identity", "workload-sa", vol("secrets", "spc-wi", false)),
		"two-volumes":       pod("two-volumes", "default", vol("first", "spc-a", false), vol("second", "spc-b", true)),
	}
}

// normalize renders a request as JSON with the generated parts replaced:
// the pod's uid and name, the kubelet root, token values and expiries.
func normalize(t *testing.T, v any, root string, uid types.UID, podName string) string {
	t.Helper()
	var m map[string]any
	switch req := v.(type) {
	case *csi.NodePublishVolumeRequest:
		secrets := map[string]string{}
		for k, s := range req.Secrets {
			if k == "csi.storage.k8s.io/serviceAccount.tokens" {
				var toks map[string]map[string]any
				if err := json.Unmarshal([]byte(s), &toks); err != nil {
					t.Fatalf("tokens are not JSON: %v", err)
				}
				for aud := range toks {
					toks[aud] = map[string]any{"token": "<token>", "expirationTimestamp": "<exp>"}
				}
				b, _ := json.Marshal(toks)
				s = string(b)
			}
			secrets[k] = s
		}
		m = map[string]any{
			"volume_id": req.VolumeId, "target_path": req.TargetPath, "readonly": req.Readonly,
			"staging_target_path": req.StagingTargetPath, "publish_context": req.PublishContext,
			"volume_context": req.VolumeContext, "secrets": secrets, "volume_capability": req.VolumeCapability.String(),
		}
	case *csi.NodeUnpublishVolumeRequest:
		m = map[string]any{"volume_id": req.VolumeId, "target_path": req.TargetPath}
	}
	b, _ := json.Marshal(m)
	s := string(b)
	s = strings.ReplaceAll(s, root, "<root>")
	s = strings.ReplaceAll(s, string(uid), "<uid>")
	s = strings.ReplaceAll(s, `"`+podName+`"`, `"<pod>"`)
	// The volume handle is sha256(uid+volume): check it is kubelet's, then hide it.
	for _, name := range []string{"secrets", "first", "second"} {
		s = strings.ReplaceAll(s, simkubelet.VolumeHandle(uid, name), "<handle:"+name+">")
	}
	return s
}

// TestFidelity records what the real kubelet of the local cluster and a
// simkubelet send a CSI plugin for the same pod specs, and asserts the
// NodePublishVolume and NodeUnpublishVolume requests are the same apart from
// generated uids, names, paths and token values.
func TestFidelity(t *testing.T) {
	needsSim(t)
	if _, err := os.Stat(filepath.Join(mustCacheDir(t), "kubelet-"+localcluster.KubernetesVersion)); err != nil {
		t.Skip("needs the kubelet binary (make k8s-bins)")
	}
	// Start waits for the host lock, which the local target's catalogue may
	// hold for most of `make test`: wait until shortly before the test
	// binary's own deadline rather than a fixed time.
	deadline := time.Now().Add(50 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-2 * time.Minute)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Config{RunDir: filepath.Join(t.TempDir(), "cluster")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	kube, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The CSIDriver as the chart renders it (rotation off), the namespace,
	// the service account and the nodePublishSecretRef Secret.
	r, err := charts.Render(charts.Options{KubeVersion: localcluster.KubernetesVersion})
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := r.Objects()
	for _, o := range objs {
		if o.GetKind() == "CSIDriver" {
			var d storagev1.CSIDriver
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				t.Fatal(err)
			}
			if _, err := kube.StorageV1().CSIDrivers().Create(ctx, &d, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustCreate := func(err error) {
		t.Helper()
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fidelity"}}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = kube.CoreV1().ServiceAccounts("fidelity").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "workload-sa"}}, metav1.CreateOptions{})
	mustCreate(err)
	_, err = kube.CoreV1().Secrets("fidelity").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"clientid": "fidelity-id", "clientsecret": "fidelity-not-a-secret"}}, metav1.CreateOptions{})
	mustCreate(err)
	waitSA := func() {
		for i := 0; i < 100; i++ {
			if _, err := kube.CoreV1().ServiceAccounts("fidelity").Get(ctx, "default", metav1.GetOptions{}); err == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatal("no default service account in namespace fidelity")
	}
	waitSA()

	// The real kubelet: register the recorder as the plugin.
	realSock := filepath.Join(localcluster.KubeletRootDir, "plugins", "kvcsi-fidelity", "csi.sock")
	realRec := serveRecorder(t, realSock, c.NodeName())
	regSock := filepath.Join(localcluster.KubeletRootDir, "plugins_registry", driverName+"-reg.sock")
	_ = os.Remove(regSock)
	lis, err := net.Listen("unix", regSock)
	if err != nil {
		t.Fatal(err)
	}
	reg := &registration{endpoint: realSock, done: make(chan string, 1)}
	g := grpc.NewServer()
	registerapi.RegisterRegistrationServer(g, reg)
	go g.Serve(lis)
	defer func() { g.Stop(); os.Remove(regSock) }()
	select {
	case s := <-reg.done:
		if !strings.HasPrefix(s, "registered=true") {
			t.Fatalf("kubelet refused the plugin: %s", s)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("kubelet never registered the plugin")
	}

	// The simkubelet, on a second Node of the same cluster.
	simRoot := filepath.Join(t.TempDir(), "kubelet")
	simSock := filepath.Join(t.TempDir(), "csi.sock")
	simRec := serveRecorder(t, simSock, "sim-fidelity")
	k, err := simkubelet.New(simkubelet.Config{NodeName: "sim-fidelity", Client: kube, CSIEndpoint: simSock, RootDir: simRoot, DriverName: driverName})
	if err != nil {
		t.Fatal(err)
	}
	kctx, kcancel := context.WithCancel(ctx)
	kdone := make(chan struct{})
	go func() { defer close(kdone); _ = k.Run(kctx) }()
	defer func() { kcancel(); <-kdone }()

	run := func(node, prefix string) map[string]*corev1.Pod {
		created := map[string]*corev1.Pod{}
		for spec, p := range fidelityPods(node) {
			p.Name = prefix + "-" + p.Name
			got, err := kube.CoreV1().Pods("fidelity").Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			created[spec] = got
		}
		for spec, p := range created {
			waitPhase(t, ctx, kube, p.Name, corev1.PodRunning, spec)
		}
		for _, p := range created {
			if err := kube.CoreV1().Pods("fidelity").Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for spec, p := range created {
			waitGone(t, ctx, kube, p.Name, spec)
		}
		return created
	}
	realPods := run(c.NodeName(), "real")
	simPods := run("sim-fidelity", "sim")

	collect := func(rec *recorder, pods map[string]*corev1.Pod, root string) map[string][]string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		out := map[string][]string{}
		for spec, p := range pods {
			for _, req := range rec.pub {
				if strings.Contains(req.TargetPath, string(p.UID)) {
					out[spec] = append(out[spec], "publish "+normalize(t, req, root, p.UID, p.Name))
				}
			}
			for _, req := range rec.unpub {
				if strings.Contains(req.TargetPath, string(p.UID)) {
					out[spec] = append(out[spec], "unpublish "+normalize(t, req, root, p.UID, p.Name))
				}
			}
			sort.Strings(out[spec])
		}
		return out
	}
	real := collect(realRec, realPods, localcluster.KubeletRootDir)
	simd := collect(simRec, simPods, simRoot)
	for spec := range fidelityPods("") {
		if len(real[spec]) == 0 {
			t.Errorf("%s: the real kubelet made no call", spec)
		}
		if strings.Join(real[spec], "\n") != strings.Join(simd[spec], "\n") {
			t.Errorf("%s: simkubelet differs from kubelet\nkubelet:\n  %s\nsimkubelet:\n  %s", spec, strings.Join(real[spec], "\n  "), strings.Join(simd[spec], "\n  "))
		}
	}
}

func mustCacheDir(t *testing.T) string {
	d, err := localcluster.BinaryCacheDir()
	if err != nil {
		t.Skip("needs the binary cache (make k8s-bins)")
	}
	return d
}

func waitPhase(t *testing.T, ctx context.Context, kube kubernetes.Interface, name string, phase corev1.PodPhase, spec string) {
	t.Helper()
	for i := 0; i < 600; i++ {
		p, err := kube.CoreV1().Pods("fidelity").Get(ctx, name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == phase {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	ev, _ := kube.CoreV1().Events("fidelity").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	var msgs []string
	for _, e := range ev.Items {
		msgs = append(msgs, e.Reason+": "+e.Message)
	}
	t.Fatalf("%s (%s) never reached %s; events: %s", name, spec, phase, strings.Join(msgs, " | "))
}

func waitGone(t *testing.T, ctx context.Context, kube kubernetes.Interface, name, spec string) {
	t.Helper()
	for i := 0; i < 600; i++ {
		if _, err := kube.CoreV1().Pods("fidelity").Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s (%s) was never removed", name, spec)
}
