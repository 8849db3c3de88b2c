package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of SecretSync.
const GroupName = "secret-sync.x-k8s.io"

// Names the controller puts on what it writes (upstream's).
const (
	// ControllerLabel is set (empty value) on every Secret the controller
	// writes; the policies let the controller update only such Secrets.
	ControllerLabel = "secrets-store.sync.x-k8s.io"
	// ReservedPrefix is the label and annotation prefix users may not set.
	ReservedPrefix = "secrets-store.sync.x-k8s.io"
	// FieldManager is the server-side apply field manager.
	FieldManager = "secrets-store-sync-controller"
)

// Condition types and reasons (upstream's conditions.go).
const (
	ConditionTypeCreate = "Create"
	ConditionTypeUpdate = "Update"

	ReasonCreateSucceeded                  = "CreateSucceeded"
	ReasonProviderError                    = "ProviderError"
	ReasonInvalidLabelError                = "InvalidClusterSecretLabelError"
	ReasonInvalidAnnotationError           = "InvalidClusterSecretAnnotationError"
	ReasonNoValueChange                    = "NoValueChange"
	ReasonValueChangeOrForceUpdateDetected = "ValueChangeOrForceUpdateDetected"
	ReasonUnknownError                     = "UnknownError"
	ReasonValidatingAdmissionPolicyFailed  = "ValidatingAdmissionPolicyCheckFailed"
	ReasonUserInputValidationFailed        = "UserInputValidationFailed"
	ReasonControllerSPCError               = "ControllerSPCError"
	ReasonControllerInternalError          = "ControllerInternalError"
)

var (
	// SchemeGroupVersion is secret-sync.x-k8s.io/v1alpha1.
	SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}
	// Resource is the secretsyncs resource.
	Resource = SchemeGroupVersion.WithResource("secretsyncs")

	// SchemeBuilder registers the types of this version.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types of this version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &SecretSync{}, &SecretSyncList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
