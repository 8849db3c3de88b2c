package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of both CRDs.
const GroupName = "secrets-store.csi.x-k8s.io"

// Well-known labels and names shared by the driver's packages.
const (
	// NodeNameLabel is set on every SecretProviderClassPodStatus so that a
	// driver lists and watches only the statuses of its own node.
	NodeNameLabel = "internal.secrets-store.csi.k8s.io/node-name"
	// ManagedLabel marks Kubernetes Secrets the driver synced.
	ManagedLabel = "secrets-store.csi.k8s.io/managed"
	// UsedLabel marks nodePublishSecretRef Secrets the driver may read
	// during rotation.
	UsedLabel = "secrets-store.csi.k8s.io/used"
)

var (
	// SchemeGroupVersion is secrets-store.csi.x-k8s.io/v1.
	SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}
	// SecretProviderClassesResource is the resource of SecretProviderClass.
	SecretProviderClassesResource = SchemeGroupVersion.WithResource("secretproviderclasses")
	// SecretProviderClassPodStatusesResource is the resource of SecretProviderClassPodStatus.
	SecretProviderClassPodStatusesResource = SchemeGroupVersion.WithResource("secretproviderclasspodstatuses")

	// SchemeBuilder registers the types of this version.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types of this version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&SecretProviderClass{}, &SecretProviderClassList{},
		&SecretProviderClassPodStatus{}, &SecretProviderClassPodStatusList{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
