package csiplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient/spcclienttest"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"github.com/kvcsi/kvcsi/driver/tmpfs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: NodePublishVolume mounts a real tmpfs")
	}
}

const (
	secretValue = "s3cr3t-VALUE-never-log"
	tokenValue  = "eyJTOKEN-never-log"
	refSecret   = "client-secret-never-log"
)

// logSink collects every log line at every verbosity.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.buf.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

type env struct {
	client   csi.NodeClient
	ident    csi.IdentityClient
	provider *providertest.Provider
	metrics  *metrics.Recorder
	logs     *logSink
	hooks    *recordingHook
	root     string
}

type recordingHook struct {
	mu    sync.Mutex
	calls []driver.MountInfo
	err   error
}

func (h *recordingHook) Published(_ context.Context, m driver.MountInfo) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, m)
	return h.err
}

func newEnv(t *testing.T, opts ...func(*Config)) *env { return newEnvTB(t, opts...) }

func newEnvTB(t testing.TB, opts ...func(*Config)) *env {
	t.Helper()
	root := t.TempDir()
	// The provider socket lives in a short directory of its own: t.TempDir
	// names carry the test name, and a unix socket path is limited to 108 bytes.
	provDir, err := os.MkdirTemp("", "kvcsi-prov")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(provDir) })
	prov := providertest.Start(t, provDir, "fake", providertest.Files("v1", map[string]string{"secret1": secretValue}))
	spc := &secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "spc1", Namespace: "ns1"},
		Spec: secretsstorev1.SecretProviderClassSpec{
			Provider:   "fake",
			Parameters: map[string]string{"keyvaultName": "kv1", "csi.storage.k8s.io/pod.name": "overridden"},
		},
	}
	badProv := &secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "badprov", Namespace: "ns1"},
		Spec:       secretsstorev1.SecretProviderClassSpec{Provider: "../etc"},
	}
	missingProv := &secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "missingprov", Namespace: "ns1"},
		Spec:       secretsstorev1.SecretProviderClassSpec{Provider: "vault"},
	}
	forged := &secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "hostile", Namespace: "ns1"},
		Spec: secretsstorev1.SecretProviderClassSpec{
			Provider:   "fake",
			Parameters: map[string]string{"keyvaultName": "kv1", driver.AttrServiceAccountToken: forgedTokens, "csi.storage.k8s.io/anything": "x"},
		},
	}
	sc, _, err := spcclienttest.NewFake(spc, badProv, missingProv, forged)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := providerclient.New(providerclient.Config{Dirs: []string{filepath.Join(root, "additional"), provDir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	rec := metrics.New()
	logs := &logSink{}
	hooks := &recordingHook{}
	cfg := Config{
		DriverName: driver.Name, Version: "test", NodeID: "node1",
		SPCs: SPCsFromClient(sc), Refresher: &content.Refresher{Providers: pool},
		Hooks: hooks, Metrics: rec, Log: logs.logger(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("unix", filepath.Join(root, "csi.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, lis); close(done) }()
	cc, err := grpc.NewClient("unix://"+filepath.Join(root, "csi.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close(); cancel(); <-done })
	return &env{client: csi.NewNodeClient(cc), ident: csi.NewIdentityClient(cc), provider: prov, metrics: rec, logs: logs, hooks: hooks, root: root}
}

func (e *env) publishReq(target, spc string) *csi.NodePublishVolumeRequest {
	tokens, _ := json.Marshal(map[string]any{"api://AzureADTokenExchange": map[string]string{"token": tokenValue, "expirationTimestamp": "2030-01-01T00:00:00Z"}})
	return &csi.NodePublishVolumeRequest{
		VolumeId:   "csi-abc",
		TargetPath: target,
		Readonly:   true,
		VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY},
		},
		VolumeContext: map[string]string{
			driver.AttrSecretProviderClass: spc,
			driver.AttrPodName:             "pod1",
			driver.AttrPodNamespace:        "ns1",
			driver.AttrPodUID:              "uid-1",
			driver.AttrServiceAccountName:  "default",
			driver.AttrEphemeral:           "true",
		},
		Secrets: map[string]string{"clientid": "id", "clientsecret": refSecret, driver.AttrServiceAccountToken: string(tokens)},
	}
}

func TestNodePublishMountsTmpfsCallsProviderAndRunsHooks(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	ctx := context.Background()
	target := filepath.Join(e.root, "pods", "uid-1", "volumes", "mnt")
	if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmpfs.Unmount(target) })

	if mp, _ := tmpfs.IsMountPoint(target); !mp {
		t.Fatal("target is not a mount point")
	}
	if b, err := os.ReadFile(filepath.Join(target, "secret1")); err != nil || string(b) != secretValue {
		t.Fatalf("secret1 = %q, %v", b, err)
	}

	reqs := e.provider.Requests()
	if len(reqs) != 1 {
		t.Fatalf("provider got %d Mount calls", len(reqs))
	}
	var attrs, secrets map[string]string
	if err := json.Unmarshal([]byte(reqs[0].Attributes), &attrs); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(reqs[0].Secrets), &secrets); err != nil {
		t.Fatal(err)
	}
	if attrs["keyvaultName"] != "kv1" || attrs[driver.AttrPodName] != "pod1" || attrs[driver.AttrPodUID] != "uid-1" ||
		!strings.Contains(attrs[driver.AttrServiceAccountToken], tokenValue) || attrs[driver.AttrSecretProviderClass] != "spc1" {
		t.Fatalf("attributes %v: want SPC parameters overridden by the volume context, and the tokens", attrs)
	}
	if secrets["clientsecret"] != refSecret || secrets[driver.AttrServiceAccountToken] != "" {
		t.Fatalf("secrets %v: want nodePublishSecretRef data without tokens", sortedKeysOf(secrets))
	}
	if reqs[0].Permission != "420" || reqs[0].TargetPath != target {
		t.Fatalf("permission %q target %q", reqs[0].Permission, reqs[0].TargetPath)
	}

	if len(e.hooks.calls) != 1 {
		t.Fatalf("hooks called %d times", len(e.hooks.calls))
	}
	m := e.hooks.calls[0]
	if m.PodName != "pod1" || m.PodNamespace != "ns1" || m.PodUID != "uid-1" || m.NodeName != "node1" || m.Provider != "fake" ||
		m.TargetPath != target || m.SecretProviderClass.Name != "spc1" || len(m.Objects) != 1 || m.Objects[0].Version != "v1" ||
		len(m.Files) != 1 || m.Files[0] != "secret1" {
		t.Fatalf("MountInfo %+v", m)
	}
	assertCounter(t, e.metrics, metrics.NodePublish, 1)

	// Republish (kubelet requiresRepublish): refreshed content, same mount.
	e.provider.SetMount(providertest.Files("v2", map[string]string{"secret1": "rotated"}))
	if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "secret1")); string(b) != "rotated" {
		t.Fatalf("after republish secret1 = %q", b)
	}

	// Republish with a failing provider: error, old content kept, still mounted.
	e.provider.SetMount(func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
		return &providerv1alpha1.MountResponse{Error: &providerv1alpha1.Error{Code: "GRPCProviderError"}}, nil
	})
	_, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1"))
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "GRPCProviderError") {
		t.Fatalf("failing republish: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "secret1")); string(b) != "rotated" {
		t.Fatalf("old content lost: %q", b)
	}
	if mp, _ := tmpfs.IsMountPoint(target); !mp {
		t.Fatal("failing republish unmounted the live volume")
	}
	assertCounter(t, e.metrics, metrics.NodePublishError, 1)

	// Unpublish twice: unmounted, removed, idempotent.
	for i := 0; i < 2; i++ {
		if _, err := e.client.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-abc", TargetPath: target}); err != nil {
			t.Fatalf("unpublish %d: %v", i, err)
		}
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Fatalf("target still exists: %v", err)
	}
	assertCounter(t, e.metrics, metrics.NodeUnpublish, 2)

	// No secret value or token byte in any log line at -v=10.
	logs := e.logs.String()
	for _, s := range []string{secretValue, "rotated", tokenValue, refSecret} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain secret %q:\n%s", s, logs)
		}
	}
	if !strings.Contains(logs, "NodePublishVolume") || !strings.Contains(logs, redacted) {
		t.Errorf("logs lack the sanitized request:\n%s", logs)
	}
}

func sortedKeysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func assertCounter(t *testing.T, r *metrics.Recorder, name string, want float64) {
	t.Helper()
	mfs, err := r.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				got += m.GetCounter().GetValue()
			}
		}
	}
	if got != want {
		t.Fatalf("%s = %v, want %v", name, got, want)
	}
}

func TestNodePublishFailuresLeaveNoMount(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name     string
		spc      string
		mount    providertest.MountFunc
		code     codes.Code
		contains string
	}{
		{name: "spc not found", spc: "nope", code: codes.NotFound, contains: "failed to get secretproviderclass ns1/nope, error:"},
		{name: "invalid provider name", spc: "badprov", code: codes.InvalidArgument, contains: `provider name "../etc" is invalid`},
		{name: "provider not installed", spc: "missingprov", code: codes.FailedPrecondition, contains: `no socket for provider "vault"`},
		{name: "provider error", spc: "spc1", code: codes.Internal, contains: "AccessDenied",
			mount: func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
				return &providerv1alpha1.MountResponse{Error: &providerv1alpha1.Error{Code: "AccessDenied"}}, nil
			}},
		{name: "provider grpc error", spc: "spc1", code: codes.InvalidArgument, contains: "keyvaultName is not provided",
			mount: func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
				return nil, status.Error(codes.InvalidArgument, "keyvaultName is not provided")
			}},
		{name: "no object versions", spc: "spc1", code: codes.Internal, contains: "no object versions",
			mount: func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
				return &providerv1alpha1.MountResponse{Files: []*providerv1alpha1.File{{Path: "a", Contents: []byte("x")}}}, nil
			}},
		{name: "path escapes the mount", spc: "spc1", code: codes.Internal, contains: "must not contain '..'",
			mount: func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
				return &providerv1alpha1.MountResponse{
					ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "a", Version: "1"}},
					Files:         []*providerv1alpha1.File{{Path: "a/../../../evil", Contents: []byte("x")}},
				}, nil
			}},
		{name: "absolute path", spc: "spc1", code: codes.Internal, contains: "absolute",
			mount: func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
				return &providerv1alpha1.MountResponse{
					ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "a", Version: "1"}},
					Files:         []*providerv1alpha1.File{{Path: "/etc/evil", Contents: []byte("x")}},
				}, nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.mount != nil {
				e.provider.SetMount(tt.mount)
			}
			target := filepath.Join(e.root, "target")
			_, err := e.client.NodePublishVolume(context.Background(), e.publishReq(target, tt.spc))
			t.Cleanup(func() { _ = tmpfs.Unmount(target) })
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.code, tt.contains)
			}
			if mp, _ := tmpfs.IsMountPoint(target); mp {
				t.Fatal("a failed publish left a mount")
			}
			if len(e.hooks.calls) != 0 {
				t.Fatal("hooks ran for a failed publish")
			}
			if _, err := os.Stat(filepath.Join(e.root, "evil")); err == nil {
				t.Fatal("a file was written outside the target")
			}
			assertCounter(t, e.metrics, metrics.NodePublishError, 1)
		})
	}
}

