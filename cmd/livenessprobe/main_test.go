package main

import (
	"context"
	"strings"
	"testing"
)

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"port and endpoint", []string{"--health-port=9808", "--http-endpoint=:9810"}, "only one of --health-port and --http-endpoint"},
		{"zero timeout", []string{"--probe-timeout=0s", "--http-endpoint=127.0.0.1:0"}, "--probe-timeout"},
		{"tcp csi address", []string{"--csi-address=tcp://10.0.0.1:10000", "--http-endpoint=127.0.0.1:0"}, "only unix sockets"},
		{"bad port", []string{"--health-port=notaport"}, "--health-port"},
		{"stray argument", []string{"extra"}, "unexpected arguments"},
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
