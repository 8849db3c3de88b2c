package sanity

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient/spcclienttest"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/csiplugin"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// skipped lists the csi-sanity specs that cannot apply to this driver,
// each with the reason. Everything else runs.
var skipped = map[string]string{
	// The driver has no Controller service (volumes are ephemeral inline
	// volumes that exist only on the node), and says so in
	// GetPluginCapabilities; these suites call Controller RPCs directly.
	`\[Controller Server\]`:                    "no Controller service: ephemeral inline volumes only",
	`\[GroupController Server\]`:               "no GroupController service",
	`\[GroupController VolumeGroupSnapshots\]`: "no GroupController service",
	// This Node spec provisions its volume with CreateVolume first; the
	// same behaviour (publish creates the target, unpublish removes it) is
	// covered for ephemeral volumes by TestEphemeralPublishUnpublish below.
	`should remove target path`: "needs CreateVolume (Controller service)",
}

// startDriver serves the real node plugin on a unix socket, with a fake
// SecretProviderClass store and a fake provider on its own unix socket.
func startDriver(t *testing.T) (socket, root string) {
	t.Helper()
	root, err := os.MkdirTemp("", "kvcsi-sanity-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	provDir := filepath.Join(root, "providers")
	if err := os.Mkdir(provDir, 0o755); err != nil {
		t.Fatal(err)
	}
	providertest.Start(t, provDir, "fake", providertest.Files("1", map[string]string{"username": "admin"}))
	spcs, _, err := spcclienttest.NewFake(&secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "sanity-spc", Namespace: "default"},
		Spec:       secretsstorev1.SecretProviderClassSpec{Provider: "fake"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := providerclient.New(providerclient.Config{Dirs: []string{provDir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	srv, err := csiplugin.New(csiplugin.Config{
		DriverName: driver.Name, Version: "sanity", NodeID: "sanity-node",
		SPCs: csiplugin.SPCsFromClient(spcs), Refresher: &content.Refresher{Providers: pool},
		Metrics: metrics.New(), Log: logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(root, "csi.sock")
	lis, err := csiplugin.Listen("unix://" + socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return socket, root
}

func TestSanity(t *testing.T) {
	socket, root := startDriver(t)
	cfg := sanity.NewTestConfig()
	cfg.Address = socket
	cfg.TargetPath = filepath.Join(root, "target")
	cfg.StagingPath = filepath.Join(root, "staging")
	cfg.IdempotentCount = 2
	cfg.TestVolumeAccessType = "mount"

	sanity.GinkgoTest(&cfg)
	gomega.RegisterFailHandler(ginkgo.Fail)
	suite, reporter := ginkgo.GinkgoConfiguration()
	for pattern := range skipped {
		suite.SkipStrings = append(suite.SkipStrings, pattern)
	}
	ginkgo.RunSpecs(t, "secrets-store-csi-driver sanity", suite, reporter)
}

// TestEphemeralPublishUnpublish is the ephemeral-volume form of csi-sanity's
// "should remove target path": kubelet's inline volume calls, against the
// same socket, with a real tmpfs.
func TestEphemeralPublishUnpublish(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: NodePublishVolume mounts a real tmpfs")
	}
	socket, root := startDriver(t)
	cc, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	node := csi.NewNodeClient(cc)
	target := filepath.Join(root, "pods", "uid", "volumes", "kubernetes.io~csi", "secrets-store-inline", "mount")
	req := &csi.NodePublishVolumeRequest{
		VolumeId:   "csi-ephemeral",
		TargetPath: target,
		Readonly:   true,
		VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY},
		},
		VolumeContext: map[string]string{
			driver.AttrSecretProviderClass: "sanity-spc",
			driver.AttrPodName:             "p", driver.AttrPodNamespace: "default", driver.AttrPodUID: "uid",
			driver.AttrEphemeral: "true",
		},
	}
	ctx := context.Background()
	for i := 0; i < 2; i++ { // idempotent
		if _, err := node.NodePublishVolume(ctx, req); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(target, "username")); err != nil || string(b) != "admin" {
		t.Fatalf("username = %q, %v", b, err)
	}
	for i := 0; i < 2; i++ { // idempotent
		if _, err := node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-ephemeral", TargetPath: target}); err != nil {
			t.Fatalf("unpublish %d: %v", i, err)
		}
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Fatalf("target not removed: %v", err)
	}
}
