package registrar

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// service implements the kubelet's Registration gRPC service.
type service struct {
	registerapi.UnimplementedRegistrationServer
	r *Registrar
}

var _ registerapi.RegistrationServer = (*service)(nil)

// GetInfo is the plugin watcher's first call after it found the socket.
func (s *service) GetInfo(ctx context.Context, _ *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	klog.InfoS("Received GetInfo call", "driver", s.r.driver)
	if err := touch(s.r.cfg.ProbeFile()); err != nil {
		// Only the exec probe mode reads the file; registration goes on.
		klog.ErrorS(err, "Failed to create registration probe file", "path", s.r.cfg.ProbeFile())
	}
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.r.driver,
		Endpoint:          s.r.cfg.KubeletRegistrationPath,
		SupportedVersions: SupportedVersions,
	}, nil
}

// NotifyRegistrationStatus is the kubelet's verdict. A failure ends Run with
// the kubelet's error, after this call has been answered.
func (s *service) NotifyRegistrationStatus(ctx context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if st.GetPluginRegistered() {
		klog.InfoS("Kubelet registered the driver", "driver", s.r.driver)
		return &registerapi.RegistrationStatusResponse{}, nil
	}
	err := fmt.Errorf("kubelet failed to register driver %s: %s; restarting the registrar to retry", s.r.driver, st.GetError())
	klog.ErrorS(err, "Registration failed")
	select {
	case s.r.failed <- err:
	default:
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// touch creates path and its directory. The directory is usually absent: the
// probe file sits at the driver socket's host path, which is not mounted in
// the registrar's container, so (as upstream) it lands in the container's own
// filesystem, where the exec probe in the same container looks.
func touch(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}
