// Package secretsynccontroller is kvcsi's secrets-store-sync-controller:
// for every SecretSync (secret-sync.x-k8s.io/v1alpha1) it asks the
// SecretProviderClass's provider over the driver↔provider gRPC protocol —
// with a service-account token it requests itself, and no pod, volume or
// node — and writes the Kubernetes Secret named as the SecretSync,
// owner-referenced to it, with upstream's conditions and events.
package secretsynccontroller

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	ssv1alpha1 "github.com/kvcsi/kvcsi/api/secretsync/v1alpha1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// TokenExpirationSeconds is the lifetime of the tokens the controller
// requests (upstream's policy admits 600 only).
const TokenExpirationSeconds int64 = 600

// Providers gives a provider client by name (providerclient.Pool).
type Providers interface {
	Client(provider string) (providerv1alpha1.CSIDriverProviderClient, error)
}

var _ Providers = (*providerclient.Pool)(nil)

// Reconciler syncs one SecretSync at a time; Run drives it.
type Reconciler struct {
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	Providers Providers
	// Audiences are --token-request-audience; one token each.
	Audiences []string
	// PodName and PodUID are the controller's own pod, sent as the pod
	// attributes (upstream does the same).
	PodName, PodUID string
	Events          record.EventRecorder
	Log             logr.Logger
	Metrics         *Metrics
	// Now is time.Now unless a test sets it.
	Now func() time.Time
}

// outcome is the result of one reconcile.
type outcome struct {
	reason  string
	message string
	err     error
}

func (o *outcome) Error() string { return o.message }

func fail(reason, format string, args ...any) *outcome {
	msg := fmt.Sprintf(format, args...)
	return &outcome{reason: reason, message: msg, err: errors.New(msg)}
}

// Reconcile syncs the SecretSync namespace/name once: it always asks the
// provider, and writes the Secret when the keyed hash changed, the last
// attempt failed or force is set. It returns an error when a retry is due.
func (r *Reconciler) Reconcile(ctx context.Context, namespace, name string) error {
	u, err := r.Dynamic.Resource(ssv1alpha1.Resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // deleted: the garbage collector deletes the Secret
	}
	if err != nil {
		return err
	}
	ss := &ssv1alpha1.SecretSync{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ss); err != nil {
		return fmt.Errorf("decode SecretSync %s/%s: %w", namespace, name, err)
	}
	ss.APIVersion, ss.Kind = ssv1alpha1.SchemeGroupVersion.String(), "SecretSync"

	condType := ssv1alpha1.ConditionTypeUpdate
	if ss.Status.SyncHash == "" {
		condType = ssv1alpha1.ConditionTypeCreate
	}
	start := r.now()
	hash, data, o := r.fetch(ctx, ss)
	if o == nil {
		prevFailed := lastFailed(ss)
		changed := hash != ss.Status.SyncHash
		if changed || prevFailed {
			if err := r.apply(ctx, ss, data); err != nil {
				o = applyOutcome(ss, err)
			}
		}
		if o == nil {
			reason := ssv1alpha1.ReasonNoValueChange
			switch {
			case condType == ssv1alpha1.ConditionTypeCreate:
				setCondition(ss, ssv1alpha1.ConditionTypeCreate, metav1.ConditionTrue, ssv1alpha1.ReasonCreateSucceeded, "Secret created successfully.")
			case changed:
				reason = ssv1alpha1.ReasonValueChangeOrForceUpdateDetected
			}
			msg := "The secret was updated successfully at the end of the poll interval and no value change was detected."
			if reason == ssv1alpha1.ReasonValueChangeOrForceUpdateDetected {
				msg = "The secret was updated successfully: a value change or a force update was detected."
			}
			if condType == ssv1alpha1.ConditionTypeCreate {
				msg = "The secret was created and is up to date."
			}
			setCondition(ss, ssv1alpha1.ConditionTypeUpdate, metav1.ConditionTrue, reason, msg)
			ss.Status.SyncHash = hash
			now := metav1.NewTime(r.now())
			ss.Status.LastSuccessfulSyncTime = &now
			if changed || condType == ssv1alpha1.ConditionTypeCreate {
				r.event(ss, corev1.EventTypeNormal, reason, fmt.Sprintf("Secret %s/%s synced", ss.Namespace, ss.Name))
			}
			r.Metrics.observe("", r.now().Sub(start))
		}
	}
	if o != nil {
		status := metav1.ConditionFalse
		if o.reason == ssv1alpha1.ReasonUnknownError || o.reason == ssv1alpha1.ReasonControllerInternalError {
			status = metav1.ConditionUnknown
		}
		setCondition(ss, condType, status, o.reason, o.message)
		r.event(ss, corev1.EventTypeWarning, o.reason, o.message)
		r.Log.Info("SecretSync failed", "namespace", ss.Namespace, "name", ss.Name, "reason", o.reason, "message", o.message)
		r.Metrics.observe(o.reason, r.now().Sub(start))
	}
	if err := r.updateStatus(ctx, ss); err != nil {
		return err
	}
	if o != nil {
		return o.err
	}
	return nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) event(ss *ssv1alpha1.SecretSync, typ, reason, msg string) {
	if r.Events != nil {
		r.Events.Event(ss, typ, reason, msg)
	}
}