func TestNodePublishValidation(t *testing.T) {
	e := newEnv(t)
	base := func() *csi.NodePublishVolumeRequest { return e.publishReq(filepath.Join(e.root, "t"), "spc1") }
	tests := []struct {
		name     string
		mutate   func(r *csi.NodePublishVolumeRequest)
		contains string
	}{
		{"no volume id", func(r *csi.NodePublishVolumeRequest) { r.VolumeId = "" }, "volume_id"},
		{"no target", func(r *csi.NodePublishVolumeRequest) { r.TargetPath = "" }, "target_path"},
		{"no capability", func(r *csi.NodePublishVolumeRequest) { r.VolumeCapability = nil }, "volume_capability"},
		{"no context", func(r *csi.NodePublishVolumeRequest) { r.VolumeContext = nil }, "volumeAttributes.secretProviderClass"},
		{"not read-only", func(r *csi.NodePublishVolumeRequest) { r.Readonly = false }, "readOnly: true"},
		{"no spc", func(r *csi.NodePublishVolumeRequest) { delete(r.VolumeContext, driver.AttrSecretProviderClass) }, "secretProviderClass is missing"},
		{"no pod info", func(r *csi.NodePublishVolumeRequest) { delete(r.VolumeContext, driver.AttrPodName) }, "podInfoOnMount"},
		{"bad tokens", func(r *csi.NodePublishVolumeRequest) { r.Secrets[driver.AttrServiceAccountToken] = "{" + tokenValue }, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.mutate(r)
			_, err := e.client.NodePublishVolume(context.Background(), r)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %v, want InvalidArgument containing %q", err, tt.contains)
			}
			if strings.Contains(err.Error(), tokenValue) {
				t.Fatal("error message contains the token")
			}
		})
	}
	if len(e.provider.Requests()) != 0 {
		t.Fatal("provider was called for invalid requests")
	}
	if strings.Contains(e.logs.String(), tokenValue) || strings.Contains(e.logs.String(), refSecret) {
		t.Fatal("logs contain a token or secret")
	}
}

