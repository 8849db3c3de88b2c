package rotation

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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
// kubelet puts them in csi.storage.k8s.io/serviceAccount.tokens. A token minted by an earlier
// rotation of the same pod is handed out again until it is due for refresh (see tokenCache). The
// tokens are never logged; errors name only the audience and the service account.
func (r *Rotator) tokens(ctx context.Context, pod *corev1.Pod, reqs []tokenRequest) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	out := make(map[string]authenticationv1.TokenRequestStatus, len(reqs))
	for _, t := range reqs {
		key := tokenKey{pod: pod.UID, serviceAccount: sa, audience: t.audience}
		if t.expirationSeconds != nil {
			key.expirationSeconds = *t.expirationSeconds
		}
		if st, ok := r.minted.get(key); ok {
			out[t.audience] = st
			continue
		}
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
		r.minted.put(key, got.Status)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encoding service account tokens: %w", err)
	}
	return string(b), nil
}

// tokenCache keeps the tokens minted for rotation and hands a pod's token out again until 80% of
// its lifetime has passed or 24 hours, whichever comes first: kubelet's token manager rule for the
// tokens it gives NodePublishVolume. Minting anew every rotation interval would cost the apiserver a
// TokenRequest per pod per interval and, because the provider keys a workload-identity credential
// on the exact token, an Entra ID token exchange per pod per interval too.
//
// A token is bound to its pod's UID, which is in the key: a pod recreated under the same name gets
// its own token. Entries are dropped when they are due, so the cache holds at most one token per
// (pod, audience) that rotated within a token lifetime.
type tokenCache struct {
	mu        sync.Mutex
	m         map[tokenKey]mintedToken
	lastPrune time.Time
	now       func() time.Time // tests
}

type tokenKey struct {
	pod               types.UID
	serviceAccount    string
	audience          string
	expirationSeconds int64
}

type mintedToken struct {
	status    authenticationv1.TokenRequestStatus
	refreshAt time.Time
}

// maxTokenReuse is kubelet's upper bound on how long it hands out one token.
const maxTokenReuse = 24 * time.Hour

func (c *tokenCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *tokenCache) get(k tokenKey) (authenticationv1.TokenRequestStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || !c.clock().Before(e.refreshAt) {
		return authenticationv1.TokenRequestStatus{}, false
	}
	return e.status, true
}

// forget drops every token of the pod.
func (c *tokenCache) forget(pod types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.pod == pod {
			delete(c.m, k)
		}
	}
}

func (c *tokenCache) put(k tokenKey, st authenticationv1.TokenRequestStatus) {
	now := c.clock()
	exp := st.ExpirationTimestamp.Time
	if exp.IsZero() || !exp.After(now) {
		return // no lifetime to share
	}
	refreshAt := now.Add(min(exp.Sub(now)*8/10, maxTokenReuse))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[tokenKey]mintedToken{}
	}
	c.m[k] = mintedToken{status: st, refreshAt: refreshAt}
	if now.Sub(c.lastPrune) >= time.Minute {
		c.lastPrune = now
		for k, e := range c.m {
			if !now.Before(e.refreshAt) {
				delete(c.m, k)
			}
		}
	}
}
