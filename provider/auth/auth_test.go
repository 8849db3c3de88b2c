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
		{"two tokens of one service account", mount(wi(saA1), "ns", "p1"), mount(wi(saA2), "ns", "p2")},
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
