package main

import (
	"context"
	"strings"
	"testing"
)

func TestClusterCommandErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", nil, "missing subcommand"},
		{"unknown subcommand", []string{"sideways"}, `unknown subcommand "sideways"`},
		{"kubeconfig of no cluster", []string{"kubeconfig", "--run-dir", dir}, "no cluster in " + dir},
		{"status of no cluster", []string{"status", "--run-dir", dir}, "no cluster in " + dir},
		{"up with stray argument", []string{"up", "--run-dir", dir, "extra"}, "unexpected arguments"},
		{"up with loopback node IP", []string{"up", "--run-dir", dir, "--control-plane-only", "--node-ip", "127.0.0.2"}, "Config.NodeIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runCluster(context.Background(), tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("runCluster(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// down on a directory with no cluster is a no-op that succeeds, so it can
// always be run to make sure.
func TestClusterDownWithoutCluster(t *testing.T) {
	if err := runCluster(context.Background(), []string{"down", "--run-dir", t.TempDir()}); err != nil {
		t.Fatalf("down: %v", err)
	}
}
