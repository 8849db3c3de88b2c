package auth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/kvcsi/kvcsi/provider/cloudenv"
	"github.com/kvcsi/kvcsi/provider/params"
)

func jwtWith(payload string) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(`{"alg":"RS256"}`)) + "." + e([]byte(payload)) + ".sig"
}

func mount(id params.Identity, ns, pod string) *params.Mount {
	env, _ := cloudenv.Lookup("AzurePublicCloud", "")
	return &params.Mount{PodNamespace: ns, PodName: pod, TenantID: "t", Cloud: env, Identity: id}
}

// TestKeySeparatesIdentities: equal keys only where the same tokens would
// be issued; everything else must differ.
func TestKeySeparatesIdentities(t *testing.T) {
	sp := params.Identity{Mode: params.ServicePrincipal, ClientID: "c", ClientSecret: "s1"}
	sp2 := sp
	sp2.ClientSecret = "s2"
	wi := func(tok string) params.Identity {
		return params.Identity{Mode: params.WorkloadIdentity, ClientID: "c", FederatedToken: tok}
	}
	saA1 := jwtWith(`{"iss":"https://k8s","sub":"system:serviceaccount:ns:a","exp":1}`)
	saA2 := jwtWith(`{"iss":"https://k8s","sub":"system:serviceaccount:ns:a","exp":2}`)
	saB := jwtWith(`{"iss":"https://k8s","sub":"system:serviceaccount:ns:b"}`)
	same := []struct {
		name string
		a, b *params.Mount
	}{
		{"service principal on two pods", mount(sp, "ns", "p1"), mount(sp, "ns2", "p2")},
		{"byte-identical service-account tokens", mount(wi(saA1), "ns", "p1"), mount(wi(saA1), "ns", "p1")},
		{"one pod under pod identity", mount(params.Identity{Mode: params.PodIdentity}, "ns", "p1"), mount(params.Identity{Mode: params.PodIdentity}, "ns", "p1")},
		{"system-assigned identity on two pods", mount(params.Identity{Mode: params.VMManagedIdentity}, "ns", "p1"), mount(params.Identity{Mode: params.VMManagedIdentity}, "x", "p2")},
	}
	for _, tc := range same {
		if Key(tc.a) != Key(tc.b) {
			t.Errorf("%s: keys differ", tc.name)
		}
	}
	pub := mount(sp, "ns", "p")
	other := mount(sp, "ns", "p")
	other.TenantID = "t2"
	differ := []struct {
		name string
		a, b *params.Mount
	}{
		{"client secrets", mount(sp, "ns", "p"), mount(sp2, "ns", "p")},
		{"tenants", pub, other},
		{"service accounts", mount(wi(saA1), "ns", "p"), mount(wi(saB), "ns", "p")},
		// The issuer and subject of an unverified token are no proof: two
		// tokens naming the same service account share nothing.
		{"two tokens of one service account", mount(wi(saA1), "ns", "p1"), mount(wi(saA2), "ns", "p2")},
		{"a forged token copying another's iss/sub", mount(wi(saA1), "ns", "p"), mount(wi(forged(saA1)), "ns", "p")},
		{"pod uids under pod identity", podUID("u1"), podUID("u2")},
		{"unparsable tokens", mount(wi("opaque-1"), "ns", "p"), mount(wi("opaque-2"), "ns", "p")},
		{"pods under pod identity", mount(params.Identity{Mode: params.PodIdentity}, "ns", "p1"), mount(params.Identity{Mode: params.PodIdentity}, "ns", "p2")},
		{"user-assigned vs system", mount(params.Identity{Mode: params.VMManagedIdentity, UserAssignedIdentityID: "u"}, "ns", "p"), mount(params.Identity{Mode: params.VMManagedIdentity}, "ns", "p")},
		{"modes", mount(params.Identity{Mode: params.VMManagedIdentity}, "ns", "p"), mount(params.Identity{Mode: params.PodIdentity}, "ns", "p")},
	}
	for _, tc := range differ {
		if Key(tc.a) == Key(tc.b) {
			t.Errorf("%s: keys equal", tc.name)
		}
	}
	if k := Key(mount(sp, "ns", "p")); strings.Contains(k, "s1") || len(k) != 64 {
		t.Errorf("key %q is not an opaque hash", k)
	}
}