func lastFailed(ss *ssv1alpha1.SecretSync) bool {
	for _, c := range ss.Status.Conditions {
		if c.Status != metav1.ConditionTrue {
			return true
		}
	}
	return false
}

func setCondition(ss *ssv1alpha1.SecretSync, typ string, st metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&ss.Status.Conditions, metav1.Condition{
		Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: ss.Generation,
	})
}

// fetch validates the SecretSync, reads its class, asks the provider and
// returns the Secret data and its keyed hash.
func (r *Reconciler) fetch(ctx context.Context, ss *ssv1alpha1.SecretSync) (string, map[string][]byte, *outcome) {
	for k := range ss.Spec.SecretObject.Labels {
		if strings.HasPrefix(k, ssv1alpha1.ReservedPrefix) {
			return "", nil, fail(ssv1alpha1.ReasonInvalidLabelError, "label %s is reserved for use by the Secrets Store Sync Controller", k)
		}
	}
	for k := range ss.Spec.SecretObject.Annotations {
		if strings.HasPrefix(k, ssv1alpha1.ReservedPrefix) {
			return "", nil, fail(ssv1alpha1.ReasonInvalidAnnotationError, "annotation %s is reserved for use by the Secrets Store Sync Controller", k)
		}
	}
	if len(ss.Spec.SecretObject.Data) == 0 {
		return "", nil, fail(ssv1alpha1.ReasonUserInputValidationFailed, "spec.secretObject.data is empty")
	}

	cu, err := r.Dynamic.Resource(secretsstorev1.SecretProviderClassesResource).Namespace(ss.Namespace).Get(ctx, ss.Spec.SecretProviderClassName, metav1.GetOptions{})
	if err != nil {
		return "", nil, fail(ssv1alpha1.ReasonControllerSPCError, "failed to get SecretProviderClass %q: %v", ss.Spec.SecretProviderClassName, err)
	}
	spc := &secretsstorev1.SecretProviderClass{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(cu.Object, spc); err != nil {
		return "", nil, fail(ssv1alpha1.ReasonControllerSPCError, "decode SecretProviderClass %q: %v", ss.Spec.SecretProviderClassName, err)
	}
	client, err := r.Providers.Client(string(spc.Spec.Provider))
	if err != nil {
		return "", nil, fail(ssv1alpha1.ReasonControllerSPCError, "SecretProviderClass %q: %s", spc.Name, status.Convert(err).Message())
	}

	attrs := make(map[string]string, len(spc.Spec.Parameters)+5)
	for k, v := range spc.Spec.Parameters {
		attrs[k] = v
	}
	attrs[driver.AttrPodName] = r.PodName
	attrs[driver.AttrPodUID] = r.PodUID
	attrs[driver.AttrPodNamespace] = ss.Namespace
	attrs[driver.AttrServiceAccountName] = ss.Spec.ServiceAccountName
	if len(r.Audiences) > 0 {
		tokens, o := r.tokens(ctx, ss.Namespace, ss.Spec.ServiceAccountName)
		if o != nil {
			return "", nil, o
		}
		attrs[driver.AttrServiceAccountToken] = tokens
	}
	attrsJSON, err := json.Marshal(attrs)
	if err != nil {
		return "", nil, fail(ssv1alpha1.ReasonControllerInternalError, "encode attributes: %v", err)
	}
	resp, err := client.Mount(ctx, &providerv1alpha1.MountRequest{
		Attributes: string(attrsJSON),
		Secrets:    "{}",
		Permission: "420",
	})
	if err != nil {
		return "", nil, fail(ssv1alpha1.ReasonProviderError, "fetching secrets from the provider failed: %s", status.Convert(err).Message())
	}
	if c := resp.GetError().GetCode(); c != "" {
		return "", nil, fail(ssv1alpha1.ReasonProviderError, "fetching secrets from the provider failed: error code %s", c)
	}
	files := make(map[string][]byte, len(resp.GetFiles()))
	for _, f := range resp.GetFiles() {
		files[f.GetPath()] = f.GetContents()
	}
	data := make(map[string][]byte, len(ss.Spec.SecretObject.Data))
	for _, d := range ss.Spec.SecretObject.Data {
		b, ok := files[d.SourcePath]
		if !ok {
			paths := make([]string, 0, len(files))
			for p := range files {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			return "", nil, fail(ssv1alpha1.ReasonUserInputValidationFailed,
				"sourcePath %q is not among the files the provider returned for SecretProviderClass %q (%s)", d.SourcePath, spc.Name, strings.Join(paths, ", "))
		}
		data[d.TargetKey] = b
	}
	return syncHash(data, spc, ss), data, nil
}

// tokens requests one token per audience for the service account and
// encodes them as kubelet does for csi.storage.k8s.io/serviceAccount.tokens.
// Errors name the audience and the account, never a token.
func (r *Reconciler) tokens(ctx context.Context, namespace, sa string) (string, *outcome) {
	out := make(map[string]authenticationv1.TokenRequestStatus, len(r.Audiences))
	for _, aud := range r.Audiences {
		exp := TokenExpirationSeconds
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{aud}, ExpirationSeconds: &exp}}
		got, err := r.Kube.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
		if err != nil {
			reason := ssv1alpha1.ReasonControllerInternalError
			if apierrors.IsNotFound(err) {
				reason = ssv1alpha1.ReasonUserInputValidationFailed
			}
			return "", fail(reason, "failed to request a token for audience %q of service account %s/%s: %v", aud, namespace, sa, err)
		}
		out[aud] = got.Status
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fail(ssv1alpha1.ReasonControllerInternalError, "encode service account tokens: %v", err)
	}
	return string(b), nil
}

