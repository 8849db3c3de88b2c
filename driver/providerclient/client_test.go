package providerclient

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"azure", "vault", "gcp", "aws", "my_provider-2", strings.Repeat("a", 30)} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../azure", "a/b", "azure.sock", strings.Repeat("a", 31), "az ure"} {
		err := ValidateName(bad)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "spec.provider") {
			t.Errorf("ValidateName(%q) = %v, want InvalidArgument naming spec.provider", bad, err)
		}
	}
}

func TestSocketLookupPrefersAdditionalPaths(t *testing.T) {
	root := t.TempDir()
	add, main := filepath.Join(root, "additional"), filepath.Join(root, "main")
	for _, d := range []string{add, main} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	providertest.Start(t, main, "azure", providertest.Files("1", map[string]string{"a": "x"}))
	p, err := New(Config{Dirs: []string{add, main}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got, err := p.SocketPath("azure"); err != nil || got != filepath.Join(main, "azure.sock") {
		t.Fatalf("SocketPath = %q, %v", got, err)
	}
	providertest.Start(t, add, "azure", providertest.Files("1", map[string]string{"a": "x"}))
	if got, err := p.SocketPath("azure"); err != nil || got != filepath.Join(add, "azure.sock") {
		t.Fatalf("SocketPath = %q, %v; want the additional path first", got, err)
	}
	_, err = p.SocketPath("vault")
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), filepath.Join(add, "vault.sock")) ||
		!strings.Contains(err.Error(), filepath.Join(main, "vault.sock")) {
		t.Fatalf("missing provider: %v; want FailedPrecondition listing every path tried", err)
	}
}

func TestVersionHealthAndMaxMessageSize(t *testing.T) {
	dir := t.TempDir()
	big := strings.Repeat("x", 64*1024)
	providertest.Start(t, dir, "fake", providertest.Files("1", map[string]string{"big": big}))
	p, err := New(Config{Dirs: []string{dir}, MaxRecvMsgSize: 16 * 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	v, err := p.Version(ctx, "fake")
	if err != nil || v.RuntimeName != "fake" {
		t.Fatalf("Version = %v, %v", v, err)
	}
	if got := p.Providers(); len(got) != 1 || got[0] != "fake" {
		t.Fatalf("Providers = %v", got)
	}
	if failed := p.CheckHealth(ctx, 5*time.Second); len(failed) != 0 {
		t.Fatalf("CheckHealth = %v", failed)
	}
	c, err := p.Client("fake")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Mount(ctx, &providerv1alpha1.MountRequest{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("64 KiB response with a 16 KiB limit: %v, want ResourceExhausted", err)
	}
}

func TestNewNeedsADirectory(t *testing.T) {
	if _, err := New(Config{}); err == nil || !strings.Contains(err.Error(), "--provider-volume") {
		t.Fatalf("New(Config{}) = %v", err)
	}
}
