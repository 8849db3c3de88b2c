// Package v1 holds the Go types of the secrets-store.csi.x-k8s.io/v1 API, the
// storage version of the SecretProviderClass and SecretProviderClassPodStatus
// CRDs. Field names and JSON tags match the upstream Secrets Store CSI Driver
// exactly so that existing manifests and objects round-trip unchanged.
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Provider is the name of a provider plugin; the driver dials
// <provider-dir>/<Provider>.sock.
type Provider string

// SecretObjectData maps one mounted object (by its file name, which is the
// objectAlias when one is set) to a key in the synced Kubernetes Secret.
type SecretObjectData struct {
	// ObjectName is the name of the mounted file to read.
	ObjectName string `json:"objectName,omitempty"`
	// Key is the data key in the Kubernetes Secret.
	Key string `json:"key,omitempty"`
}

// SecretObject describes one Kubernetes Secret to create from mounted content.
type SecretObject struct {
	// SecretName is the name of the Kubernetes Secret.
	SecretName string `json:"secretName,omitempty"`
	// Type is the Kubernetes Secret type (Opaque, kubernetes.io/tls, ...).
	Type string `json:"type,omitempty"`
	// Labels are added to the Kubernetes Secret.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are added to the Kubernetes Secret.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Data lists the mounted objects and the keys they become.
	Data []SecretObjectData `json:"data,omitempty"`
}

// SecretProviderClassSpec is what users write: which provider, with which
// parameters, and which Kubernetes Secrets to sync.
type SecretProviderClassSpec struct {
	// Provider is the provider plugin name, e.g. "azure".
	Provider Provider `json:"provider,omitempty"`
	// Parameters are passed to the provider unchanged (as Mount attributes).
	Parameters map[string]string `json:"parameters,omitempty"`
	// SecretObjects are the Kubernetes Secrets to sync once a pod mounts.
	SecretObjects []SecretObject `json:"secretObjects,omitempty"`
}

// ByPodStatus names a pod that references the SecretProviderClass. Upstream
// keeps the field for compatibility; kvcsi does not fill it.
type ByPodStatus struct {
	ID        string `json:"id,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// SecretProviderClassStatus is kept for wire compatibility with upstream.
type SecretProviderClassStatus struct {
	ByPod []ByPodStatus `json:"byPod,omitempty"`
}

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SecretProviderClass is the namespaced description of what to mount from
// which provider.
type SecretProviderClass struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SecretProviderClassSpec   `json:"spec,omitempty"`
	Status SecretProviderClassStatus `json:"status,omitempty"`
}

// SecretProviderClassList is a list of SecretProviderClass.
type SecretProviderClassList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecretProviderClass `json:"items"`
}

// SecretProviderClassObject is one mounted object and its provider-defined
// version; rotation sends these back as current_object_version.
type SecretProviderClassObject struct {
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
}

// SecretProviderClassPodStatusStatus records one mount of one pod.
type SecretProviderClassPodStatusStatus struct {
	PodName                 string                      `json:"podName,omitempty"`
	SecretProviderClassName string                      `json:"secretProviderClassName,omitempty"`
	Mounted                 bool                        `json:"mounted,omitempty"`
	TargetPath              string                      `json:"targetPath,omitempty"`
	Objects                 []SecretProviderClassObject `json:"objects,omitempty"`
}

// SecretProviderClassPodStatus is written by the driver on the node that
// mounts a volume; it is named <pod>-<namespace>-<spc> and labelled with the
// node name so each driver watches only its own.
type SecretProviderClassPodStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status SecretProviderClassPodStatusStatus `json:"status,omitempty"`
}

// SecretProviderClassPodStatusList is a list of SecretProviderClassPodStatus.
type SecretProviderClassPodStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecretProviderClassPodStatus `json:"items"`
}
