package rotation

import (
	"context"
	"encoding/json"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tokenRequest is one audience of the CSIDriver's spec.tokenRequests.
type tokenRequest struct {
	audience          string
	expirationSeconds *int64
}

// tokenRequests reads the CSIDriver's tokenRequests: the audiences kubelet would mint tokens for
// in NodePublishVolume (workload identity uses api://AzureADTokenExchange).
func (r *Rotator) tokenRequests(ctx context.Context) ([]tokenRequest, error) {
	d, err := r.cfg.Kube.StorageV1().CSIDrivers().Get(ctx, r.cfg.DriverName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		hint := ""
		if apierrors.IsForbidden(err) {
			hint = " (grant the driver's ClusterRole get on storage.k8s.io csidrivers)"
		}
		return nil, fmt.Errorf("failed to get CSIDriver %s for its tokenRequests%s: %w", r.cfg.DriverName, hint, err)
	}
	out := make([]tokenRequest, 0, len(d.Spec.TokenRequests))
	for _, t := range d.Spec.TokenRequests {
		out = append(out, tokenRequest{audience: t.Audience, expirationSeconds: t.ExpirationSeconds})
	}
	return out, nil
}

// tokens mints a token per audience bound to the pod, as kubelet does, and encodes them the way
// kubelet puts them in csi.storage.k8s.io/serviceAccount.tokens. The tokens are never logged;
// errors name only the audience and the service account.
func (r *Rotator) tokens(ctx context.Context, pod *corev1.Pod, reqs []tokenRequest) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	out := make(map[string]authenticationv1.TokenRequestStatus, len(reqs))
	for _, t := range reqs {
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: t.expirationSeconds,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		}}
		if t.audience != "" {
			tr.Spec.Audiences = []string{t.audience}
		}
		got, err := r.cfg.Kube.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
		if err != nil {
			return "", fmt.Errorf("failed to request a token for audience %q of service account %s/%s: %w", t.audience, pod.Namespace, sa, err)
		}
		out[t.audience] = got.Status
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encoding service account tokens: %w", err)
	}
	return string(b), nil
}
