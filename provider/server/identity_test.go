package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/provider/server"
)

// TestIdentityModes mounts one secret with each identity mode, each
// authenticating against the emulator's Entra ID, IMDS or NMI.
func TestIdentityModes(t *testing.T) {
	e := newEnv(t, server.Config{})
	obj := objs("objectName: db-password; objectType: secret")
	tokens := func(tok string) string {
		return mustJSON(map[string]any{"api://AzureADTokenExchange": map[string]string{"token": tok, "expirationTimestamp": time.Now().Add(time.Hour).Format(time.RFC3339)}})
	}
	tests := []struct {
		name    string
		attrs   map[string]string
		secrets map[string]string
		code    codes.Code
	}{
		{"service principal", e.attrs(obj), spSecrets(readerID, readerSecret), codes.OK},
		{"service principal, upper-case keys", e.attrs(obj), map[string]string{"ClientID": readerID, "ClientSecret": readerSecret}, codes.OK},
		{"workload identity", e.attrs(obj, "clientID", workloadID, "csi.storage.k8s.io/serviceAccount.tokens", tokens(e.saToken(t, "default", "workload-identity-sa"))), nil, codes.OK},
		{"workload identity, service account not federated", e.attrs(obj, "clientID", workloadID, "csi.storage.k8s.io/serviceAccount.tokens", tokens(e.saToken(t, "default", "other-sa"))), nil, codes.Unauthenticated},
		{"system-assigned VM managed identity", e.attrs(obj, "useVMManagedIdentity", "true"), nil, codes.OK},
		{"user-assigned VM managed identity", e.attrs(obj, "useVMManagedIdentity", "true", "userAssignedIdentityID", userMIID), nil, codes.OK},
		{"pod identity", e.attrs(obj, "usePodIdentity", "true", "csi.storage.k8s.io/pod.namespace", "podid"), nil, codes.OK},
		{"pod identity, pod without binding", e.attrs(obj, "usePodIdentity", "true"), nil, codes.PermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.mount(context.Background(), tc.attrs, tc.secrets)
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code %v (%v), want %v", got, err, tc.code)
			}
			if tc.code == codes.OK && files(r)["db-password"] != "second-password" {
				t.Fatalf("files = %v", files(r))
			}
		})
	}
}

// TestCacheNeverCrossesIdentities: with the cache on and another identity's
// fetch of the same object cached, an identity without access still gets
// PermissionDenied, and Key Vault is asked again for it.
func TestCacheNeverCrossesIdentities(t *testing.T) {
	e := newEnv(t, server.Config{CacheTTL: time.Hour})
	attrs := e.attrs(objs("objectName: db-password; objectType: secret"))
	r, err := e.mount(context.Background(), attrs, spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	before := getCount(t, e, "db-password")
	// The reader's next (rotation) Mount is served from the cache: no Key Vault call.
	if _, err := e.remount(context.Background(), attrs, spSecrets(readerID, readerSecret), r.ObjectVersion); err != nil {
		t.Fatal(err)
	}
	if n := getCount(t, e, "db-password"); n != before {
		t.Fatalf("cached Mount called Key Vault: %d -> %d", before, n)
	}
	_, err = e.mount(context.Background(), attrs, spSecrets(outsiderID, outsiderSecret))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("outsider got %v, want PermissionDenied", err)
	}
	if n := getCount(t, e, "db-password"); n == before {
		t.Fatal("the outsider's Mount was answered from the reader's cache")
	}
	// The same client id with a wrong secret is another identity too.
	_, err = e.mount(context.Background(), attrs, spSecrets(readerID, "wrong-secret"))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong secret got %v, want Unauthenticated", err)
	}
}

// TestSingleflightCollapsesConcurrentMounts lives in provider/keyvault,
// where the shared call can be held until every caller has joined it.

// fakeClock is a settable clock for the cache.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestCacheTTLAndRotation: within the TTL a rotated secret is served from the
// cache; once the TTL has passed the next Mount sees the new version.
func TestCacheTTLAndRotation(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	e := newEnv(t, server.Config{CacheTTL: 30 * time.Second, Now: clock.Now})
	attrs := e.attrs(objs("objectName: db-password; objectType: secret"))
	r1, err := e.mount(context.Background(), attrs, spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.emu.Admin().SetSecret("kv1", "db-password", "third-password"); err != nil {
		t.Fatal(err)
	}
	clock.Add(29 * time.Second)
	r2, err := e.remount(context.Background(), attrs, spSecrets(readerID, readerSecret), r1.ObjectVersion)
	if err != nil {
		t.Fatal(err)
	}
	if files(r2)["db-password"] != "second-password" || r2.ObjectVersion[0].Version != r1.ObjectVersion[0].Version {
		t.Fatalf("within the TTL: %v", files(r2))
	}
	// A new pod's first Mount within the TTL sees the vault as it is now.
	fresh, err := e.mount(context.Background(), attrs, spSecrets(readerID, readerSecret))
	if err != nil {
		t.Fatal(err)
	}
	if files(fresh)["db-password"] != "third-password" {
		t.Fatalf("a first mount within the TTL was served the cached version: %v", files(fresh))
	}
	clock.Add(2 * time.Second)
	r3, err := e.remount(context.Background(), attrs, spSecrets(readerID, readerSecret), r2.ObjectVersion)
	if err != nil {
		t.Fatal(err)
	}
	if files(r3)["db-password"] != "third-password" || r3.ObjectVersion[0].Version == r1.ObjectVersion[0].Version {
		t.Fatalf("after the TTL: %v %v", files(r3), r3.ObjectVersion)
	}
}
