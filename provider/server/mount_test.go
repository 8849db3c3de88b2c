package server_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/provider/server"
)

func TestVersion(t *testing.T) {
	e := newEnv(t, server.Config{})
	r, err := e.client.Version(context.Background(), &v1alpha1.VersionRequest{Version: "v1alpha1"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != "v1alpha1" || r.RuntimeName != server.RuntimeName || r.RuntimeVersion == "" {
		t.Fatalf("Version = %+v", r)
	}
}

// TestMountSecrets runs Mounts as the service principal "reader" against the
// emulator over the unix socket, one row per parameter combination.
func TestMountSecrets(t *testing.T) {
	e := newEnv(t, server.Config{ConstructPEMChain: true})
	tests := []struct {
		name     string
		objects  string
		want     map[string]string
		wantIDs  []string
		wantMode int32
	}{
		{
			name:    "latest secret under its name",
			objects: objs("objectName: db-password; objectType: secret"),
			want:    map[string]string{"db-password": "second-password"},
			wantIDs: []string{"secret/db-password"},
		},
		{
			name:    "alias and case-insensitive type",
			objects: objs("objectName: db-password; objectType: SECRET; objectAlias: sub/dir/pw"),
			want:    map[string]string{"sub/dir/pw": "second-password"},
			wantIDs: []string{"secret/db-password"},
		},
		{
			name:    "hex encoding",
			objects: objs("objectName: hexed; objectType: secret; objectEncoding: hex"),
			want:    map[string]string{"hexed": "hello-hex"},
		},
		{
			name:    "base64 encoding",
			objects: objs("objectName: based; objectType: secret; objectEncoding: Base64"),
			want:    map[string]string{"based": "hello-base64"},
		},
		{
			name:    "utf-8 encoding keeps the value",
			objects: objs("objectName: based; objectType: secret; objectEncoding: utf-8"),
			want:    map[string]string{"based": "aGVsbG8tYmFzZTY0"},
		},
		{
			name:     "filePermission overrides the request's mode",
			objects:  objs("objectName: db-password; objectType: secret; filePermission: 0600"),
			want:     map[string]string{"db-password": "second-password"},
			wantMode: 0o600,
		},
		{
			name:    "history returns exactly N newest enabled versions",
			objects: objs("objectName: rotated; objectType: secret; objectVersionHistory: 3"),
			want:    map[string]string{"rotated/0": "v6", "rotated/1": "v5", "rotated/2": "v3"},
			wantIDs: []string{"secret/rotated/0", "secret/rotated/1", "secret/rotated/2"},
		},
		{
			name:    "history larger than the vault returns what there is",
			objects: objs("objectName: rotated; objectType: secret; objectVersionHistory: 10; objectAlias: r"),
			want:    map[string]string{"r/0": "v6", "r/1": "v5", "r/2": "v3", "r/3": "v2", "r/4": "v1"},
		},
		{
			name:    "several objects in one mount",
			objects: objs("objectName: db-password; objectType: secret", "objectName: hexed; objectType: secret; objectEncoding: hex", "objectName: based; objectType: secret; objectAlias: b"),
			want:    map[string]string{"db-password": "second-password", "hexed": "hello-hex", "b": "aGVsbG8tYmFzZTY0"},
		},
		{
			name:    "empty array writes nothing",
			objects: "array: []",
			want:    map[string]string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.mount(context.Background(), e.attrs(tc.objects), spSecrets(readerID, readerSecret))
			if err != nil {
				t.Fatalf("Mount: %v", err)
			}
			got := files(r)
			if len(got) != len(tc.want) {
				t.Fatalf("files = %v, want %v", keys(got), tc.want)
			}
			for p, v := range tc.want {
				if got[p] != v {
					t.Errorf("file %s = %q, want %q", p, got[p], v)
				}
			}
			mode := tc.wantMode
			if mode == 0 {
				mode = 0o644
			}
			for _, f := range r.Files {
				if f.Mode != mode {
					t.Errorf("file %s mode %o, want %o", f.Path, f.Mode, mode)
				}
			}
			if len(r.ObjectVersion) == 0 && len(tc.want) > 0 {
				t.Fatal("no object versions")
			}
			for i, id := range tc.wantIDs {
				if r.ObjectVersion[i].Id != id || len(r.ObjectVersion[i].Version) != 32 {
					t.Errorf("object version %d = %+v, want id %s and a 32-character version", i, r.ObjectVersion[i], id)
				}
			}
		})
	}
}

func keys(m map[string]string) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	return k
}

