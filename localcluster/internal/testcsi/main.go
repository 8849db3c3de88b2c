// Command testcsi is a minimal CSI node plugin for the local cluster's own
// tests: it lets them show that the kubelet registers a node plugin through
// kvcsi's registrar and makes real NodePublishVolume / NodeUnpublishVolume
// calls for inline volumes, before (and independently of) kvcsi's driver.
//
// NodePublishVolume mounts a tmpfs on the target path (so mount propagation
// is exercised like the real driver does) and writes the volume context into
// it; every call is appended to --calls so the test can see it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const driverName = "testcsi.kvcsi.io"

func main() {
	if err := realMain(); err != nil {
		fmt.Fprintln(os.Stderr, "testcsi:", err)
		os.Exit(1)
	}
}

func realMain() error {
	endpoint := flag.String("endpoint", "/csi/csi.sock", "unix socket to serve CSI on")
	nodeID := flag.String("nodeid", os.Getenv("KUBE_NODE_NAME"), "node ID")
	calls := flag.String("calls", "/calls/calls.log", "file each publish/unpublish call is appended to")
	flag.Parse()
	if *nodeID == "" {
		return fmt.Errorf("--nodeid (or $KUBE_NODE_NAME) is required")
	}
	_ = os.Remove(*endpoint)
	if err := os.MkdirAll(filepath.Dir(*endpoint), 0o755); err != nil {
		return err
	}
	l, err := net.Listen("unix", *endpoint)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	p := &plugin{nodeID: *nodeID, calls: *calls}
	csi.RegisterIdentityServer(s, p)
	csi.RegisterNodeServer(s, p)
	fmt.Println("testcsi serving on", *endpoint)
	return s.Serve(l)
}

type plugin struct {
	csi.UnimplementedIdentityServer
	csi.UnimplementedNodeServer
	nodeID string
	calls  string
	mu     sync.Mutex
}

func (p *plugin) record(line string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.calls, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return status.Errorf(codes.Internal, "record call: %v", err)
	}
	defer f.Close()
	_, err = fmt.Fprintln(f, line)
	return err
}

func (p *plugin) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: driverName, VendorVersion: "test"}, nil
}

func (p *plugin) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	return &csi.GetPluginCapabilitiesResponse{}, nil
}

func (p *plugin) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

func (p *plugin) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: p.nodeID}, nil
}

func (p *plugin) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil
}

func (p *plugin) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if target == "" || req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "target path and volume id are required")
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "create target: %v", err)
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", 0, "size=1m"); err != nil {
		return nil, status.Errorf(codes.Internal, "mount tmpfs on target: %v", err)
	}
	vc := req.GetVolumeContext()
	files := map[string]string{
		"pod":       vc["csi.storage.k8s.io/pod.name"],
		"namespace": vc["csi.storage.k8s.io/pod.namespace"],
		"uid":       vc["csi.storage.k8s.io/pod.uid"],
		"ephemeral": vc["csi.storage.k8s.io/ephemeral"],
		"content":   vc["content"],
	}
	for name, v := range files {
		if err := os.WriteFile(filepath.Join(target, name), []byte(v), 0o644); err != nil {
			return nil, status.Errorf(codes.Internal, "write %s: %v", name, err)
		}
	}
	if err := p.record(strings.Join([]string{"publish", req.GetVolumeId(), vc["csi.storage.k8s.io/pod.name"], target}, " ")); err != nil {
		return nil, err
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

func (p *plugin) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target path is required")
	}
	if err := unix.Unmount(target, 0); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return nil, status.Errorf(codes.Internal, "unmount target: %v", err)
	}
	if err := os.RemoveAll(target); err != nil {
		return nil, status.Errorf(codes.Internal, "remove target: %v", err)
	}
	if err := p.record(strings.Join([]string{"unpublish", req.GetVolumeId(), target}, " ")); err != nil {
		return nil, err
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