func TestIdentityAndNodeInfo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	info, err := e.ident.GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil || info.Name != "secrets-store.csi.k8s.io" || info.VendorVersion != "test" {
		t.Fatalf("GetPluginInfo = %v, %v", info, err)
	}
	caps, err := e.ident.GetPluginCapabilities(ctx, &csi.GetPluginCapabilitiesRequest{})
	if err != nil || len(caps.Capabilities) != 0 {
		t.Fatalf("GetPluginCapabilities = %v, %v (no controller service, nothing to advertise)", caps, err)
	}
	probe, err := e.ident.Probe(ctx, &csi.ProbeRequest{})
	if err != nil || !probe.GetReady().GetValue() {
		t.Fatalf("Probe = %v, %v", probe, err)
	}
	ni, err := e.client.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil || ni.NodeId != "node1" {
		t.Fatalf("NodeGetInfo = %v, %v", ni, err)
	}
	nc, err := e.client.NodeGetCapabilities(ctx, &csi.NodeGetCapabilitiesRequest{})
	if err != nil || len(nc.Capabilities) != 0 {
		t.Fatalf("NodeGetCapabilities = %v, %v", nc, err)
	}
	_, err = e.client.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "x", TargetPath: filepath.Join(e.root, "never-mounted")})
	if err != nil {
		t.Fatalf("unpublish of an absent target: %v", err)
	}
}

func TestParseEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"unix:///csi/csi.sock": "/csi/csi.sock",
		"unix://tmp/csi.sock":  "tmp/csi.sock",
	} {
		if got, err := ParseEndpoint(in); err != nil || got != want {
			t.Errorf("ParseEndpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"tcp://1.2.3.4:5", "/csi.sock", "unix://"} {
		if _, err := ParseEndpoint(in); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", in)
		}
	}
}

func TestHookErrorFailsPublish(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.hooks.err = errors.New("pod status: conflict")
	target := filepath.Join(e.root, "target")
	_, err := e.client.NodePublishVolume(context.Background(), e.publishReq(target, "spc1"))
	t.Cleanup(func() { _ = tmpfs.Unmount(target) })
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "pod status: conflict") {
		t.Fatalf("err = %v", err)
	}
}

// TestRepublishHonoursInterval: kubelet republishes about every minute, but
// content changes no more often than the rotation poll interval (and never
// with rotation off), as the documentation's poll interval promises; a new
// publish after unpublish always fetches.
func TestRepublishHonoursInterval(t *testing.T) {
	needRoot(t)
	e := newEnv(t, func(c *Config) { c.RepublishInterval = time.Hour })
	ctx := context.Background()
	target := filepath.Join(e.root, "pods", "uid-1", "volumes", "mnt")
	t.Cleanup(func() { _ = tmpfs.Unmount(target) })
	e.provider.SetMount(providertest.Files("v1", map[string]string{"secret1": "first"}))
	if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
		t.Fatal(err)
	}
	e.provider.SetMount(providertest.Files("v2", map[string]string{"secret1": "second"}))
	if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "secret1")); string(b) != "first" {
		t.Fatalf("a republish within the interval changed the content to %q", b)
	}
	if _, err := e.client.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-abc", TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "secret1")); string(b) != "second" {
		t.Fatalf("a publish after unpublish served %q, want the provider's current content", b)
	}
	if _, err := e.client.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-abc", TargetPath: target}); err != nil {
		t.Fatal(err)
	}
}

