package kvemulator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
)

func TestAdminSeedSettingsAndErrors(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	adm := e.Admin()
	err := adm.Seed([]byte("identities: [{name: solo, secrets: [pw], clientId: cccccccc-0000-0000-0000-000000000001}]\nvaults: [{name: fresh, accessPolicies: [{identity: solo, secrets: [get]}], secrets: [{name: s, versions: [{value: v}]}]}]"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := adm.Info()
	if err != nil {
		t.Fatal(err)
	}
	if len(info.VaultURLs) != 1 || info.VaultURLs["fresh"] != e.VaultURL("fresh") {
		t.Fatalf("vaults after seeding: %v", info.VaultURLs)
	}
	if err := adm.Seed([]byte("vaults: [{name: x}]")); err == nil || !strings.Contains(err.Error(), "name must be 3-24") {
		t.Fatalf("a bad seed must be refused with the reason: %v", err)
	}
	if err := adm.Reset(); err != nil {
		t.Fatal(err)
	}
	if st, _ := adm.Snapshot(); st.Vaults["fresh"] == nil {
		t.Fatal("reset must return to the last applied seed")
	}

	if err := adm.SetSettings(kvemulator.Settings{TokenTTL: kvemulator.Duration(2 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cccccccc-0000-0000-0000-000000000001"}, "client_secret": {"pw"}, "scope": {"https://vault.azure.net/.default"}}
	resp, err := e.HTTPClient().PostForm(e.AuthorityHost()+"72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		ExpiresIn int `json:"expires_in"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || tok.ExpiresIn > 120 || tok.ExpiresIn < 1 {
		t.Fatalf("token with a 2m lifetime: %d expires_in=%d", resp.StatusCode, tok.ExpiresIn)
	}

	// The v1 endpoint takes resource= instead of scope=.
	v1 := url.Values{"grant_type": {"client_credentials"}, "client_id": {"cccccccc-0000-0000-0000-000000000001"}, "client_secret": {"pw"}, "resource": {"https://vault.azure.net"}}
	resp, err = e.HTTPClient().PostForm(e.AuthorityHost()+"72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/token", v1)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("v1 token endpoint: %d", resp.StatusCode)
	}
	if _, err := adm.SetSecret("nosuch", "a", "b"); err == nil || !strings.Contains(err.Error(), "VaultNotFound") && !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unknown vault: %v", err)
	}
	if _, err := adm.SetSecret("fresh", "bad name", "b"); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("bad name: %v", err)
	}
	req, _ := http.NewRequest("PUT", e.AdminURL()+"/limits", strings.NewReader(`{"enabled":true,"window":"soon"}`))
	req.Header.Set("Content-Type", "application/json")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 400 {
		t.Fatalf("bad limits: %d", r2.StatusCode)
	}
}

// sum adds the counters that match the filter (empty fields match all;
// status 0 matches every status).
func sum(cs []kvemulator.Counter, filter kvemulator.CounterKey) int64 {
	var n int64
	for _, c := range cs {
		if (filter.Vault == "" || c.Vault == filter.Vault) && (filter.Object == "" || c.Object == filter.Object) &&
			(filter.Op == "" || c.Op == filter.Op) && (filter.Identity == "" || c.Identity == filter.Identity) &&
			(filter.Status == 0 || c.Status == filter.Status) {
			n += c.Count
		}
	}
	return n
}
