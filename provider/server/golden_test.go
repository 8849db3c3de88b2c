package server_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/kvcsi/kvcsi/provider/server"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestMountGolden pins a whole MountResponse (paths, modes, contents, object
// version ids and versions) for objects with fixed versions;
// go test -run TestMountGolden -update rewrites it.
func TestMountGolden(t *testing.T) {
	e := newEnv(t, server.Config{})
	r, err := e.mount(context.Background(), e.attrs(objs(
		"objectName: rotated; objectType: secret; objectVersionHistory: 4; objectAlias: history/rotated; filePermission: 0440",
		"objectName: rotated; objectType: secret; objectVersion: 00000000000000000000000000000002; objectAlias: pinned",
		"objectName: hexed; objectType: secret; objectEncoding: hex",
	)), spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	got, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	// protojson's spacing is deliberately unstable; compare normalized.
	got = normalizeJSON(t, got)
	const path = "testdata/mount-response.golden.json"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MountResponse differs from %s:\n%s", path, got)
	}
}
