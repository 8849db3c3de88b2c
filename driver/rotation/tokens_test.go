package rotation

import (
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// TestRotationReusesTokenUntilRefreshDue: rotation mints a pod's token once and hands it out
// again until 80% of its lifetime has passed (kubelet's rule), then mints a new one; a token
// without an expiry is never reused.
func TestRotationReusesTokenUntilRefreshDue(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	e.rotator.minted.now = func() time.Time { return now }
	minted := 0
	e.kube.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		minted++
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		tr.Status.Token = token
		tr.Status.ExpirationTimestamp = metav1.NewTime(now.Add(time.Hour))
		return true, tr, nil
	})

	e.poll()
	e.poll()
	if minted != 1 {
		t.Errorf("two rotations within the token's lifetime minted %d tokens, want 1", minted)
	}
	if n := len(e.requests()); n != 2 {
		t.Fatalf("provider calls = %d, want 2", n)
	}

	now = now.Add(47 * time.Minute) // before 80% of 1h
	e.poll()
	if minted != 1 {
		t.Errorf("a rotation at 47 of 60 minutes minted a new token (%d minted)", minted)
	}
	now = now.Add(2 * time.Minute) // 49 minutes after minting: past 80%
	e.poll()
	if minted != 2 {
		t.Errorf("a rotation past 80%% of the token's lifetime reused it (%d minted, want 2)", minted)
	}

	// A provider failure (the identity may have refused the token) drops it: the next
	// rotation mints a new one.
	e.providerOK = false
	e.poll()
	e.providerOK = true
	e.rotator.mu.Lock()
	clear(e.rotator.backoff)
	e.rotator.mu.Unlock()
	e.poll()
	if minted != 3 {
		t.Errorf("the rotation after a provider failure reused the token (%d minted, want 3)", minted)
	}
}

func TestTokenCacheKeys(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	c := tokenCache{now: func() time.Time { return now }}
	st := authenticationv1.TokenRequestStatus{Token: "t", ExpirationTimestamp: metav1.NewTime(now.Add(10 * time.Minute))}
	k := tokenKey{pod: "uid-1", serviceAccount: "sa", audience: "api://AzureADTokenExchange"}
	c.put(k, st)
	if _, ok := c.get(k); !ok {
		t.Fatal("a fresh token was not reused")
	}
	for name, other := range map[string]tokenKey{
		"another pod UID (same name recreated)": {pod: "uid-2", serviceAccount: "sa", audience: k.audience},
		"another service account":               {pod: "uid-1", serviceAccount: "other", audience: k.audience},
		"another audience":                      {pod: "uid-1", serviceAccount: "sa", audience: "other"},
		"another expirationSeconds":             {pod: "uid-1", serviceAccount: "sa", audience: k.audience, expirationSeconds: 3600},
	} {
		if _, ok := c.get(other); ok {
			t.Errorf("%s got the token of uid-1", name)
		}
	}
	c.put(tokenKey{pod: "no-expiry"}, authenticationv1.TokenRequestStatus{Token: "t"})
	if _, ok := c.get(tokenKey{pod: "no-expiry"}); ok {
		t.Error("a token without an expiry was reused")
	}
	// 24 hours is the upper bound however long the token lives.
	long := tokenKey{pod: "long"}
	c.put(long, authenticationv1.TokenRequestStatus{Token: "t", ExpirationTimestamp: metav1.NewTime(now.Add(30 * 24 * time.Hour))})
	now = now.Add(24 * time.Hour)
	if _, ok := c.get(long); ok {
		t.Error("a 30-day token was reused after 24 hours")
	}
	// Due entries are pruned.
	c.put(tokenKey{pod: "trigger"}, authenticationv1.TokenRequestStatus{Token: "t", ExpirationTimestamp: metav1.NewTime(now.Add(time.Hour))})
	if _, ok := c.m[k]; ok {
		t.Error("an entry past its refresh time was not pruned")
	}
}