// forgedTokens is what an attacker puts in a SecretProviderClass or a pod's
// volumeAttributes to present another workload's identity.
const forgedTokens = `{"api://AzureADTokenExchange":{"token":"forged.victim.token","expirationTimestamp":"2030-01-01T00:00:00Z"}}`

// TestReservedKeysFromUsersAreDropped: no csi.storage.k8s.io/ key of a
// SecretProviderClass's parameters or of a pod's volumeAttributes reaches
// the provider; kubelet's own keys do, and every dropped key gives a Warning
// event naming it (never its value), a log line and a counter.
func TestReservedKeysFromUsersAreDropped(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name        string
		spc         string
		kubeletSets bool
		mutate      func(r *csi.NodePublishVolumeRequest)
		wantTokens  string // substring the provider must see in the tokens; "" = no tokens key at all
		wantDropped []string
	}{
		{name: "parameters", spc: "hostile", wantTokens: tokenValue,
			wantDropped: []string{"csi.storage.k8s.io/anything", driver.AttrServiceAccountToken}},
		{name: "volumeAttributes without tokenRequests", spc: "spc1", mutate: func(r *csi.NodePublishVolumeRequest) {
			delete(r.Secrets, driver.AttrServiceAccountToken)
			r.VolumeContext[driver.AttrServiceAccountToken] = forgedTokens
			r.VolumeContext["csi.storage.k8s.io/other"] = "x"
		}, wantDropped: []string{"csi.storage.k8s.io/pod.name", "csi.storage.k8s.io/other", driver.AttrServiceAccountToken}},
		{name: "volume-context tokens of kubelet (tokenRequests set)", spc: "spc1", kubeletSets: true, mutate: func(r *csi.NodePublishVolumeRequest) {
			r.VolumeContext[driver.AttrServiceAccountToken] = r.Secrets[driver.AttrServiceAccountToken]
			delete(r.Secrets, driver.AttrServiceAccountToken)
		}, wantTokens: tokenValue, wantDropped: []string{"csi.storage.k8s.io/pod.name"}},
		{name: "tokens in secrets beat volumeAttributes", spc: "spc1", kubeletSets: true, mutate: func(r *csi.NodePublishVolumeRequest) {
			r.VolumeContext[driver.AttrServiceAccountToken] = forgedTokens
		}, wantTokens: tokenValue, wantDropped: []string{"csi.storage.k8s.io/pod.name", driver.AttrServiceAccountToken}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recorder := record.NewFakeRecorder(20)
			e := newEnv(t, func(c *Config) {
				c.Recorder = recorder
				c.KubeletSetsTokens = func(context.Context) (bool, error) { return tt.kubeletSets, nil }
			})
			req := e.publishReq(filepath.Join(e.root, "pods", "uid-1", "volumes", "mnt"), tt.spc)
			if tt.mutate != nil {
				tt.mutate(req)
			}
			if _, err := e.client.NodePublishVolume(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tmpfs.Unmount(req.TargetPath) })
			reqs := e.provider.Requests()
			var attrs map[string]string
			if err := json.Unmarshal([]byte(reqs[len(reqs)-1].Attributes), &attrs); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(reqs[len(reqs)-1].Attributes, "forged.victim") {
				t.Errorf("the provider saw the forged tokens: %v", sortedKeysOf(attrs))
			}
			if tok, ok := attrs[driver.AttrServiceAccountToken]; (tt.wantTokens == "") == ok || !strings.Contains(tok, tt.wantTokens) {
				t.Errorf("tokens present=%v, want %q", ok, tt.wantTokens)
			}
			if attrs[driver.AttrPodName] != "pod1" || attrs["csi.storage.k8s.io/anything"] != "" || attrs["csi.storage.k8s.io/other"] != "" {
				t.Errorf("attributes %v", sortedKeysOf(attrs))
			}
			close(recorder.Events)
			var got []string
			for ev := range recorder.Events {
				if strings.Contains(ev, "forged.victim") || strings.Contains(ev, tokenValue) {
					t.Errorf("event carries a token: %s", ev)
				}
				if !strings.HasPrefix(ev, "Warning "+ReasonReservedAttributeDropped+" ") {
					t.Errorf("event %q", ev)
				}
				got = append(got, ev)
			}
			if len(got) != len(tt.wantDropped) {
				t.Fatalf("events %q, want one per %v", got, tt.wantDropped)
			}
			for i, k := range tt.wantDropped {
				if !strings.Contains(got[i], "ignored "+k+" in ") {
					t.Errorf("event %d = %q, want it to name %s", i, got[i], k)
				}
			}
			if strings.Contains(e.logs.String(), "forged.victim") {
				t.Error("a log line carries the forged token")
			}
			assertCounter(t, e.metrics, metrics.ReservedAttributeDropped, float64(len(tt.wantDropped)))
		})
	}
}

