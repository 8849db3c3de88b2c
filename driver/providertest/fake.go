// Package providertest runs a fake secrets-store provider that speaks the
// real v1alpha1 protocol on a real unix socket, for the driver's tests (and
// the rotation tests). Its answers are set per test; it records requests.
package providertest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"google.golang.org/grpc"
)

// MountFunc answers one Mount call.
type MountFunc func(ctx context.Context, req *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error)

// Provider is a fake provider listening on <Dir>/<Name>.sock.
type Provider struct {
	providerv1alpha1.UnimplementedCSIDriverProviderServer

	Dir, Name, Socket string

	mu       sync.Mutex
	mount    MountFunc
	requests []*providerv1alpha1.MountRequest
	srv      *grpc.Server
}

// Start serves a fake provider named name in dir until the test ends.
func Start(t testing.TB, dir, name string, mount MountFunc) *Provider {
	t.Helper()
	p := &Provider{Dir: dir, Name: name, Socket: filepath.Join(dir, name+".sock"), mount: mount}
	_ = os.Remove(p.Socket)
	lis, err := net.Listen("unix", p.Socket)
	if err != nil {
		t.Fatalf("fake provider: %v", err)
	}
	p.srv = grpc.NewServer()
	providerv1alpha1.RegisterCSIDriverProviderServer(p.srv, p)
	go func() { _ = p.srv.Serve(lis) }()
	t.Cleanup(p.Stop)
	return p
}

// Stop stops serving and removes the socket.
func (p *Provider) Stop() {
	p.srv.Stop()
	_ = os.Remove(p.Socket)
}

// SetMount replaces the Mount answer.
func (p *Provider) SetMount(f MountFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mount = f
}

// Requests returns the Mount requests received so far.
func (p *Provider) Requests() []*providerv1alpha1.MountRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*providerv1alpha1.MountRequest(nil), p.requests...)
}

// Version implements the protocol.
func (p *Provider) Version(context.Context, *providerv1alpha1.VersionRequest) (*providerv1alpha1.VersionResponse, error) {
	return &providerv1alpha1.VersionResponse{Version: "v1alpha1", RuntimeName: "fake", RuntimeVersion: "0.0.0"}, nil
}

// Mount implements the protocol.
func (p *Provider) Mount(ctx context.Context, req *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
	p.mu.Lock()
	p.requests = append(p.requests, req)
	f := p.mount
	p.mu.Unlock()
	return f(ctx, req)
}

// Files returns a MountFunc that answers with these files (mode 0644) and
// one object version per file, all at version.
func Files(version string, files map[string]string) MountFunc {
	return func(context.Context, *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
		resp := &providerv1alpha1.MountResponse{}
		for name, content := range files {
			resp.Files = append(resp.Files, &providerv1alpha1.File{Path: name, Mode: 0o644, Contents: []byte(content)})
			resp.ObjectVersion = append(resp.ObjectVersion, &providerv1alpha1.ObjectVersion{Id: "secret/" + name, Version: version})
		}
		return resp, nil
	}
}
