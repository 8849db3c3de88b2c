package server_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/provider/internal/testpki"
	"github.com/kvcsi/kvcsi/provider/server"
)

// compatCase is one row of docs/compatibility.md's provider table: a
// SecretProviderClass configuration, what upstream v1.8.2 does with it
// (recorded as data, measured against the same emulator), and what kvcsi
// does, asserted.
type compatCase struct {
	row      string // the configuration as the doc's table names it
	upstream string // upstream provider v1.8.2 + driver v1.6
	objects  string
	separate bool // --write-cert-and-key-in-separate-files
	// kvcsi mounts: want are the files (path → check), warn the field a
	// warning names ("" = no warning).
	want map[string]func(t *testing.T, f *v1alpha1.File)
	warn string
	// or refuses with InvalidArgument and a message containing refuse.
	refuse string
}

func content(want string) func(*testing.T, *v1alpha1.File) {
	return func(t *testing.T, f *v1alpha1.File) {
		if string(f.Contents) != want {
			t.Errorf("%s = %q, want %q", f.Path, f.Contents, want)
		}
	}
}

func mode(m int32, then func(*testing.T, *v1alpha1.File)) func(*testing.T, *v1alpha1.File) {
	return func(t *testing.T, f *v1alpha1.File) {
		if f.Mode != m {
			t.Errorf("%s mode = %04o, want %04o", f.Path, f.Mode, m)
		}
		then(t, f)
	}
}

func compatCases(chain *testpki.Chain) []compatCase {
	leafPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain.Leaf.Raw}))
	storedPEM, _ := chain.PEM(testpki.Permutations(chain.Leaf, chain.Intermediate, chain.Root)[0])
	return []compatCase{
		{row: "two objects with the same objectName", upstream: "mounts; the last object wins (the driver writes through a map)",
			objects: objs("objectName: db-password; objectType: secret", "objectName: db-password; objectType: secret; objectVersion: latest"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"db-password": content("second-password")}, warn: "objectAlias"},
		{row: "two aliases naming one file", upstream: "mounts; the last object wins",
			objects: objs("objectName: db-password; objectType: secret; objectAlias: x", "objectName: api-key; objectType: secret; objectAlias: x"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"x": content("api-key-value")}, warn: "objectAlias"},
		{row: "`objectFormat: PFX` on `objectType: cert`", upstream: "mounts the PEM certificate (the format is ignored)",
			objects: objs("objectName: chain-pfx-0; objectType: cert; objectFormat: PFX; objectAlias: c"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"c": content(leafPEM)}, warn: "objectFormat"},
		{row: "`objectFormat: pfx` on `objectType: key`", upstream: "mounts the public key PEM (the format is ignored)",
			objects: objs("objectName: rsa-key; objectType: key; objectFormat: pfx"),
			want: map[string]func(*testing.T, *v1alpha1.File){"rsa-key": func(t *testing.T, f *v1alpha1.File) {
				if !bytes.HasPrefix(f.Contents, []byte("-----BEGIN PUBLIC KEY-----")) {
					t.Errorf("not a public key PEM: %q", f.Contents)
				}
			}}, warn: "objectFormat"},
		{row: "`objectFormat: pfx` on a certificate stored as PEM", upstream: "mounts the stored PEM bytes",
			objects: objs("objectName: chain-pem-0; objectType: secret; objectFormat: pfx; objectAlias: s"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"s": content(storedPEM)}, warn: "objectFormat"},
		{row: "`objectVersionHistory: -1`", upstream: "mounts one version, as if unset",
			objects: objs("objectName: rotated; objectType: secret; objectVersionHistory: -1"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"rotated": content("v6")}, warn: "objectVersionHistory"},
		{row: "`filePermission: \"0999\"`", upstream: "mounts with mode 0000 (its parse error is ignored)",
			objects: objs("objectName: api-key; objectType: secret; filePermission: '0999'"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"api-key": mode(0, content("api-key-value"))}, warn: "filePermission"},
		{row: "`filePermission: \"07777\"`", upstream: "mounts with mode 7777 (setuid, setgid, sticky)",
			objects: objs("objectName: api-key; objectType: secret; filePermission: '07777'"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"api-key": mode(0o777, content("api-key-value"))}, warn: "filePermission"},
		{row: "`filePermission: \"0000\"`", upstream: "mounts with mode 0000",
			objects: objs("objectName: api-key; objectType: secret; filePermission: '0000'"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"api-key": mode(0, content("api-key-value"))}},
		{row: "`objectEncoding: base64` on a certificate rendered as PEM", upstream: "fails (`illegal base64 data`)",
			objects: objs("objectName: chain-pem-0; objectType: secret; objectEncoding: base64; objectAlias: s"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"s": content(storedPEM)}, warn: "objectEncoding"},
		{row: "objectType `SECRET`, objectVersion `latest`, an inline YAML mapping", upstream: "fails",
			objects: "array:\n  - objectName: api-key\n    objectType: SECRET\n    objectVersion: latest\n",
			want:    map[string]func(*testing.T, *v1alpha1.File){"api-key": content("api-key-value")}},
		{row: "split files with `objectFormat: pfx`", upstream: "also writes empty `.crt` and `.key`", separate: true,
			objects: objs("objectName: chain-pfx-0; objectType: secret; objectFormat: pfx; objectAlias: p"),
			want: map[string]func(*testing.T, *v1alpha1.File){"p": func(t *testing.T, f *v1alpha1.File) {
				if bytes.Contains(f.Contents, []byte("BEGIN")) || len(f.Contents) < 100 {
					t.Errorf("p is not the base64 PFX")
				}
			}}},
		{row: "`objectVersionHistory: N`", upstream: "writes N+1 versions (0..N; an off-by-one)",
			objects: objs("objectName: rotated; objectType: secret; objectVersionHistory: 2"),
			want:    map[string]func(*testing.T, *v1alpha1.File){"rotated/0": content("v6"), "rotated/1": content("v5")}},
		{row: "alias `./x`", upstream: "provider answers, driver refuses", objects: objs("objectName: api-key; objectType: secret; objectAlias: ./x"),
			refuse: `not a clean path: remove '.', '//' and trailing '/' (use "x")`},
		{row: "alias `dir/`", upstream: "provider answers, driver refuses", objects: objs("objectName: api-key; objectType: secret; objectAlias: dir/"),
			refuse: `(use "dir")`},
		{row: "file `a` and file `a/b`", upstream: "provider answers, driver refuses",
			objects: objs("objectName: api-key; objectType: secret; objectAlias: a", "objectName: db-password; objectType: secret; objectAlias: a/b"),
			refuse:  "needs as a directory"},
		{row: "alias `.`", upstream: "provider answers, driver fails late (Internal)", objects: objs("objectName: api-key; objectType: secret; objectAlias: ."),
			refuse: "names the mount itself"},
		{row: "alias `..data` or starting with `..`", upstream: "provider answers, driver fails late (Internal)", objects: objs("objectName: api-key; objectType: secret; objectAlias: ..data"),
			refuse: "remove the leading dots"},
		{row: "alias with a NUL character", upstream: "provider answers, driver fails late", objects: "array:\n  - objectName: api-key\n    objectType: secret\n    objectAlias: \"a\\0b\"\n",
			refuse: "NUL character"},
	}
}

