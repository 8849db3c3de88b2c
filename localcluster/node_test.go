package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kvcsi/kvcsi/images"
)

var (
	imagesOnce sync.Once
	builtImgs  map[string]images.Image
	imagesErr  error
)

// buildTestImages builds busybox and kvcsi's registrar with the one image
// build path and loads them into the cluster.
func buildTestImages(ctx context.Context, c *Cluster) (map[string]images.Image, error) {
	imgs, err := images.Build(ctx, images.Options{Only: []string{"busybox", "csi-node-driver-registrar"}})
	if err != nil {
		return nil, err
	}
	out := map[string]images.Image{}
	for _, img := range imgs {
		out[img.Name] = img
		if err := c.LoadImages(ctx, img.Path); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// testImages is buildTestImages once per test binary.
func testImages(t *testing.T, c *Cluster) map[string]images.Image {
	t.Helper()
	imagesOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		builtImgs, imagesErr = buildTestImages(ctx, c)
	})
	if imagesErr != nil {
		t.Fatalf("build and load test images: %v", imagesErr)
	}
	return builtImgs
}

func waitPodReady(t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 3*time.Minute, "pod "+ns+"/"+name+" Ready", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod = p
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("phase %s, conditions %v, container statuses %v", p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
	})
	return pod
}

// waitLogs waits until the pod's log contains every want.
func waitLogs(t *testing.T, cs kubernetes.Interface, ns, name string, want ...string) string {
	t.Helper()
	var logs string
	eventually(t, time.Minute, "logs of "+ns+"/"+name, func() error {
		b, err := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(context.Background())
		if err != nil {
			return err
		}
		logs = string(b)
		for _, w := range want {
			if !strings.Contains(logs, w) {
				return fmt.Errorf("log %q lacks %q", logs, w)
			}
		}
		return nil
	})
	return logs
}

func shellPod(name, image, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr(int64(0)),
			Containers: []corev1.Container{{
				Name: "main", Image: image, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", script},
			}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func TestNodeReadyAndPodFromLocalImage(t *testing.T) {
	c := node(t)
	imgs := testImages(t, c)
	cs := clientset(t, c)
	ctx := context.Background()
	n, err := cs.CoreV1().Nodes().Get(ctx, c.NodeName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var internal string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			internal = a.Address
		}
	}
	if internal != c.NodeIP() {
		t.Errorf("node InternalIP = %q, want %q", internal, c.NodeIP())
	}
	ns := testNamespace(t, cs, "pod")
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, shellPod("hello", imgs["busybox"].Ref, "echo hello from $(hostname); sleep 3600"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitPodReady(t, cs, ns, "hello")
	if pod.Status.PodIP == "" || !podNet(parseIP(c.NodeIP())).Contains(parseIP(pod.Status.PodIP)) {
		t.Errorf("pod IP %q is not on the node network", pod.Status.PodIP)
	}
	// Logs travel apiserver -> kubelet on the InternalIP.
	waitLogs(t, cs, ns, "hello", "hello from hello")
}

func TestSubPathAndEnvFromSecret(t *testing.T) {
	c := node(t)
	imgs := testImages(t, c)
	cs := clientset(t, c)
	ctx := context.Background()
	ns := testNamespace(t, cs, "subpath")
	_, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s"},
		StringData: map[string]string{"username": "env-value-42", "file.txt": "file-content-43"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := shellPod("consumer", imgs["busybox"].Ref, `echo "env=$USERNAME"; echo "sub=$(cat /etc/one/only.txt)"; ls /etc/one; sleep 3600`)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "USERNAME", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "username"},
	}}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "sec", MountPath: "/etc/one/only.txt", SubPath: "file.txt"}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodReady(t, cs, ns, "consumer")
	logs := waitLogs(t, cs, ns, "consumer", "env=env-value-42", "sub=file-content-43")
	// subPath mounts the one file, not the whole secret volume.
	if strings.Contains(logs, "username") {
		t.Errorf("subPath exposed the whole volume: %q", logs)
	}
}

// testCSIDriver is the test plugin's name (internal/testcsi).
const testCSIDriver = "testcsi.kvcsi.io"

