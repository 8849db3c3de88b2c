package csiplugin

import (
	"encoding/json"
	"maps"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kvcsi/kvcsi/driver"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/types"
)

// publishRequest is the per-request configuration of one NodePublishVolume,
// read from the CSI request; it is separate from the process flags.
type publishRequest struct {
	VolumeID           string
	TargetPath         string
	SPCName            string
	PodName            string
	PodNamespace       string
	PodUID             types.UID
	ServiceAccountName string
	// Own are the volume-context keys kubelet sets (podInfoOnMount: pod
	// name, namespace, uid, service account, ephemeral; and the tokens when
	// kubelet sent them in req.Secrets, or the CSIDriver has tokenRequests).
	Own map[string]string
	// User are the pod's volumeAttributes: the rest of the volume context.
	// A csi.storage.k8s.io/serviceAccount.tokens here may be kubelet's (see
	// Server.trustTokens) or the user's.
	User map[string]string
	// TokensFromSecrets is true when kubelet sent the tokens in req.Secrets
	// (CSIDriver serviceAccountTokenInSecrets): then a tokens key in the
	// volume context can only be the user's.
	TokensFromSecrets bool
	// Secrets is the nodePublishSecretRef data, without the tokens.
	Secrets map[string]string
}

// validatePublish checks the arguments CSI and the driver require; each
// error names the field and the fix.
func validatePublish(req *csi.NodePublishVolumeRequest) error {
	switch {
	case req.GetVolumeId() == "":
		return status.Error(codes.InvalidArgument, "volume_id is missing from NodePublishVolume")
	case req.GetTargetPath() == "":
		return status.Error(codes.InvalidArgument, "target_path is missing from NodePublishVolume")
	case req.GetVolumeCapability() == nil:
		return status.Error(codes.InvalidArgument, "volume_capability is missing from NodePublishVolume")
	case req.GetVolumeCapability().GetBlock() != nil:
		return status.Error(codes.InvalidArgument, "block volumes are not supported: use the secrets-store volume as a filesystem (csi inline volume)")
	case len(req.GetVolumeContext()) == 0:
		return status.Error(codes.InvalidArgument, "volume_context is missing: set volumeAttributes.secretProviderClass in the pod's csi volume")
	case !req.GetReadonly():
		return status.Error(codes.InvalidArgument, "readOnly must be true: set readOnly: true in the pod's secrets-store.csi.k8s.io volume")
	}
	return nil
}

// parsePublish reads the volume context and the secrets.
func parsePublish(req *csi.NodePublishVolumeRequest) (publishRequest, error) {
	vc := req.GetVolumeContext()
	r := publishRequest{
		VolumeID:           req.GetVolumeId(),
		TargetPath:         req.GetTargetPath(),
		SPCName:            vc[driver.AttrSecretProviderClass],
		PodName:            vc[driver.AttrPodName],
		PodNamespace:       vc[driver.AttrPodNamespace],
		PodUID:             types.UID(vc[driver.AttrPodUID]),
		ServiceAccountName: vc[driver.AttrServiceAccountName],
		Own:                map[string]string{},
		User:               maps.Clone(vc),
		Secrets:            map[string]string{},
	}
	if r.User == nil {
		r.User = map[string]string{}
	}
	for _, k := range kubeletKeys {
		if v, ok := r.User[k]; ok {
			r.Own[k] = v
			delete(r.User, k)
		}
	}
	if r.SPCName == "" {
		return r, status.Error(codes.InvalidArgument, "volume attribute secretProviderClass is missing: set volumeAttributes.secretProviderClass to the SecretProviderClass name")
	}
	if r.PodName == "" || r.PodNamespace == "" {
		return r, status.Error(codes.InvalidArgument, "pod name or namespace is missing from the volume context: the CSIDriver secrets-store.csi.k8s.io needs podInfoOnMount: true")
	}
	maps.Copy(r.Secrets, req.GetSecrets())
	// Newer kubelets pass the service-account tokens in req.Secrets; they
	// belong to the attributes, not to the nodePublishSecretRef data.
	if tok, ok := r.Secrets[driver.AttrServiceAccountToken]; ok {
		delete(r.Secrets, driver.AttrServiceAccountToken)
		r.Own[driver.AttrServiceAccountToken] = tok
		r.TokensFromSecrets = true
	}
	return r, nil
}

// kubeletKeys are the volume-context keys kubelet always writes for a
// CSIDriver with podInfoOnMount, over anything the pod's volumeAttributes
// say, so their values are kubelet's.
var kubeletKeys = []string{driver.AttrPodName, driver.AttrPodNamespace, driver.AttrPodUID, driver.AttrServiceAccountName, driver.AttrEphemeral}

// checkTokens checks the tokens are a JSON object of audience to token.
func checkTokens(own map[string]string) error {
	tok := own[driver.AttrServiceAccountToken]
	if tok == "" {
		return nil
	}
	var parsed map[string]json.RawMessage
	if err := json.Unmarshal([]byte(tok), &parsed); err != nil {
		// The error text of json could quote token bytes; do not include it.
		return status.Error(codes.InvalidArgument, "csi.storage.k8s.io/serviceAccount.tokens is not a JSON object of audience to token")
	}
	return nil
}
