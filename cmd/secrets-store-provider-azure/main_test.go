package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
)

// kvcsiFlags are the provider's own flags (docs/provider.md#flags); every
// other flag must be upstream's.
var kvcsiFlags = map[string]string{"ca-bundle": "", "cache-ttl": "10s", "nmi-endpoint": "http://localhost:2579", "strict": "false"}

// TestFlagDefaultsAreUpstreams checks the flag set against upstream
// provider v1.8.2's full flag list, recorded as data from upstream's source
// (testdata/upstream-flags.txt): every upstream flag exists here with
// upstream's default, and every other flag is a documented kvcsi addition.
func TestFlagDefaultsAreUpstreams(t *testing.T) {
	raw, err := os.ReadFile("testdata/upstream-flags.txt")
	if err != nil {
		t.Fatal(err)
	}
	upstream := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, def, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		upstream[name] = def
	}
	if len(upstream) < 29 {
		t.Fatalf("only %d upstream flags recorded", len(upstream))
	}
	fs := newFlagSet(&flags{})
	for name, def := range upstream {
		fl := fs.Lookup(name)
		if fl == nil {
			t.Errorf("upstream flag --%s is not accepted (upstream manifests pass it; the binary would exit)", name)
			continue
		}
		if fl.DefValue != def {
			t.Errorf("--%s default %q, upstream's %q", name, fl.DefValue, def)
		}
	}
	fs.VisitAll(func(fl *flag.Flag) {
		if _, ok := upstream[fl.Name]; ok {
			return
		}
		def, ok := kvcsiFlags[fl.Name]
		if !ok {
			t.Errorf("--%s is neither upstream's nor a documented kvcsi flag", fl.Name)
		} else if fl.DefValue != def {
			t.Errorf("--%s default %q, want %q", fl.Name, fl.DefValue, def)
		}
	})
	if _, err := parseFlags(nil); err != nil {
		t.Fatalf("defaults do not parse: %v", err)
	}
}

// TestUpstreamFlagsAccepted: the flags upstream's chart and manifests pass
// start the provider; the ones without effect here say so.
func TestUpstreamFlagsAccepted(t *testing.T) {
	f, err := parseFlags([]string{"--enable-pprof", "--pprof-port=6061", "--metrics-backend=prometheus", "--custom-user-agent=my-agent/1.0",
		"--token-proxy-url=https://proxy.example", "--sni-name=a.ests.aks", "-v=2", "-logtostderr=false", "--log-format-json=true"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.enablePprof || f.pprofPort != 6061 || f.customUserAgent != "my-agent/1.0" || f.verbosity != 2 {
		t.Fatalf("parsed %+v", f)
	}
	w := strings.Join(ignoredFlagWarnings(f), "\n")
	for _, want := range []string{"--token-proxy-url is ignored: it configures AKS identity binding", "--sni-name is ignored", "-logtostderr=false is ignored"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %q", w, want)
		}
	}
	if got := ignoredFlagWarnings(&flags{klog: defaultsOf(t)}); len(got) != 0 {
		t.Errorf("defaults warn: %q", got)
	}
	if _, err := parseFlags([]string{"--metrics-backend=otlp"}); err == nil || !strings.Contains(err.Error(), "unsupported metrics backend") {
		t.Errorf("otlp backend: %v", err)
	}
}

func defaultsOf(t *testing.T) map[string]*string {
	f, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	return f.klog
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--healthz-port", "70000"}, "--healthz-port 70000 is not a port"},
		{[]string{"--cache-ttl", "-1s"}, "--cache-ttl -1s is negative"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--no-such-flag"}, "not defined"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.msg)
		}
	}
	f, err := parseFlags([]string{"--endpoint=unix:///provider/azure.sock", "--construct-pem-chain=false", "--write-cert-and-key-in-separate-files", "--ca-bundle=/ca.pem", "--cache-ttl=0"})
	if err != nil || f.constructPEMChain || !f.separateFiles || f.caBundle != "/ca.pem" || f.cacheTTL != 0 || f.endpoint != "unix:///provider/azure.sock" {
		t.Fatalf("parsed %+v, %v", f, err)
	}
}

func TestCABundleMustHoldCertificates(t *testing.T) {
	p := t.TempDir() + "/ca.pem"
	if err := writeFile(p, "not a certificate"); err != nil {
		t.Fatal(err)
	}
	err := realMain([]string{"--ca-bundle", p, "--endpoint", "unix://" + t.TempDir() + "/a.sock"})
	if err == nil || !strings.Contains(err.Error(), "--ca-bundle") {
		t.Fatalf("err = %v", err)
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }

// TestServeAndStopOnSIGTERM runs the binary's main in-process: it serves
// Version and health on the socket, and SIGTERM stops it gracefully and
// removes the socket.
func TestServeAndStopOnSIGTERM(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "azure.sock")
	// ctx is canceled when realMain returns, so a broken start fails the
	// calls below instead of hanging the test.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var result error
	exited := make(chan struct{})
	go func() {
		result = realMain([]string{"--endpoint", "unix://" + sock, "--healthz-port", "0", "--prometheus-port", "0"})
		close(exited)
		cancel()
	}()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// WaitForReady rides out the moments before the socket exists.
	v, err := v1alpha1.NewCSIDriverProviderClient(conn).Version(ctx, &v1alpha1.VersionRequest{Version: "v1alpha1"}, grpc.WaitForReady(true))
	if err != nil {
		<-exited
		t.Fatalf("Version: %v (realMain: %v)", err, result)
	}
	if v.RuntimeName != "secrets-store-csi-driver-provider-azure" {
		t.Fatalf("Version = %+v", v)
	}
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v", h, err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-exited
	if result != nil {
		t.Fatalf("realMain after SIGTERM: %v", result)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
}

// TestFlagsDocumented: docs/provider.md lists every flag (klog's as a group).
func TestFlagsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/provider.md")
	if err != nil {
		t.Fatal(err)
	}
	klog := map[string]bool{}
	for _, k := range klogFlags {
		klog[k.name] = true
	}
	newFlagSet(&flags{}).VisitAll(func(fl *flag.Flag) {
		if klog[fl.Name] {
			return
		}
		if !strings.Contains(string(doc), "`-"+fl.Name+"`") && !strings.Contains(string(doc), "`--"+fl.Name+"`") {
			t.Errorf("docs/provider.md does not list --%s", fl.Name)
		}
	})
	if !strings.Contains(string(doc), "klog's") {
		t.Error("docs/provider.md does not mention klog's flags")
	}
}
