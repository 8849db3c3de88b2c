package cloudenv

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const valid = `{"name":"AzureStackCloud","activeDirectoryEndpoint":"https://login.example/","keyVaultEndpoint":"https://vault.example/","keyVaultDNSSuffix":"vault.example"}`

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFromFileReadsARegularFile(t *testing.T) {
	p := write(t, "env.json", valid)
	// A ConfigMap mounts files as symlinks; the link's target is what counts.
	link := filepath.Join(t.TempDir(), "link.json")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p, link} {
		e, err := FromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if e.KeyVaultDNSSuffix != "vault.example" || e.ActiveDirectoryEndpoint != "https://login.example/" {
			t.Fatalf("%+v", e)
		}
	}
}

// TestFromFileRefusesHostileFiles (issue 10 §2): only a regular file of at
// most 64 KiB is read. /dev/zero used to be read until the provider ran out
// of memory; a FIFO hung the request (the open does not block now: if it
// did, this test would hang).
func TestFromFileRefusesHostileFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := write(t, "big.json", `{"name":"`+strings.Repeat("a", 65<<10)+`"}`)
	cases := []struct{ name, path, want string }{
		{"/dev/zero", "/dev/zero", "is a character device, not a regular file"},
		{"a FIFO", fifo, "is a named pipe (FIFO), not a regular file"},
		{"a directory", t.TempDir(), "is a directory, not a regular file"},
		{"65 KiB", big, "is larger than 65536 bytes"},
		{"missing", filepath.Join(t.TempDir(), "none.json"), "cannot be read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromFile(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cloudEnvFileName") {
				t.Fatalf("%v, want an error naming cloudEnvFileName with %q", err, tc.want)
			}
		})
	}
}

// TestFromFileNeverEchoesContent: errors about a file's content show no
// byte of it (encoding/json quoted the first character: /etc/passwd leaked
// its "r").
func TestFromFileNeverEchoesContent(t *testing.T) {
	cases := map[string]string{
		"passwd-like":          "~%@^:x:0:0:~%@^:/root:/bin/sh\n",
		"truncated JSON":       `{"name":"~%@^`,
		"wrong type":           `{"name":["~%@^"]}`,
		"not an object":        `"~%@^"`,
		"http authority":       `{"name":"n","activeDirectoryEndpoint":"http://~%@^/","keyVaultEndpoint":"k","keyVaultDNSSuffix":"s"}`,
		"missing fields":       `{"name":"~%@^"}`,
		"binary after a brace": "{\x00~%@^",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := FromFile(write(t, "env.json", content))
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.ContainsAny(err.Error(), "~%@^\x00") {
				t.Fatalf("the error echoes the file: %q", err)
			}
		})
	}
}
