package csiconn_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/internal/csiconn"
	"github.com/kvcsi/kvcsi/internal/csiconn/csiconntest"
)

func TestTarget(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"absolute path", "/csi/csi.sock", "unix:///csi/csi.sock", ""},
		{"unix URL", "unix:///csi/csi.sock", "unix:///csi/csi.sock", ""},
		{"relative path", "csi.sock", "unix:csi.sock", ""},
		{"empty", "", "", "--csi-address is empty"},
		{"tcp", "tcp://127.0.0.1:10000", "", "only unix sockets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := csiconn.Target(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Target(%q) = %q, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Target(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDriverName(t *testing.T) {
	_, sock := csiconntest.Start(t, "secrets-store.csi.k8s.io")
	conn, err := csiconn.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	name, err := csiconn.WaitForDriverName(context.Background(), conn, 30*time.Second, nil)
	if err != nil || name != "secrets-store.csi.k8s.io" {
		t.Fatalf("WaitForDriverName = %q, %v", name, err)
	}
}

func TestWaitForDriverNameStopsWithContext(t *testing.T) {
	conn, err := csiconn.Dial(t.TempDir() + "/absent.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	retries := 0
	_, err = csiconn.WaitForDriverName(ctx, conn, time.Second, func(error) {
		retries++
		if retries == 2 {
			cancel()
		}
	})
	if err == nil || !strings.Contains(err.Error(), "CSI driver name not known") || retries != 2 {
		t.Fatalf("WaitForDriverName = %v after %d retries, want a context error after 2", err, retries)
	}
}
