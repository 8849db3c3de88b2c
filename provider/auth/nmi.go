package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// nmiCredential gets tokens for one pod from aad-pod-identity's NMI
// (deprecated upstream, still supported): GET <nmi>/host/token/?resource=…
// with headers podns and podname. Tokens are cached per resource until five
// minutes before they expire.
type nmiCredential struct {
	endpoint, ns, pod string
	transport         policy.Transporter
	now               func() time.Time

	mu    sync.Mutex
	cache map[string]azcore.AccessToken
}

func newNMICredential(endpoint, ns, pod string, t policy.Transporter, now func() time.Time) *nmiCredential {
	if t == nil {
		t = http.DefaultClient
	}
	return &nmiCredential{endpoint: strings.TrimRight(endpoint, "/"), ns: ns, pod: pod, transport: t, now: now, cache: map[string]azcore.AccessToken{}}
}

type nmiResponse struct {
	Token struct {
		AccessToken string      `json:"access_token"`
		ExpiresOn   json.Number `json:"expires_on"`
	} `json:"token"`
	ClientID string `json:"clientid"`
}

func (n *nmiCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) == 0 {
		return azcore.AccessToken{}, fmt.Errorf("pod identity: no scope requested")
	}
	resource := strings.TrimSuffix(strings.TrimSuffix(opts.Scopes[0], "/.default"), "/")
	n.mu.Lock()
	if t, ok := n.cache[resource]; ok && n.now().Add(5*time.Minute).Before(t.ExpiresOn) {
		n.mu.Unlock()
		return t, nil
	}
	n.mu.Unlock()

	u := n.endpoint + "/host/token/?resource=" + url.QueryEscape(resource)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return azcore.AccessToken{}, fmt.Errorf("pod identity: bad NMI endpoint %q: %v", n.endpoint, err)
	}
	req.Header.Set("podns", n.ns)
	req.Header.Set("podname", n.pod)
	resp, err := n.transport.Do(req)
	if err != nil {
		return azcore.AccessToken{}, &NMIError{Msg: fmt.Sprintf("pod identity: NMI at %s is unreachable: %v; check that aad-pod-identity runs on this node", n.endpoint, err), Unavailable: true}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return azcore.AccessToken{}, &NMIError{Msg: fmt.Sprintf("pod identity: NMI returned HTTP %d for pod %s/%s: check the pod's AzureIdentityBinding", resp.StatusCode, n.ns, n.pod), Status: resp.StatusCode}
	}
	var r nmiResponse
	if err := json.Unmarshal(body, &r); err != nil || r.Token.AccessToken == "" {
		return azcore.AccessToken{}, &NMIError{Msg: "pod identity: NMI response has no token.access_token", Unavailable: true}
	}
	exp, err := strconv.ParseInt(r.Token.ExpiresOn.String(), 10, 64)
	if err != nil {
		return azcore.AccessToken{}, &NMIError{Msg: "pod identity: NMI token.expires_on is not a Unix time", Unavailable: true}
	}
	t := azcore.AccessToken{Token: r.Token.AccessToken, ExpiresOn: time.Unix(exp, 0)}
	n.mu.Lock()
	n.cache[resource] = t
	n.mu.Unlock()
	return t, nil
}

// NMIError is a pod identity failure; its message holds no token.
type NMIError struct {
	Msg         string
	Status      int
	Unavailable bool
}

func (e *NMIError) Error() string { return e.Msg }
