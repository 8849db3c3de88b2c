package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"github.com/kvcsi/kvcsi/driver/tmpfs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func processRSSMiB(tb testing.TB, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatalf("read VmRSS: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb / 1024
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// BenchmarkDriverBinaryRSS1000Mounts runs the built driver against the real
// API server, publishes 1,000 volumes through its socket (each a tmpfs,
// a provider Mount and a pod status) and reports the driver process's RSS.
func BenchmarkDriverBinaryRSS1000Mounts(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: NodePublishVolume mounts a real tmpfs")
	}
	kube, ss := clientsB(b)
	c := controlPlaneB(b)
	ctx := context.Background()
	ns, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rss-"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	root := b.TempDir()
	provDir := filepath.Join(root, "providers")
	if err := os.Mkdir(provDir, 0o755); err != nil {
		b.Fatal(err)
	}
	providertest.Start(b, provDir, "azure", providertest.Files("v1", map[string]string{"s1": "v", "s2": "w"}))
	if _, err := ss.SecretProviderClasses(ns.Name).Create(ctx, &secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "spc"},
		Spec:       secretsstorev1.SecretProviderClassSpec{Provider: "azure"},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	d := startDriver(b, root, "rss-node", c.KubeconfigPath(), provDir)
	cc, err := grpc.NewClient("unix://"+d.sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Close()
	node := csi.NewNodeClient(cc)
	before := processRSSMiB(b, d.cmd.Process.Pid)
	var targets []string
	for i := 0; i < 1000; i++ {
		target := filepath.Join(root, "pods", fmt.Sprint(i), "mount")
		_, err := node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: fmt.Sprint("v", i), TargetPath: target, Readonly: true,
			VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}},
			VolumeContext: map[string]string{driver.AttrSecretProviderClass: "spc", driver.AttrPodName: fmt.Sprint("p", i),
				driver.AttrPodNamespace: ns.Name, driver.AttrPodUID: fmt.Sprint("00000000-0000-0000-0000-", 100000000000+i)},
		})
		if err != nil {
			b.Fatalf("publish %d: %v", i, err)
		}
		targets = append(targets, target)
	}
	after := processRSSMiB(b, d.cmd.Process.Pid)
	for _, t := range targets {
		_ = tmpfs.Unmount(t)
	}
	b.ReportMetric(before, "RSS-MiB-idle")
	b.ReportMetric(after, "RSS-MiB-1000-mounts")
}
