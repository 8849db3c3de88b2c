package driver

import (
	"context"
	"errors"
	"maps"

	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Name is the CSI driver name users write in their volumes.
const Name = "secrets-store.csi.k8s.io"

// Volume context keys kubelet sets (podInfoOnMount, tokenRequests) and the
// key users set in the inline volume.
const (
	AttrSecretProviderClass = "secretProviderClass"
	AttrPodName             = "csi.storage.k8s.io/pod.name"
	AttrPodNamespace        = "csi.storage.k8s.io/pod.namespace"
	AttrPodUID              = "csi.storage.k8s.io/pod.uid"
	AttrServiceAccountName  = "csi.storage.k8s.io/serviceAccount.name"
	AttrServiceAccountToken = "csi.storage.k8s.io/serviceAccount.tokens"
	AttrEphemeral           = "csi.storage.k8s.io/ephemeral"
)

// ObjectVersion is one mounted object and its provider-defined version.
type ObjectVersion struct {
	ID      string
	Version string
}

// ToPodStatusObjects converts versions to the CRD field type.
func ToPodStatusObjects(in []ObjectVersion) []secretsstorev1.SecretProviderClassObject {
	out := make([]secretsstorev1.SecretProviderClassObject, 0, len(in))
	for _, o := range in {
		out = append(out, secretsstorev1.SecretProviderClassObject{ID: o.ID, Version: o.Version})
	}
	return out
}

// FromPodStatusObjects converts the CRD field type to versions.
func FromPodStatusObjects(in []secretsstorev1.SecretProviderClassObject) []ObjectVersion {
	out := make([]ObjectVersion, 0, len(in))
	for _, o := range in {
		out = append(out, ObjectVersion{ID: o.ID, Version: o.Version})
	}
	return out
}

// MountInfo describes one successful publish of one volume.
type MountInfo struct {
	PodName            string
	PodNamespace       string
	PodUID             types.UID
	ServiceAccountName string
	// NodeName is the driver's --nodeid.
	NodeName string
	// SecretProviderClass is the object read for this publish.
	SecretProviderClass *secretsstorev1.SecretProviderClass
	// Provider is SecretProviderClass.Spec.Provider.
	Provider string
	// TargetPath is the mount point; the files live directly below it.
	TargetPath string
	// Objects are the provider's object versions, sorted by ID.
	Objects []ObjectVersion
	// Files are the user-visible file names below TargetPath (sorted). Empty
	// when a legacy provider wrote the files itself.
	Files []string
}

// PublishHook runs after NodePublishVolume wrote the content.
type PublishHook interface {
	Published(ctx context.Context, m MountInfo) error
}

// Hooks runs several hooks in order and stops at the first error.
type Hooks []PublishHook

// Published runs every hook in order.
func (h Hooks) Published(ctx context.Context, m MountInfo) error {
	for _, hook := range h {
		if hook == nil {
			continue
		}
		if err := hook.Published(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// BuildAttributes returns the provider Mount attributes: the SPC parameters
// with every volume attribute (pod info, tokens, ...) copied over them, as
// upstream does. Neither input is modified.
func BuildAttributes(spcParameters, volumeContext map[string]string) map[string]string {
	out := make(map[string]string, len(spcParameters)+len(volumeContext))
	maps.Copy(out, spcParameters)
	maps.Copy(out, volumeContext)
	return out
}

// ErrNoProvider is wrapped by errors about an unknown or missing provider.
var ErrNoProvider = errors.New("provider not found")
