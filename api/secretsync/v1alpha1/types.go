// Package v1alpha1 holds the Go types of the secret-sync.x-k8s.io/v1alpha1
// API: the SecretSync of kubernetes-sigs/secrets-store-sync-controller
// (v0.0.4). Field names, JSON tags and validation match upstream so that its
// manifests work unchanged; the CRD YAML is in api/secretsync/crds.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretObjectData maps one file of the provider's MountResponse to one key
// of the Kubernetes Secret.
type SecretObjectData struct {
	// SourcePath is the path of a file in the MountResponse (an object name
	// or alias of the SecretProviderClass).
	SourcePath string `json:"sourcePath"`
	// TargetKey is the key in the Secret's data.
	TargetKey string `json:"targetKey"`
}

// SecretObject describes the Kubernetes Secret the controller writes.
type SecretObject struct {
	// Type is the Secret type; the CRD defaults it to Opaque.
	Type string `json:"type"`
	// Data lists the files and the keys they become (at least one).
	Data []SecretObjectData `json:"data"`
	// Labels are set on the Secret; the secrets-store.sync.x-k8s.io prefix is
	// reserved.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are set on the Secret; the secrets-store.sync.x-k8s.io
	// prefix is reserved.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// SecretSyncSpec is what the user asks for.
type SecretSyncSpec struct {
	// SecretSyncControllerName names the controller meant to act (default "").
	SecretSyncControllerName string `json:"secretSyncControllerName"`
	// SecretProviderClassName is a SecretProviderClass in the same namespace.
	SecretProviderClassName string `json:"secretProviderClassName"`
	// ServiceAccountName is the service account whose token the provider
	// gets (one per audience of --token-request-audience).
	ServiceAccountName string `json:"serviceAccountName"`
	// SecretObject is the Secret to write.
	SecretObject SecretObject `json:"secretObject"`
	// ForceSynchronization: any change syncs at once.
	ForceSynchronization string `json:"forceSynchronization,omitempty"`
}

// SecretSyncStatus is what the controller observed.
type SecretSyncStatus struct {
	// SyncHash is a keyed hash (HMAC, keyed by the SecretSync's UID) of the
	// synced data and of the SecretProviderClass and SecretSync identities
	// and generations; never a plain hash of the secret bytes.
	SyncHash string `json:"syncHash,omitempty"`
	// LastSuccessfulSyncTime is when the provider was last asked with
	// success and the Secret written.
	LastSuccessfulSyncTime *metav1.Time `json:"lastSuccessfulSyncTime,omitempty"`
	// Conditions are of types Create and Update (upstream's reasons).
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// SecretSync asks for one Kubernetes Secret, named as the SecretSync, with
// content from a provider and no pod.
type SecretSync struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SecretSyncSpec   `json:"spec,omitempty"`
	Status SecretSyncStatus `json:"status,omitempty"`
}

// SecretSyncList is a list of SecretSync.
type SecretSyncList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecretSync `json:"items"`
}
