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
				{Path: "z", Mode: 0o644, Contents: []byte("Z")},
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
		t.Fatalf("mode %v", st.Mode().Perm())
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

// TestModesAsAskedButNeverSetuid: filePermission "0000" is written as 0000
// (upstream writes the provider's mode as is; 0 is not "unset"), and bits
// beyond 0777 are never written: they are dropped with a warning naming the
// file.
func TestModesAsAskedButNeverSetuid(t *testing.T) {
	r, _, target := setup(t, func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
		return &providerv1alpha1.MountResponse{
			ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "a", Version: "1"}},
			Files: []*providerv1alpha1.File{
				{Path: "zero", Mode: 0, Contents: []byte("0")},
				{Path: "setuid", Mode: 0o7777, Contents: []byte("s")},
				{Path: "negative", Mode: -1, Contents: []byte("n")},
				{Path: "plain", Mode: 0o640, Contents: []byte("p")},
			},
			Warnings: []string{"objectFormat applies to objectType secret"},
		}, nil
	})
	res, err := r.Refresh(context.Background(), Request{Provider: "fake", TargetPath: target})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"zero": 0, "setuid": 0o777, "negative": 0o777, "plain": 0o640} {
		st, err := os.Stat(filepath.Join(target, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want { // Mode, not Perm: no setuid, setgid or sticky bit either
			t.Errorf("%s: mode %v, want %v", name, st.Mode(), want)
		}
	}
	if len(res.Warnings) != 3 || res.Warnings[0] != "objectFormat applies to objectType secret" ||
		!strings.Contains(res.Warnings[1], `"setuid"`) || !strings.Contains(res.Warnings[1], "07777") || !strings.Contains(res.Warnings[1], "0777") ||
		!strings.Contains(res.Warnings[2], `"negative"`) {
		t.Fatalf("warnings %q: want the provider's, then one per narrowed mode naming the file", res.Warnings)
	}
}