func TestCSINodePluginRegistersAndServesInlineVolume(t *testing.T) {
	c := node(t)
	imgs := testImages(t, c)
	cs := clientset(t, c)
	ctx := context.Background()

	// The plugin binary runs from a hostPath inside the busybox image.
	binDir := filepath.Join(c.RunDir(), "testcsi")
	callsDir := filepath.Join(binDir, "calls")
	if err := os.MkdirAll(callsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(goCommand(), "build", "-o", filepath.Join(binDir, "testcsi"), "./internal/testcsi")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test CSI plugin: %v\n%s", err, out)
	}

	_, err := cs.StorageV1().CSIDrivers().Create(ctx, &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: testCSIDriver},
		Spec: storagev1.CSIDriverSpec{
			AttachRequired:       ptr(false),
			PodInfoOnMount:       ptr(true),
			VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecycleEphemeral},
		},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.StorageV1().CSIDrivers().Delete(context.Background(), testCSIDriver, metav1.DeleteOptions{})
	})

	ns := testNamespace(t, cs, "csi")
	hostDir := func(name, path string, typ corev1.HostPathType) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &typ}}}
	}
	pluginDir := KubeletRootDir + "/plugins/" + testCSIDriver
	labels := map[string]string{"app": "testcsi"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "testcsi"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(0)),
					Containers: []corev1.Container{
						{
							Name: "plugin", Image: imgs["busybox"].Ref, ImagePullPolicy: corev1.PullNever,
							Command:         []string{"/testbin/testcsi", "--endpoint=/csi/csi.sock", "--calls=/calls/calls.log"},
							Env:             []corev1.EnvVar{{Name: "KUBE_NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
							SecurityContext: &corev1.SecurityContext{Privileged: ptr(true)},
							VolumeMounts: []corev1.VolumeMount{
								{Name: "plugin-dir", MountPath: "/csi"},
								{Name: "testbin", MountPath: "/testbin"},
								{Name: "calls", MountPath: "/calls"},
								{Name: "pods", MountPath: KubeletRootDir + "/pods", MountPropagation: ptr(corev1.MountPropagationBidirectional)},
							},
						},
						{
							Name: "node-driver-registrar", Image: imgs["csi-node-driver-registrar"].Ref, ImagePullPolicy: corev1.PullNever,
							Args: []string{"--csi-address=/csi/csi.sock", "--kubelet-registration-path=" + pluginDir + "/csi.sock"},
							VolumeMounts: []corev1.VolumeMount{
								{Name: "plugin-dir", MountPath: "/csi"},
								{Name: "registration-dir", MountPath: "/registration"},
							},
						},
					},
					Volumes: []corev1.Volume{
						hostDir("plugin-dir", pluginDir, corev1.HostPathDirectoryOrCreate),
						hostDir("registration-dir", KubeletRootDir+"/plugins_registry", corev1.HostPathDirectoryOrCreate),
						hostDir("pods", KubeletRootDir+"/pods", corev1.HostPathDirectory),
						hostDir("testbin", binDir, corev1.HostPathDirectory),
						hostDir("calls", callsDir, corev1.HostPathDirectory),
					},
				},
			},
		},
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "CSINode lists "+testCSIDriver, func() error {
		n, err := cs.StorageV1().CSINodes().Get(ctx, c.NodeName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, d := range n.Spec.Drivers {
			if d.Name == testCSIDriver && d.NodeID == c.NodeName() {
				return nil
			}
		}
		return fmt.Errorf("drivers: %+v", n.Spec.Drivers)
	})

	pod := shellPod("inline", imgs["busybox"].Ref, `echo "content=$(cat /mnt/v/content) pod=$(cat /mnt/v/pod) ephemeral=$(cat /mnt/v/ephemeral)"; sleep 3600`)
	pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
		Driver: testCSIDriver, ReadOnly: ptr(true), VolumeAttributes: map[string]string{"content": "inline-data"},
	}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/mnt/v", ReadOnly: true}}
	created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitPodReady(t, cs, ns, "inline")
	waitLogs(t, cs, ns, "inline", "content=inline-data pod=inline ephemeral=true")

	// The target is a real mount on the host while the pod runs.
	var target string
	calls := filepath.Join(callsDir, "calls.log")
	b, _ := os.ReadFile(calls)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "publish" && f[2] == "inline" {
			target = f[3]
		}
	}
	if target == "" || !strings.Contains(target, string(created.UID)) {
		t.Fatalf("no NodePublishVolume for the pod in %s:\n%s", calls, b)
	}
	if len(mountsUnder(target)) == 0 {
		t.Errorf("publish target %s is not mounted on the host", target)
	}

	if err := cs.CoreV1().Pods(ns).Delete(ctx, "inline", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "NodeUnpublishVolume of the deleted pod", func() error {
		b, _ := os.ReadFile(calls)
		if !bytes.Contains(b, []byte("unpublish ")) || !bytes.Contains(b, []byte(target)) {
			return fmt.Errorf("calls so far:\n%s", b)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "unpublish" && f[2] == target {
				return nil
			}
		}
		return fmt.Errorf("no unpublish of %s yet:\n%s", target, b)
	})
	if len(mountsUnder(target)) != 0 {
		t.Errorf("target %s still mounted after unpublish", target)
	}
}

func parseIP(s string) net.IP { return net.ParseIP(s).To4() }

// A Deployment runs through the deployment, replicaset and scheduler paths;
// deleting it leaves its ReplicaSet and pod to the garbage collector.
func TestDeploymentPodsGarbageCollectedWithOwner(t *testing.T) {
	c := node(t)
	imgs := testImages(t, c)
	cs := clientset(t, c)
	ctx := context.Background()
	ns := testNamespace(t, cs, "deploy")
	labels := map[string]string{"app": "web"}
	tmpl := shellPod("", imgs["busybox"].Ref, "sleep 3600")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl.Spec},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "deployment available", func() error {
		got, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got.Status.ReadyReplicas != 1 {
			return fmt.Errorf("ready replicas %d", got.Status.ReadyReplicas)
		}
		return nil
	})
	if err := cs.AppsV1().Deployments(ns).Delete(ctx, "web", metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "garbage collection of the ReplicaSet and pod", func() error {
		rs, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(rs.Items)+len(pods.Items) > 0 {
			return fmt.Errorf("%d ReplicaSets and %d pods remain", len(rs.Items), len(pods.Items))
		}
		return nil
	})
}