// TestCompatibilityTable asserts every row of docs/compatibility.md's
// provider table: kvcsi mounts with a warning (and refuses under --strict),
// mounts as upstream does, or refuses with a message naming the fix.
func TestCompatibilityTable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/compatibility.md")
	if err != nil {
		t.Fatalf("docs/compatibility.md: %v", err)
	}
	chainEnv := map[[2]bool]*env{}
	var chain *testpki.Chain
	envFor := func(strict, separate bool) *env {
		k := [2]bool{strict, separate}
		if chainEnv[k] == nil {
			chainEnv[k], chain = newCertEnv(t, server.Config{ConstructPEMChain: true, Strict: strict, WriteCertAndKeyInSeparateFiles: separate})
		}
		return chainEnv[k]
	}
	envFor(false, false)
	for _, tc := range compatCases(chain) {
		t.Run(tc.row, func(t *testing.T) {
			if !strings.Contains(string(doc), tc.row) || !strings.Contains(string(doc), tc.upstream) {
				t.Errorf("docs/compatibility.md has no row %q with upstream %q", tc.row, tc.upstream)
			}
			e := envFor(false, tc.separate)
			r, err := e.mount(context.Background(), e.attrs(tc.objects), spSecrets(readerID, readerSecret))
			if tc.refuse != "" {
				st := status.Convert(err)
				if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.refuse) || !strings.HasPrefix(st.Message(), server.ErrorPrefix) {
					t.Fatalf("err = %v, want InvalidArgument %q", err, tc.refuse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]*v1alpha1.File{}
			for _, f := range r.Files {
				if got[f.Path] != nil {
					t.Fatalf("%s returned twice", f.Path)
				}
				got[f.Path] = f
			}
			if len(got) != len(tc.want) {
				t.Errorf("files %v, want %d", fileNames(got), len(tc.want))
			}
			for p, check := range tc.want {
				if got[p] == nil {
					t.Fatalf("no file %s in %v", p, fileNames(got))
				}
				check(t, got[p])
			}
			switch {
			case tc.warn == "" && len(r.Warnings) > 0:
				t.Fatalf("unexpected warnings %q", r.Warnings)
			case tc.warn != "":
				if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], tc.warn) || !strings.Contains(r.Warnings[0], "mounted") {
					t.Fatalf("warnings %q, want one naming %s", r.Warnings, tc.warn)
				}
				se := envFor(true, tc.separate)
				_, err := se.mount(context.Background(), se.attrs(tc.objects), spSecrets(readerID, readerSecret))
				st := status.Convert(err)
				if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.warn) || !strings.Contains(st.Message(), "--strict") {
					t.Fatalf("with --strict: err = %v, want InvalidArgument naming %s and --strict", err, tc.warn)
				}
			}
		})
	}
}

func fileNames(m map[string]*v1alpha1.File) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestWarningsAreLoggedAndCounted: each warning is a log line and a count of
// secretproviderclass_warning_total by field.
func TestWarningsAreLoggedAndCounted(t *testing.T) {
	var logs syncBuffer
	e, _ := newCertEnv(t, server.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r, err := e.mount(context.Background(), e.attrs(objs(
		"objectName: chain-pfx-0; objectType: cert; objectFormat: PFX",
		"objectName: rotated; objectType: secret; objectVersionHistory: -1",
		"objectName: api-key; objectType: secret; objectAlias: rotated",
	)), spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 3 {
		t.Fatalf("warnings %q, want 3", r.Warnings)
	}
	if n := strings.Count(logs.String(), "reason=SecretProviderClassWarning"); n != 3 {
		t.Errorf("%d warning log lines, want 3:\n%s", n, logs.String())
	}
	for field, n := range map[string]float64{"objectFormat": 1, "objectVersionHistory": 1, "objectAlias": 1} {
		if got := testutil.ToFloat64(e.srv.Metrics().WarningCounter(field)); got != n {
			t.Errorf("secretproviderclass_warning_total{field=%q} = %v, want %v", field, got, n)
		}
	}
}
