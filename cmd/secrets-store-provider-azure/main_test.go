package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
)

func TestFlagDefaultsAreUpstreams(t *testing.T) {
	f, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := flags{
		endpoint: "unix:///tmp/azure.sock", constructPEMChain: true, healthzPort: 8989, healthzPath: "/healthz",
		healthzTimeout: 5 * time.Second, prometheusPort: 8898, cloudName: "AzurePublicCloud",
		cacheTTL: 10 * time.Second, nmiEndpoint: "http://localhost:2579",
	}
	if *f != want {
		t.Fatalf("defaults = %+v\nwant       %+v", *f, want)
	}
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
	if v.RuntimeName != "secrets-store-provider-azure" {
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
