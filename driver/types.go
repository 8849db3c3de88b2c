package driver

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

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

// ReservedPrefix starts every volume-context key kubelet and the driver set
// (pod name, namespace, uid, service account, tokens). No such key is taken
// from a SecretProviderClass's parameters or a pod's volumeAttributes: a
// user-supplied csi.storage.k8s.io/serviceAccount.tokens would let a pod
// present another workload's identity to the provider.
const ReservedPrefix = "csi.storage.k8s.io/"

// Where a dropped reserved key came from.
const (
	SourceParameters       = "spec.parameters"
	SourceVolumeAttributes = "volumeAttributes"
)

// DroppedKey is a reserved key BuildAttributes did not pass on.
type DroppedKey struct {
	// Source is SourceParameters or SourceVolumeAttributes.
	Source string
	Key    string
}

// ProviderAttributes returns the provider Mount attributes: the SPC parameters,
// then the user's volume attributes over them (as upstream), each without
// any ReservedPrefix key, then the driver's own keys (pod information and
// tokens, from kubelet or minted by the driver). It returns the reserved keys
// it dropped, sorted by source and key. No input is modified.
func ProviderAttributes(spcParameters, userAttributes, own map[string]string) (map[string]string, []DroppedKey) {
	out := make(map[string]string, len(spcParameters)+len(userAttributes)+len(own))
	var dropped []DroppedKey
	for _, src := range []struct {
		name string
		m    map[string]string
	}{{SourceParameters, spcParameters}, {SourceVolumeAttributes, userAttributes}} {
		keys := slices.Sorted(maps.Keys(src.m))
		for _, k := range keys {
			if strings.HasPrefix(k, ReservedPrefix) {
				dropped = append(dropped, DroppedKey{Source: src.name, Key: k})
				continue
			}
			out[k] = src.m[k]
		}
	}
	maps.Copy(out, own)
	return out, dropped
}

// ErrNoProvider is wrapped by errors about an unknown or missing provider.
var ErrNoProvider = errors.New("provider not found")
