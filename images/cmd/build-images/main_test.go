package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildsAndListsPaths(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skipf("needs /bin/busybox (Debian busybox-static; make deps): %v", err)
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := realMain(context.Background(), []string{"-q", "--version", "v1", "--out", out, "--only", "busybox"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if got, want := strings.TrimSpace(stdout.String()), filepath.Join(out, "busybox.tar"); got != want {
		t.Errorf("-q printed %q, want %q", got, want)
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown image", []string{"--only", "pause,nginx"}, `"nginx"`},
		{"stray argument", []string{"pause"}, "--only"},
		{"bad version", []string{"--version", "a b"}, "valid image tag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := realMain(context.Background(), append(tc.args, "--out", t.TempDir()), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("realMain(%q) = %v, want error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}