// TestMountPinnedVersion mounts a version by id, and history starting there.
func TestMountPinnedVersion(t *testing.T) {
	e := newEnv(t, server.Config{})
	all, err := e.mount(context.Background(), e.attrs(objs("objectName: rotated; objectType: secret; objectVersionHistory: 5")), spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	v5 := all.ObjectVersion[1].Version
	r, err := e.mount(context.Background(), e.attrs(objs("objectName: rotated; objectType: secret; objectVersion: "+v5)), spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	if got := files(r)["rotated"]; got != "v5" || r.ObjectVersion[0].Version != v5 {
		t.Fatalf("pinned version: %q %+v", got, r.ObjectVersion)
	}
	r, err = e.mount(context.Background(), e.attrs(objs("objectName: rotated; objectType: secret; objectVersionHistory: 2; objectVersion: "+v5)), spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	if f := files(r); f["rotated/0"] != "v5" || f["rotated/1"] != "v3" || len(f) != 2 {
		t.Fatalf("history from a pinned version: %v", f)
	}
}

// TestMountErrors checks the gRPC code and that the message names the object
// and what to check, with no secret value in it.
func TestMountErrors(t *testing.T) {
	e := newEnv(t, server.Config{MaxRetries: 1})
	tests := []struct {
		name    string
		attrs   map[string]string
		secrets map[string]string
		code    codes.Code
		parts   []string
	}{
		{"missing object", e.attrs(objs("objectName: nope; objectType: secret")), spSecrets(readerID, readerSecret), codes.NotFound,
			[]string{"objectType:secret, objectName:nope, objectVersion:", "not found", "check objectName"}},
		{"missing version", e.attrs(objs("objectName: db-password; objectType: secret; objectVersion: 0123456789abcdef0123456789abcdef")), spSecrets(readerID, readerSecret), codes.NotFound,
			[]string{"objectVersion:0123456789abcdef0123456789abcdef"}},
		{"disabled secret", e.attrs(objs("objectName: turned-off; objectType: secret")), spSecrets(readerID, readerSecret), codes.PermissionDenied,
			[]string{"objectName:turned-off", "disabled"}},
		{"identity without access", e.attrs(objs("objectName: db-password; objectType: secret")), spSecrets(outsiderID, outsiderSecret), codes.PermissionDenied,
			[]string{"objectName:db-password", "grant this identity"}},
		{"wrong client secret", e.attrs(objs("objectName: db-password; objectType: secret")), spSecrets(readerID, "not-the-secret"), codes.Unauthenticated,
			[]string{"objectName:db-password", "AADSTS7000215"}},
		{"vault that does not exist", e.attrs(objs("objectName: db-password; objectType: secret"), "keyvaultName", "no-such-vault"), spSecrets(readerID, readerSecret), codes.NotFound,
			[]string{"no-such-vault", "keyvaultName"}},
		{"tenant of another vault", e.attrs(objs("objectName: db-password; objectType: secret"), "tenantID", "22222222-2222-2222-2222-222222222222"), spSecrets(readerID, readerSecret), codes.InvalidArgument,
			[]string{"belongs to tenant 11111111-1111-1111-1111-111111111111", "set tenantID"}},
		{"bad parameters", e.attrs(objs("objectName: db-password; objectType: secrets")), spSecrets(readerID, readerSecret), codes.InvalidArgument,
			[]string{"objectType", "secret, key or cert"}},
		{"no identity", e.attrs(objs("objectName: db-password; objectType: secret")), nil, codes.InvalidArgument,
			[]string{"could not find clientid in secrets"}},
		{"bad encoding for the value", e.attrs(objs("objectName: db-password; objectType: secret; objectEncoding: hex")), spSecrets(readerID, readerSecret), codes.InvalidArgument,
			[]string{"objectName:db-password", "not valid hex"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.mount(context.Background(), tc.attrs, tc.secrets)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("code = %v (%v), want %v", st.Code(), st.Message(), tc.code)
			}
			if !strings.HasPrefix(st.Message(), server.ErrorPrefix) || strings.Count(st.Message(), server.ErrorPrefix) != 1 {
				t.Errorf("message %q does not start with upstream's %q once", st.Message(), server.ErrorPrefix)
			}
			for _, p := range tc.parts {
				if !strings.Contains(st.Message(), p) {
					t.Errorf("message %q lacks %q", st.Message(), p)
				}
			}
			for _, secret := range []string{"second-password", "first-password", readerSecret, outsiderSecret} {
				if strings.Contains(st.Message(), secret) {
					t.Errorf("message leaks %q: %s", secret, st.Message())
				}
			}
		})
	}
}