// syncHash is an HMAC-SHA512 keyed with a PBKDF2 key derived from the data
// and identities, salted with the SecretSync's UID (upstream's
// construction): never a plain hash of the secret bytes.
func syncHash(data map[string][]byte, spc *secretsstorev1.SecretProviderClass, ss *ssv1alpha1.SecretSync) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		b = strconv.AppendQuote(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(len(data[k])), 10)
		b = append(b, ':')
		b = append(b, data[k]...)
		b = append(b, '|')
	}
	ids := strings.Join([]string{
		string(spc.UID), strconv.FormatInt(spc.Generation, 10),
		string(ss.UID), strconv.FormatInt(ss.Generation, 10), ss.Spec.ForceSynchronization,
		ss.Spec.SecretObject.Type,
	}, "|")
	b = append(b, ids...)
	dk, err := pbkdf2.Key(sha512.New, string(b), []byte(ss.UID), 100_000, 32)
	if err != nil {
		panic(err) // only for invalid lengths
	}
	m := hmac.New(sha512.New, dk)
	m.Write(dk)
	return hex.EncodeToString(m.Sum(nil))
}

// apply writes the Secret with server-side apply as the controller's field
// manager: data, type, the user's labels and annotations, the controller
// label and the SecretSync as its only owner.
func (r *Reconciler) apply(ctx context.Context, ss *ssv1alpha1.SecretSync, data map[string][]byte) error {
	labels := map[string]string{ssv1alpha1.ControllerLabel: ""}
	for k, v := range ss.Spec.SecretObject.Labels {
		labels[k] = v
	}
	typ := ss.Spec.SecretObject.Type
	if typ == "" {
		typ = string(corev1.SecretTypeOpaque)
	}
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ss.Name, Namespace: ss.Namespace,
			Labels: labels, Annotations: ss.Spec.SecretObject.Annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: ssv1alpha1.SchemeGroupVersion.String(), Kind: "SecretSync", Name: ss.Name, UID: ss.UID,
			}},
		},
		Data: data,
		Type: corev1.SecretType(typ),
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	force := true
	_, err = r.Kube.CoreV1().Secrets(ss.Namespace).Patch(ctx, ss.Name, types.ApplyPatchType, b,
		metav1.PatchOptions{FieldManager: ssv1alpha1.FieldManager, Force: &force})
	return err
}

// applyOutcome maps a failed apply to upstream's reasons. The apiserver's
// message names policies, fields and types, never a value.
func applyOutcome(ss *ssv1alpha1.SecretSync, err error) *outcome {
	msg := err.Error()
	switch {
	case strings.Contains(strings.ToLower(msg), "validatingadmissionpolicy"):
		return fail(ssv1alpha1.ReasonValidatingAdmissionPolicyFailed, "failed to patch secret %q: %s", ss.Name, msg)
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		return fail(ssv1alpha1.ReasonUserInputValidationFailed, "failed to patch secret %q: %s", ss.Name, msg)
	default:
		return fail(ssv1alpha1.ReasonUnknownError, "failed to patch secret %q: %s", ss.Name, msg)
	}
}

func (r *Reconciler) updateStatus(ctx context.Context, ss *ssv1alpha1.SecretSync) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ss)
	if err != nil {
		return err
	}
	_, err = r.Dynamic.Resource(ssv1alpha1.Resource).Namespace(ss.Namespace).UpdateStatus(ctx, &unstructured.Unstructured{Object: obj}, metav1.UpdateOptions{})
	return err
}
