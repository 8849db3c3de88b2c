// Package csiconn is how kvcsi's sidecars reach a CSI driver: a gRPC client
// over the driver's unix socket, and the driver-name lookup that both the
// registrar and the liveness probe start with.
package csiconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
)

// Dial returns a client for the CSI driver at address, which is a socket
// path ("/csi/csi.sock") or a unix URL ("unix:///csi/csi.sock"), as the
// official sidecars accept. The connection is made lazily by the first call.
func Dial(address string) (*grpc.ClientConn, error) {
	target, err := Target(address)
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// gRPC's default reconnect backoff grows to 2 minutes; a local socket
		// that appears late (driver container restarting) should be found
		// within seconds.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}))
}

// Target turns a --csi-address value into a gRPC target.
func Target(address string) (string, error) {
	switch {
	case address == "":
		return "", errors.New("--csi-address is empty: give the CSI driver's socket, e.g. /csi/csi.sock")
	case strings.HasPrefix(address, "unix://"):
		return address, nil
	case strings.Contains(address, "://"):
		return "", fmt.Errorf("--csi-address %q: only unix sockets are supported (a path or unix:///path)", address)
	case strings.HasPrefix(address, "/"):
		return "unix://" + address, nil
	default:
		return "unix:" + address, nil
	}
}

// DriverName asks the driver's Identity service for its name, giving up
// after timeout.
func DriverName(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		return "", fmt.Errorf("GetPluginInfo: %w", err)
	}
	if resp.GetName() == "" {
		return "", errors.New("GetPluginInfo returned an empty driver name")
	}
	return resp.GetName(), nil
}

// WaitForDriverName retries DriverName until it succeeds or ctx ends, because
// in a DaemonSet the sidecar often starts before the driver's socket exists.
// It backs off from 100ms to 5s between attempts and reports each failure to
// onRetry.
func WaitForDriverName(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration, onRetry func(error)) (string, error) {
	delay := 100 * time.Millisecond
	for {
		name, err := DriverName(ctx, conn, timeout)
		if err == nil {
			return name, nil
		}
		if onRetry != nil {
			onRetry(err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("CSI driver name not known (last error: %v): %w", err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}
