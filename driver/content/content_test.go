package content

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/atomicwriter"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func setup(t *testing.T, f providertest.MountFunc) (*Refresher, *providertest.Provider, string) {
	t.Helper()
	dir := t.TempDir()
	prov := providertest.Start(t, dir, "fake", f)
	pool, err := providerclient.New(providerclient.Config{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	target := filepath.Join(t.TempDir(), "target")
	if err := os.Mkdir(target, 0o750); err != nil {
		t.Fatal(err)
	}
	return &Refresher{Providers: pool}, prov, target
}

func TestRefreshWritesSendsVersionsAndSkipsUnchanged(t *testing.T) {
	r, prov, target := setup(t, func(_ context.Context, req *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
		return &providerv1alpha1.MountResponse{
			ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "z", Version: "2"}, {Id: "a", Version: "1"}},
			Files: []*providerv1alpha1.File{
				{Path: "a", Mode: 0o600, Contents: []byte("A")},
				{Path: "z", Contents: []byte("Z")}, // no mode: default 0644
			},
		}, nil
	})
	ctx := context.Background()
	req := Request{Provider: "fake", Attributes: map[string]string{"k": "v"}, TargetPath: target}
	res, err := r.Refresh(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || len(res.Objects) != 2 || res.Objects[0].ID != "a" || res.Objects[1].ID != "z" ||
		strings.Join(res.Files, ",") != "a,z" {
		t.Fatalf("result %+v", res)
	}
	st, _ := os.Stat(filepath.Join(target, "z"))
	if st.Mode().Perm() != 0o644 {
		t.Fatalf("default mode %v", st.Mode().Perm())
	}
	got := prov.Requests()[0]
	var secrets map[string]string
	if err := json.Unmarshal([]byte(got.Secrets), &secrets); err != nil || len(secrets) != 0 {
		t.Fatalf("secrets %q: want {} when there is no nodePublishSecretRef", got.Secrets)
	}
	if got.Permission != "420" || got.Attributes != `{"k":"v"}` {
		t.Fatalf("request %+v", got)
	}

	ts, _ := os.Readlink(filepath.Join(target, atomicwriter.DataDirName))
	req.CurrentObjectVersions = res.Objects
	res, err = r.Refresh(ctx, req)
	if err != nil || res.Changed {
		t.Fatalf("second refresh: %+v %v; want unchanged", res, err)
	}
	if ts2, _ := os.Readlink(filepath.Join(target, atomicwriter.DataDirName)); ts2 != ts {
		t.Fatal("an unchanged refresh rewrote the content")
	}
	if cv := prov.Requests()[1].CurrentObjectVersion; len(cv) != 2 || cv[0].Id != "a" || cv[0].Version != "1" {
		t.Fatalf("current_object_version %v", cv)
	}
}

func TestRefreshLegacyProviderWritesItself(t *testing.T) {
	r, _, target := setup(t, func(_ context.Context, req *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
		if err := os.WriteFile(filepath.Join(req.TargetPath, "legacy"), []byte("x"), 0o644); err != nil {
			return nil, err
		}
		return &providerv1alpha1.MountResponse{ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "legacy", Version: "1"}}}, nil
	})
	res, err := r.Refresh(context.Background(), Request{Provider: "fake", TargetPath: target})
	if err != nil || !res.Changed || len(res.Files) != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	res, err = r.Refresh(context.Background(), Request{Provider: "fake", TargetPath: target, CurrentObjectVersions: []driver.ObjectVersion{{ID: "legacy", Version: "1"}}})
	if err != nil || res.Changed {
		t.Fatalf("same versions: %+v %v, want unchanged", res, err)
	}
}

func TestRefreshErrorsKeepContentAndTypeTheError(t *testing.T) {
	var answer providertest.MountFunc = providertest.Files("1", map[string]string{"s": "old"})
	r, prov, target := setup(t, answer)
	ctx := context.Background()
	if _, err := r.Refresh(ctx, Request{Provider: "fake", TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		provider string
		f        providertest.MountFunc
		code     codes.Code
		typ      string
	}{
		{"provider error code", "fake", func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
			return &providerv1alpha1.MountResponse{Error: &providerv1alpha1.Error{Code: "Throttled"}}, nil
		}, codes.Internal, "Throttled"},
		{"grpc error", "fake", func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
			return nil, status.Error(codes.PermissionDenied, "no access to vault kv")
		}, codes.PermissionDenied, "PermissionDenied"},
		{"bad path", "fake", func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
			return &providerv1alpha1.MountResponse{ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "s", Version: "2"}},
				Files: []*providerv1alpha1.File{{Path: "../s", Contents: []byte("new")}}}, nil
		}, codes.Internal, "InvalidFilePath"},
		{"unknown provider", "nope", nil, codes.FailedPrecondition, "FailedPrecondition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.f != nil {
				prov.SetMount(tt.f)
			}
			_, err := r.Refresh(ctx, Request{Provider: tt.provider, TargetPath: target})
			if status.Code(err) != tt.code || ErrorType(err) != tt.typ {
				t.Fatalf("err = %v (code %v, type %q), want %v/%q", err, status.Code(err), ErrorType(err), tt.code, tt.typ)
			}
			if b, _ := os.ReadFile(filepath.Join(target, "s")); string(b) != "old" {
				t.Fatalf("content %q, want the old content kept", b)
			}
		})
	}
}
