package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/csiplugin"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/podstatus"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"github.com/kvcsi/kvcsi/driver/secretsync"
	"github.com/kvcsi/kvcsi/driver/tmpfs"
	"github.com/kvcsi/kvcsi/localcluster"
	"github.com/kvcsi/kvcsi/localcluster/localclustertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { localclustertest.Main(m) }

// controlPlaneB is the shared API-only local cluster: etcd, kube-apiserver
// with the CRDs, kube-controller-manager.
func controlPlaneB(t testing.TB) *localcluster.Cluster { return localclustertest.Get(t) }

func clients(t *testing.T) (kubernetes.Interface, *spcclient.Client) { return clientsB(t) }

func clientsB(t testing.TB) (kubernetes.Interface, *spcclient.Client) {
	c := controlPlaneB(t)
	kube, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := spcclient.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return kube, ss
}

func namespace(t *testing.T, kube kubernetes.Interface) string {
	t.Helper()
	ns, err := kube.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "driver-it-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// upstreamSPC is a SecretProviderClass as the AKS documentation writes it.
const upstreamSPC = `
apiVersion: secrets-store.csi.x-k8s.io/%s
kind: SecretProviderClass
metadata:
  name: azure-sync
spec:
  provider: azure
  secretObjects:
  - secretName: foosecret
    type: Opaque
    labels:
      environment: test
    annotations:
      team: a
    data:
    - objectName: secretalias
      key: username
  parameters:
    usePodIdentity: "false"
    keyvaultName: kv1
    objects: |
      array:
        - |
          objectName: secret1
          objectAlias: secretalias
          objectType: secret
    tenantId: tid
`

func TestCRDsAcceptUpstreamObjectsInBothVersions(t *testing.T) {
	kube, ss := clients(t)
	ns := namespace(t, kube)
	ctx := context.Background()
	for _, version := range []string{"v1", "v1alpha1"} {
		t.Run(version, func(t *testing.T) {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(fmt.Sprintf(upstreamSPC, version)), &obj); err != nil {
				t.Fatal(err)
			}
			u := &unstructured.Unstructured{Object: obj}
			u.SetName("azure-sync-" + version)
			gvr := schema.GroupVersionResource{Group: secretsstorev1.GroupName, Version: version, Resource: "secretproviderclasses"}
			if _, err := ss.Dynamic().Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create %s SecretProviderClass: %v", version, err)
			}
			got, err := ss.SecretProviderClasses(ns).Get(ctx, u.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			so := got.Spec.SecretObjects
			if got.Spec.Provider != "azure" || got.Spec.Parameters["keyvaultName"] != "kv1" || len(so) != 1 ||
				so[0].SecretName != "foosecret" || so[0].Labels["environment"] != "test" || so[0].Annotations["team"] != "a" ||
				so[0].Data[0].ObjectName != "secretalias" || so[0].Data[0].Key != "username" {
				t.Fatalf("read back as v1: %+v", got.Spec)
			}
		})
	}
	// A pod status round-trips through the real API too.
	ps := &secretsstorev1.SecretProviderClassPodStatus{
		ObjectMeta: metav1.ObjectMeta{Name: "p-" + ns + "-s", Namespace: ns},
		Status: secretsstorev1.SecretProviderClassPodStatusStatus{PodName: "p", SecretProviderClassName: "s", Mounted: true,
			TargetPath: "/t", Objects: []secretsstorev1.SecretProviderClassObject{{ID: "secret/a", Version: "1"}}},
	}
	if _, err := ss.PodStatuses(ns).Create(ctx, ps, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := ss.PodStatuses(ns).Get(ctx, ps.Name, metav1.GetOptions{})
	if err != nil || !got.Status.Mounted || got.Status.Objects[0].Version != "1" {
		t.Fatalf("pod status: %+v %v", got, err)
	}
}

// TestPublishAgainstRealAPIServer runs NodePublishVolume with the real
// SecretProviderClass lookup, pod status and secret sync hooks, a fake
// provider on a real socket and a real tmpfs; then the pod's deletion lets
// the real garbage collector remove the pod status and the synced Secret.
func TestPublishAgainstRealAPIServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: NodePublishVolume mounts a real tmpfs")
	}
	kube, ss := clients(t)
	ns := namespace(t, kube)
	ctx := context.Background()
	const node = "it-node"

	var obj map[string]any
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(upstreamSPC, "v1")), &obj); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if _, err := ss.Dynamic().Resource(secretsstorev1.SecretProviderClassesResource).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "busybox-secrets-store-inline"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/e2e-test-images/busybox:1.29-1"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	provDir := filepath.Join(root, "providers")
	if err := os.Mkdir(provDir, 0o755); err != nil {
		t.Fatal(err)
	}
	providertest.Start(t, provDir, "azure", providertest.Files("v1", map[string]string{"secretalias": "admin"}))
	pool, err := providerclient.New(providerclient.Config{Dirs: []string{provDir}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	statuses, err := podstatus.New(ss, node)
	if err != nil {
		t.Fatal(err)
	}
	rec := metrics.New()
	syncer, err := secretsync.New(secretsync.Config{Client: kube, Metrics: rec})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := csiplugin.New(csiplugin.Config{
		DriverName: driver.Name, Version: "it", NodeID: node,
		SPCs: csiplugin.SPCsFromClient(ss), Refresher: &content.Refresher{Providers: pool},
		Hooks: driver.Hooks{statuses, syncer}, Metrics: rec, Log: logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}

	target := filepath.Join(root, "pods", string(pod.UID), "volumes", "kubernetes.io~csi", "secrets-store-inline", "mount")
	req := &csi.NodePublishVolumeRequest{
		VolumeId: "csi-it", TargetPath: target, Readonly: true,
		VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}},
		VolumeContext: map[string]string{
			driver.AttrSecretProviderClass: "azure-sync", driver.AttrPodName: pod.Name,
			driver.AttrPodNamespace: ns, driver.AttrPodUID: string(pod.UID), driver.AttrServiceAccountName: "default",
		},
	}
	if _, err := srv.NodePublishVolume(ctx, req); err != nil {
		t.Fatal(err)
	}
	defer tmpfs.Unmount(target)

	if b, err := os.ReadFile(filepath.Join(target, "secretalias")); err != nil || string(b) != "admin" {
		t.Fatalf("mounted file: %q %v", b, err)
	}
	st, err := ss.PodStatuses(ns).Get(ctx, pod.Name+"-"+ns+"-azure-sync", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("pod status: %v", err)
	}
	if st.Labels[secretsstorev1.NodeNameLabel] != node || !st.Status.Mounted || st.Status.TargetPath != target ||
		len(st.Status.Objects) != 1 || st.Status.Objects[0].Version != "v1" || len(st.OwnerReferences) != 1 || st.OwnerReferences[0].UID != pod.UID {
		t.Fatalf("pod status %+v", st)
	}
	sec, err := kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("synced secret: %v", err)
	}
	if string(sec.Data["username"]) != "admin" || sec.Labels[secretsstorev1.ManagedLabel] != "true" || sec.Labels["environment"] != "test" {
		t.Fatalf("synced secret labels %v keys %d", sec.Labels, len(sec.Data))
	}

	// Republish is idempotent against the real API (no conflict, no duplicate owner).
	if _, err := srv.NodePublishVolume(ctx, req); err != nil {
		t.Fatalf("republish: %v", err)
	}

	// Delete the pod (no kubelet here, so force): the garbage collector
	// removes the pod status and the synced Secret, as the AKS docs promise.
	zero := int64(0)
	if err := kube.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, e1 := kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
		_, e2 := ss.PodStatuses(ns).Get(ctx, st.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(e1) && apierrors.IsNotFound(e2), nil
	})
	if err != nil {
		t.Fatalf("garbage collector did not delete the synced Secret and pod status after the pod: %v", err)
	}
}

func TestMissingSecretProviderClassMessage(t *testing.T) {
	kube, ss := clients(t)
	ns := namespace(t, kube)
	srv, err := csiplugin.New(csiplugin.Config{
		DriverName: driver.Name, NodeID: "n", SPCs: csiplugin.SPCsFromClient(ss),
		Refresher: &content.Refresher{Providers: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = srv.NodePublishVolume(context.Background(), &csi.NodePublishVolumeRequest{
		VolumeId: "v", TargetPath: filepath.Join(t.TempDir(), "t"), Readonly: true,
		VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}},
		VolumeContext:    map[string]string{driver.AttrSecretProviderClass: "azure-kvname", driver.AttrPodName: "p", driver.AttrPodNamespace: ns},
	})
	want := fmt.Sprintf(`failed to get secretproviderclass %s/azure-kvname, error: secretproviderclasses.secrets-store.csi.x-k8s.io "azure-kvname" not found`, ns)
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant NotFound containing %q", err, want)
	}
}
