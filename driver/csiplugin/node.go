package csiplugin

import (
	"context"
	"fmt"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/tmpfs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// NodePublishVolume mounts one secrets-store volume, in small steps:
// validate, read the volume context, get the SecretProviderClass, check the
// provider name, mount a tmpfs, fill it (provider Mount, path validation,
// atomic write), unmount again if that failed, then run the hooks. A call
// for a target that is already mounted (kubelet's republish) refreshes the
// content at most once per Config.RepublishInterval (the rotation poll
// interval) and keeps the old content if the provider fails.
func (s *Server) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (resp *csi.NodePublishVolumeResponse, err error) {
	provider := ""
	defer func() {
		if err != nil {
			s.cfg.Metrics.NodePublishFailed(provider, content.ErrorType(err))
		} else {
			s.cfg.Metrics.NodePublishOK(provider)
		}
	}()
	if err := validatePublish(req); err != nil {
		return nil, err
	}
	pr, err := parsePublish(req)
	if err != nil {
		return nil, err
	}
	log := logr.FromContextOrDiscard(ctx).WithValues("pod", pr.PodNamespace+"/"+pr.PodName, "secretProviderClass", pr.SPCName, "target", pr.TargetPath)
	s.trustTokens(ctx, &pr, log)
	if err := checkTokens(pr.Own); err != nil {
		return nil, err
	}

	spc, err := s.getSPC(ctx, pr)
	if err != nil {
		return nil, err
	}
	provider = string(spc.Spec.Provider)
	if err := providerclient.ValidateName(provider); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "secretproviderclass %s/%s: %s", pr.PodNamespace, pr.SPCName, status.Convert(err).Message())
	}

	unlock := s.locks.lock(pr.TargetPath)
	defer unlock()

	mountedNow, err := tmpfs.Mount(pr.TargetPath)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	if !mountedNow && !s.republishDue(pr.TargetPath, time.Now()) {
		log.V(4).Info("republish within the rotation poll interval; content kept")
		return &csi.NodePublishVolumeResponse{}, nil
	}
	res, err := s.fill(ctx, pr, spc, log)
	if err != nil {
		if brokenEmptyMount(err, mountedNow) { // mutation tests only (break.go)
			return &csi.NodePublishVolumeResponse{}, nil
		}
		if mountedNow {
			// Nothing was written: leave no mount behind so kubelet's retry
			// starts clean.
			if uerr := tmpfs.Unmount(pr.TargetPath); uerr != nil {
				log.Error(uerr, "unmount after a failed publish")
			}
		} else {
			log.Info("refresh failed; the mounted content is unchanged", "error", err.Error())
		}
		return nil, err
	}
	s.markRefreshed(pr.TargetPath, time.Now())
	s.warn(pr, spc.Name, provider, res.Warnings, log)
	log.V(2).Info("content written", "changed", res.Changed, "files", len(res.Files), "objects", len(res.Objects))

	if err := s.cfg.Hooks.Published(ctx, driver.MountInfo{
		PodName:             pr.PodName,
		PodNamespace:        pr.PodNamespace,
		PodUID:              pr.PodUID,
		ServiceAccountName:  pr.ServiceAccountName,
		NodeName:            s.cfg.NodeID,
		SecretProviderClass: spc,
		Provider:            provider,
		TargetPath:          pr.TargetPath,
		Objects:             res.Objects,
		Files:               res.Files,
	}); err != nil {
		if _, ok := status.FromError(err); ok {
			return nil, err
		}
		return nil, status.Errorf(codes.Internal, "after mounting: %v", err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// getSPC reads the SecretProviderClass from the pod's namespace. The
// not-found message is the one users search for.
func (s *Server) getSPC(ctx context.Context, pr publishRequest) (*secretsstorev1.SecretProviderClass, error) {
	spc, err := s.cfg.SPCs.Get(ctx, pr.PodNamespace, pr.SPCName)
	if err != nil {
		code := codes.Internal
		if apierrors.IsNotFound(err) {
			code = codes.NotFound
		}
		return nil, status.Errorf(code, "failed to get secretproviderclass %s/%s, error: %v", pr.PodNamespace, pr.SPCName, err)
	}
	return spc, nil
}

// fill runs the provider and writes its files; see content.Refresher.
func (s *Server) fill(ctx context.Context, pr publishRequest, spc *secretsstorev1.SecretProviderClass, log logr.Logger) (content.Result, error) {
	attrs, dropped := driver.ProviderAttributes(spc.Spec.Parameters, pr.User, pr.Own)
	for _, d := range dropped {
		s.droppedKey(pr, spc.Name, d, log)
	}
	// No current versions: the plugin keeps no state between calls (the pod
	// status is the record of versions, and rotation sends them); providers
	// treat their absence as "fetch what the SecretProviderClass names".
	return s.cfg.Refresher.Refresh(ctx, content.Request{
		Provider:   string(spc.Spec.Provider),
		Attributes: attrs,
		Secrets:    pr.Secrets,
		TargetPath: pr.TargetPath,
	})
}

// trustTokens moves a csi.storage.k8s.io/serviceAccount.tokens key of the
// volume context from the user's attributes to kubelet's when kubelet wrote
// it: kubelet did not send the tokens in req.Secrets, and the CSIDriver has
// tokenRequests (kubelet then overwrites whatever the pod said). Otherwise
// the key stays with the user's attributes, where ProviderAttributes drops it.
func (s *Server) trustTokens(ctx context.Context, pr *publishRequest, log logr.Logger) {
	tok, ok := pr.User[driver.AttrServiceAccountToken]
	if !ok || pr.TokensFromSecrets {
		return
	}
	trusted := true
	if s.cfg.KubeletSetsTokens != nil {
		var err error
		trusted, err = s.cfg.KubeletSetsTokens(ctx)
		if err != nil {
			// Without the CSIDriver (no RBAC to read it) the driver cannot
			// tell kubelet's tokens from a user's; it keeps them, as before,
			// and says how to close the gap. The provider verifies tokens
			// itself (docs/provider.md).
			log.Info("cannot tell whether kubelet wrote the service-account tokens; kept", "error", err.Error(),
				"fix", "grant the driver get on storage.k8s.io csidrivers "+driver.Name)
			trusted = true
		}
	}
	if trusted {
		pr.Own[driver.AttrServiceAccountToken] = tok
		delete(pr.User, driver.AttrServiceAccountToken)
	}
}

// ReasonReservedAttributeDropped is the Warning event reason for a
// csi.storage.k8s.io/ key the driver did not pass to the provider.
const ReasonReservedAttributeDropped = "ReservedAttributeDropped"

// droppedKey reports a reserved key taken out of the provider's attributes:
// a Warning event on the pod, a log line and a counter. The key's value is
// never reported.
func (s *Server) droppedKey(pr publishRequest, spcName string, d driver.DroppedKey, log logr.Logger) {
	where := "the pod's volumeAttributes"
	if d.Source == driver.SourceParameters {
		where = "spec.parameters of SecretProviderClass " + spcName
	}
	msg := fmt.Sprintf("ignored %s in %s: keys starting with %s are set only by kubelet and the driver; remove it", d.Key, where, driver.ReservedPrefix)
	log.Info("reserved attribute dropped", "key", d.Key, "source", d.Source)
	s.cfg.Metrics.ReservedAttributeDropped(d.Source)
	if s.cfg.Recorder != nil && pr.PodUID != "" {
		s.cfg.Recorder.Event(podRef(pr), corev1.EventTypeWarning, ReasonReservedAttributeDropped, msg)
	}
}

// ReasonSecretProviderClassWarning is the Warning event reason for a
// SecretProviderClass setting the provider (MountResponse.warnings) or the
// driver handled leniently instead of refusing it.
const ReasonSecretProviderClassWarning = "SecretProviderClassWarning"

// warn reports each warning of a mount: a Warning event on the pod, a log
// line and a counter.
func (s *Server) warn(pr publishRequest, spcName, provider string, warnings []string, log logr.Logger) {
	for _, w := range warnings {
		log.Info("SecretProviderClass warning", "warning", w)
		s.cfg.Metrics.ProviderWarning(provider)
		if s.cfg.Recorder != nil && pr.PodUID != "" {
			s.cfg.Recorder.Eventf(podRef(pr), corev1.EventTypeWarning, ReasonSecretProviderClassWarning, "SecretProviderClass %s: %s", spcName, w)
		}
	}
}

// podRef is the event target of a publish.
func podRef(pr publishRequest) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: pr.PodName, Namespace: pr.PodNamespace, UID: pr.PodUID}
}

// NodeUnpublishVolume unmounts the tmpfs and removes the target directory.
// It succeeds for a target that is already gone.
func (s *Server) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (resp *csi.NodeUnpublishVolumeResponse, err error) {
	defer func() {
		if err != nil {
			s.cfg.Metrics.NodeUnpublishFailed()
		} else {
			s.cfg.Metrics.NodeUnpublishOK()
		}
	}()
	switch {
	case req.GetVolumeId() == "":
		return nil, status.Error(codes.InvalidArgument, "volume_id is missing from NodeUnpublishVolume")
	case req.GetTargetPath() == "":
		return nil, status.Error(codes.InvalidArgument, "target_path is missing from NodeUnpublishVolume")
	}
	unlock := s.locks.lock(req.GetTargetPath())
	defer unlock()
	if err := tmpfs.Unmount(req.GetTargetPath()); err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	s.markRefreshed(req.GetTargetPath(), time.Time{})
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// NodeGetInfo returns the node ID (the Kubernetes node name).
func (s *Server) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: s.cfg.NodeID}, nil
}

// NodeGetCapabilities lists none: no staging, no stats, no expansion.
func (s *Server) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil
}
