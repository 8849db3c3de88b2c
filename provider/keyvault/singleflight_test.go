package keyvault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/provider/params"
)

// heldReads holds every authenticated read of one object until release is
// closed.
type heldReads struct {
	next    http.RoundTripper
	path    string
	release chan struct{}
}

func (h *heldReads) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.Header.Get("Authorization") != "" && strings.HasPrefix(req.URL.Path, h.path) {
		select {
		case <-h.release:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return h.next.RoundTrip(req)
}

// TestSingleflightCollapsesConcurrentMounts: n concurrent identical fetches
// of one identity (as n Mounts of pods sharing it cause) make exactly one
// Key Vault read. Deterministic: the read is held until all n callers have
// joined the shared call (the gate opens on the n-th join), so no caller
// can arrive after it finished.
func TestSingleflightCollapsesConcurrentMounts(t *testing.T) {
	emu, err := kvemulator.Start(context.Background(), kvemulator.Config{SeedFile: "../server/testdata/seed.yaml", DisableThrottling: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	base := &http.Transport{DialContext: emu.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(base.CloseIdleConnections)
	hc := &http.Client{Transport: base}
	cred, err := azidentity.NewClientSecretCredential("11111111-1111-1111-1111-111111111111", "aaaaaaaa-0000-0000-0000-000000000001", "reader-client-secret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: emu.AuthorityHost(), Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}, Transport: hc}, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	held := &heldReads{next: base, path: "/secrets/db-password", release: make(chan struct{})}
	f := New(Options{Transport: held})
	target := Target{VaultName: "kv1", VaultURL: emu.VaultURL("kv1"), IdentityKey: "reader", Credential: cred, Fresh: true}

	// Warm the credential and the challenge with another object, so only
	// the read under test reaches Key Vault.
	if _, err := f.Get(context.Background(), target, params.TypeSecret, "api-key", ""); err != nil {
		t.Fatal(err)
	}
	reads := func() int64 {
		cs, err := emu.Admin().Counters()
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, c := range cs {
			if c.Object == "db-password" && strings.HasPrefix(c.Op, "Get") {
				n += c.Count
			}
		}
		return n
	}
	before := reads()

	const n = 20
	var mu sync.Mutex
	joined := 0
	f.joined = func() {
		mu.Lock()
		defer mu.Unlock()
		if joined++; joined == n {
			close(held.release)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			it, err := f.Get(context.Background(), target, params.TypeSecret, "db-password", "")
			if err == nil && it.Secret.Value != "second-password" {
				t.Errorf("value %q", it.Secret.Value)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := reads() - before; got != 1 {
		t.Fatalf("%d concurrent identical fetches made %d Key Vault reads, want exactly 1", n, got)
	}
}