func TestTokenRequestsFromCSIDriver(t *testing.T) {
	ctx := context.Background()
	with := &storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: driver.Name}, Spec: storagev1.CSIDriverSpec{TokenRequests: []storagev1.TokenRequest{{Audience: "a"}}}}
	for _, tt := range []struct {
		name string
		objs []runtime.Object
		want bool
	}{{"tokenRequests", []runtime.Object{with}, true}, {"none", []runtime.Object{&storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: driver.Name}}}, false}, {"no CSIDriver", nil, false}} {
		kube := kubefake.NewClientset(tt.objs...)
		f := TokenRequestsFromCSIDriver(kube, driver.Name, time.Hour)
		for i := 0; i < 3; i++ {
			if got, err := f(ctx); err != nil || got != tt.want {
				t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
			}
		}
		if n := len(kube.Actions()); n != 1 {
			t.Errorf("%s: %d reads of the CSIDriver in three calls, want 1 (cached)", tt.name, n)
		}
	}
}

// TestMountWarningsBecomeEvents: each provider warning (MountResponse.warnings)
// and each mode the driver narrowed gives a SecretProviderClassWarning event
// on the pod, a log line and a counter; the mount succeeds.
func TestMountWarningsBecomeEvents(t *testing.T) {
	needRoot(t)
	recorder := record.NewFakeRecorder(20)
	e := newEnv(t, func(c *Config) { c.Recorder = recorder })
	e.provider.SetMount(func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
		return &providerv1alpha1.MountResponse{
			ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "secret/s", Version: "1"}},
			Files:         []*providerv1alpha1.File{{Path: "s", Mode: 0o4755, Contents: []byte(secretValue)}},
			Warnings:      []string{`objects[0] "cert1": objectFormat applies to objectType secret; ignored`},
		}, nil
	})
	req := e.publishReq(filepath.Join(e.root, "pods", "uid-1", "volumes", "mnt"), "spc1")
	if _, err := e.client.NodePublishVolume(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmpfs.Unmount(req.TargetPath) })
	close(recorder.Events)
	var warnings []string
	for ev := range recorder.Events {
		if strings.HasPrefix(ev, "Warning "+ReasonSecretProviderClassWarning+" ") {
			warnings = append(warnings, ev)
		}
		if strings.Contains(ev, secretValue) {
			t.Errorf("event carries the secret: %s", ev)
		}
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "SecretProviderClass spc1: objects[0] \"cert1\": objectFormat") || !strings.Contains(warnings[1], `file "s": mode 04755`) {
		t.Fatalf("warning events %q", warnings)
	}
	assertCounter(t, e.metrics, metrics.ProviderWarnings, 2)
	if !strings.Contains(e.logs.String(), "SecretProviderClass warning") {
		t.Error("no log line for the warnings")
	}
}
