// Package csiconntest serves a fake CSI Identity service on a real unix
// socket, for the sidecars' tests.
package csiconntest

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Identity is a fake CSI Identity server whose answers the test can change.
type Identity struct {
	csi.UnimplementedIdentityServer

	mu    sync.Mutex
	name  string
	probe func(context.Context) (*csi.ProbeResponse, error)
	calls int
}

// Start serves an Identity named name on a socket in a fresh temporary
// directory and returns it with the socket path. Probe answers ready until
// SetProbe changes it.
func Start(t testing.TB, name string) (*Identity, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "csi.sock")
	return StartAt(t, sock, name), sock
}

// StartAt is Start on a given socket path.
func StartAt(t testing.TB, sock, name string) *Identity {
	t.Helper()
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	id := &Identity{name: name}
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, id)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return id
}

// SetProbe replaces the Probe behaviour.
func (i *Identity) SetProbe(f func(context.Context) (*csi.ProbeResponse, error)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.probe = f
}

// ProbeCalls is how many Probe calls arrived.
func (i *Identity) ProbeCalls() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.calls
}

func (i *Identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return &csi.GetPluginInfoResponse{Name: i.name, VendorVersion: "test"}, nil
}

func (i *Identity) Probe(ctx context.Context, _ *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	i.mu.Lock()
	i.calls++
	f := i.probe
	i.mu.Unlock()
	if f == nil {
		return &csi.ProbeResponse{Ready: wrapperspb.Bool(true)}, nil
	}
	return f(ctx)
}

func (i *Identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{}, nil
}