// forged re-signs a token's claims with alg none, keeping iss and sub.
func forged(tok string) string {
	parts := strings.Split(tok, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
}

func podUID(uid string) *params.Mount {
	m := mount(params.Identity{Mode: params.PodIdentity}, "ns", "p")
	m.PodUID = uid
	return m
}

// TestWorkloadCredentialPerToken: the credential built for one token is
// never handed to a request with other token bytes, whatever their claims.
func TestWorkloadCredentialPerToken(t *testing.T) {
	c := New(Options{})
	victim := jwtWith(`{"iss":"https://k8s","sub":"system:serviceaccount:ns:a"}`)
	wi := func(tok string) *params.Mount {
		return mount(params.Identity{Mode: params.WorkloadIdentity, ClientID: "c", FederatedToken: tok}, "ns", "p")
	}
	c1, k1, err := c.Get(wi(victim))
	if err != nil {
		t.Fatal(err)
	}
	c2, k2, _ := c.Get(wi(victim))
	if c1 != c2 || k1 != k2 {
		t.Fatal("byte-identical tokens did not share the credential")
	}
	c3, k3, _ := c.Get(wi(forged(victim)))
	if c3 == c1 || k3 == k1 {
		t.Fatal("a forged token with the victim's iss/sub got the victim's credential")
	}
	if strings.Contains(k1, victim) || strings.Contains(k1, "serviceaccount") {
		t.Fatalf("key %q shows the token", k1)
	}
}

// TestProofFoldsTheNMITokenIntoTheKey: pod identity content is keyed by the
// token NMI returned for the pod, and an NMI refusal is an error.
func TestProofFoldsTheNMITokenIntoTheKey(t *testing.T) {
	var tok atomic.Value
	tok.Store("tok-1")
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	nmi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("podname") != "p" {
			http.Error(w, "no binding", http.StatusForbidden)
			return
		}
		w.Write([]byte(`{"token":{"access_token":"` + tok.Load().(string) + `","expires_on":"` + exp + `"}}`))
	}))
	defer nmi.Close()
	c := New(Options{NMIEndpoint: nmi.URL, Transport: nmi.Client()})
	m := podUID("u1")
	cred, key, err := c.Get(m)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := Proof(context.Background(), m, cred, key)
	if err != nil || p1 == key {
		t.Fatalf("proof %q, %v", p1, err)
	}
	again, _ := Proof(context.Background(), m, cred, key)
	if again != p1 {
		t.Fatal("the same pod with the same NMI token got another key")
	}
	// Another pod object (new uid, new credential) given another token.
	tok.Store("tok-2")
	m2 := podUID("u2")
	cred2, key2, _ := c.Get(m2)
	if p2, _ := Proof(context.Background(), m2, cred2, key2); p2 == p1 {
		t.Fatal("two NMI tokens share a key")
	}
	unbound := mount(params.Identity{Mode: params.PodIdentity}, "ns", "other")
	cred3, key3, _ := c.Get(unbound)
	if _, err := Proof(context.Background(), unbound, cred3, key3); err == nil {
		t.Fatal("a pod NMI refuses got a key")
	}
	sp := mount(params.Identity{Mode: params.ServicePrincipal, ClientID: "c", ClientSecret: "s"}, "ns", "p")
	if k, err := Proof(context.Background(), sp, nil, "k"); k != "k" || err != nil {
		t.Fatalf("service principal proof %q, %v", k, err)
	}
}

func TestCredentialsAreReused(t *testing.T) {
	c := New(Options{})
	m := mount(params.Identity{Mode: params.ServicePrincipal, ClientID: "c", ClientSecret: "s"}, "ns", "p")
	c1, k1, err := c.Get(m)
	if err != nil {
		t.Fatal(err)
	}
	c2, k2, _ := c.Get(mount(m.Identity, "ns", "other-pod"))
	if c1 != c2 || k1 != k2 {
		t.Fatal("a service principal's credential was rebuilt for another pod")
	}
	c3, _, _ := c.Get(mount(params.Identity{Mode: params.ServicePrincipal, ClientID: "c", ClientSecret: "s2"}, "ns", "p"))
	if c3 == c1 {
		t.Fatal("another secret shares the credential")
	}
}

func TestNMICredential(t *testing.T) {
	var calls atomic.Int32
	exp := time.Now().Add(time.Hour).Unix()
	nmi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/host/token/" || r.URL.Query().Get("resource") != "https://vault.azure.net" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		if r.Header.Get("podns") != "ns" || r.Header.Get("podname") != "pod" {
			http.Error(w, "no binding", http.StatusForbidden)
			return
		}
		w.Write([]byte(`{"token":{"access_token":"tok","expires_on":"` + strconv.FormatInt(exp, 10) + `"},"clientid":"c"}`))
	}))
	defer nmi.Close()
	cred := newNMICredential(nmi.URL, "ns", "pod", nmi.Client(), time.Now)
	for i := 0; i < 2; i++ {
		tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		if tok.Token != "tok" || tok.ExpiresOn.Unix() != exp {
			t.Fatalf("token %+v", tok)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("NMI called %d times; the token must be cached", calls.Load())
	}
	_, err := newNMICredential(nmi.URL, "ns", "unbound", nmi.Client(), time.Now).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	nerr, ok := err.(*NMIError)
	if !ok || nerr.Status != 403 || strings.Contains(nerr.Msg, "tok") {
		t.Fatalf("unbound pod: %v", err)
	}
}
