package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"registration path required", nil, "--kubelet-registration-path is required"},
		{"bad mode", []string{"--kubelet-registration-path=/var/lib/kubelet/plugins/x/csi.sock", "--mode=probe"}, `--mode "probe"`},
		{"port and endpoint", []string{"--kubelet-registration-path=/var/lib/kubelet/plugins/x/csi.sock", "--health-port=9809", "--http-endpoint=:9810"}, "only one of --health-port and --http-endpoint"},
		{"stray argument", []string{"--kubelet-registration-path=/x", "extra"}, "unexpected arguments"},
		{"unknown flag", []string{"--csi-adress=/csi/csi.sock"}, "csi-adress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := realMain(context.Background(), tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("realMain(%q) = %v, want error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestProbeMode: the exec-probe mode fails until the registration probe file
// next to the driver socket exists, and succeeds after.
func TestProbeMode(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--mode=kubelet-registration-probe", "--kubelet-registration-path=" + filepath.Join(dir, "csi.sock")}
	if err := realMain(context.Background(), args); err == nil || !strings.Contains(err.Error(), "has not happened yet") {
		t.Fatalf("probe before registration = %v, want failure", err)
	}
	os.WriteFile(filepath.Join(dir, "registration"), nil, 0o644)
	if err := realMain(context.Background(), args); err != nil {
		t.Fatalf("probe after registration = %v", err)
	}
}
