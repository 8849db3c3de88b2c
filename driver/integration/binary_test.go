package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"github.com/kvcsi/kvcsi/driver/tmpfs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// driverProcess is the built driver running against the control plane.
type driverProcess struct {
	sock, metricsAddr string
	cmd               *exec.Cmd
	exited            chan error
	logFile           *os.File
}

// startDriver builds the driver binary into root, runs it (rotation and the
// provider health check on) and waits for its CSI socket. The process is
// killed when the test ends unless the test stopped it.
func startDriver(tb testing.TB, root, node, kubeconfig, provDir string) *driverProcess {
	tb.Helper()
	bin := filepath.Join(root, "secrets-store-csi-driver")
	build := exec.Command("go", "build", "-o", bin, "github.com/kvcsi/kvcsi/cmd/secrets-store-csi-driver")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build the driver: %v\n%s", err, out)
	}
	d := &driverProcess{sock: filepath.Join(root, "csi", "csi.sock"), metricsAddr: freePort(tb), exited: make(chan error, 1)}
	var err error
	if d.logFile, err = os.Create(filepath.Join(root, "driver.log")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.logFile.Close() })
	d.cmd = exec.Command(bin,
		"--endpoint=unix://"+d.sock, "--nodeid="+node, "--kubeconfig="+kubeconfig,
		"--provider-volume="+provDir, "--additional-provider-volume-paths=",
		"--metrics-addr="+d.metricsAddr, "--enable-secret-rotation", "--rotation-poll-interval=1h",
		"--provider-health-check", "-v=5")
	d.cmd.Stdout, d.cmd.Stderr = d.logFile, d.logFile
	if err := d.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	tb.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		_, err := os.Stat(d.sock)
		return err == nil, nil
	}); err != nil {
		b, _ := os.ReadFile(d.logFile.Name())
		tb.Fatalf("driver socket never appeared:\n%s", b)
	}
	return d
}

// TestDriverBinary runs the built secrets-store-csi-driver against the real
// API server with rotation on, publishes a volume through its CSI socket,
// and reads its metrics endpoint; then SIGTERM stops it cleanly.
func TestDriverBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: NodePublishVolume mounts a real tmpfs")
	}
	kube, ss := clients(t)
	c := controlPlaneB(t)
	ns := namespace(t, kube)
	ctx := context.Background()
	const node = "bin-node"

	root := t.TempDir()
	provDir := filepath.Join(root, "providers")
	if err := os.Mkdir(provDir, 0o755); err != nil {
		t.Fatal(err)
	}
	providertest.Start(t, provDir, "azure", providertest.Files("v1", map[string]string{"secretalias": "bin-secret-value-0x5e"}))

	if _, err := ss.SecretProviderClasses(ns).Create(ctx, &secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "spc"},
		Spec:       secretsstorev1.SecretProviderClassSpec{Provider: "azure", Parameters: map[string]string{"keyvaultName": "kv"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := startDriver(t, root, node, c.KubeconfigPath(), provDir)
	sock, metricsAddr, cmd, exited, logFile := d.sock, d.metricsAddr, d.cmd, d.exited, d.logFile

	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	target := filepath.Join(root, "pods", string(pod.UID), "mount")
	_, err = csi.NewNodeClient(cc).NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId: "v", TargetPath: target, Readonly: true,
		VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}},
		VolumeContext: map[string]string{driver.AttrSecretProviderClass: "spc", driver.AttrPodName: "p",
			driver.AttrPodNamespace: ns, driver.AttrPodUID: string(pod.UID)},
		Secrets: map[string]string{"clientsecret": "never-logged-secret"},
	})
	if err != nil {
		b, _ := os.ReadFile(logFile.Name())
		t.Fatalf("publish: %v\n%s", err, b)
	}
	defer tmpfs.Unmount(target)
	if b, err := os.ReadFile(filepath.Join(target, "secretalias")); err != nil || string(b) != "bin-secret-value-0x5e" {
		t.Fatalf("mounted file %q %v", b, err)
	}
	if _, err := ss.PodStatuses(ns).Get(ctx, "p-"+ns+"-spc", metav1.GetOptions{}); err != nil {
		t.Fatalf("pod status written by the binary: %v", err)
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `total_node_publish{os_type="linux",provider="azure"} 1`) {
		t.Fatalf("metrics lack the publish:\n%s", body)
	}
	if resp, err := http.Get("http://" + metricsAddr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		b, _ := os.ReadFile(logFile.Name())
		t.Fatalf("driver exit after SIGTERM: %v\n%s", err, b)
	}
	logs, _ := os.ReadFile(logFile.Name())
	for _, s := range []string{"never-logged-secret", "bin-secret-value-0x5e"} {
		if strings.Contains(string(logs), s) {
			t.Errorf("driver log contains %q", s)
		}
	}
}
