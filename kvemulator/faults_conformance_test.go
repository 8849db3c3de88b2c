package kvemulator_test

import (
	"net/http"
	"testing"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// The SDK's retry policy rides over dropped connections and 5xx, and the
// rules are switched at run time through the admin API.
func TestFaultsAreInjectedPerVaultObjectOperation(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(readerClientID, "reader-client-secret"))
	if _, err := c.GetSecret(ctx, "db-password", "", nil); err != nil {
		t.Fatal(err)
	}
	adm := e.Admin()
	for _, f := range []kvemulator.Fault{
		{Vault: "kv1", Object: "db-password", Op: "GetSecret", Drop: true, Count: 1},
		{Vault: "kv1", Object: "db-password", Op: "GetSecret", Status: 503, RetryAfter: 1, Count: 1},
		{Vault: "kv1", Object: "db-password", Op: "GetSecret", Latency: kvemulator.Duration(1e6), Count: 1},
		// Never matches: other vault, other object, other op.
		{Vault: "kv2", Status: 500},
		{Vault: "kv1", Object: "retired", Status: 500},
		{Vault: "kv1", Op: "SetSecret", Status: 500},
	} {
		if _, err := adm.AddFault(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := adm.ResetCounters(); err != nil {
		t.Fatal(err)
	}
	s, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *s.Value != "second-password" {
		t.Fatalf("get through faults: %v %v", s.Value, err)
	}
	cs := e.counters()
	if n := sum(cs, kvemulator.CounterKey{Op: "GetSecret", Status: 503}); n != 1 {
		t.Fatalf("503s = %d: %+v", n, cs)
	}
	if n := sum(cs, kvemulator.CounterKey{Op: "GetSecret", Status: 200}); n != 1 {
		t.Fatalf("200s = %d: %+v", n, cs)
	}
	fs, err := adm.Faults()
	if err != nil || len(fs) != 3 {
		t.Fatalf("the three counted rules must have retired, leaving 3: %+v %v", fs, err)
	}
	// Switch at run time: everything on kv1 fails now, then is cleared.
	if _, err := adm.AddFault(kvemulator.Fault{Vault: "kv1", Status: 500}); err != nil {
		t.Fatal(err)
	}
	tok, _ := e.MintToken("app-reader", "https://vault.azure.net", 3600e9)
	if resp, _ := rawGet(t, e, e.VaultURL("kv1")+"secrets/db-password/?api-version=7.4", tok); resp.StatusCode != 500 {
		t.Fatalf("with the rule: %d", resp.StatusCode)
	}
	if err := adm.ClearFaults(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := rawGet(t, e, e.VaultURL("kv1")+"secrets/db-password/?api-version=7.4", tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("after clearing: %d", resp.StatusCode)
	}
	if _, err := adm.AddFault(kvemulator.Fault{Status: 404}); err == nil {
		t.Fatal("a 404 fault must be refused")
	}
}

func TestLocalhostReachesDefaultVault(t *testing.T) {
	t.Parallel()
	e := startEmu(t, func(c *kvemulator.Config) { c.DefaultVault = "kv2" })
	_, port := splitPort(e.Addr())
	tok, _ := e.MintToken("app-admin", "https://vault.azure.net", 3600e9)
	resp, body := rawGet(t, e, "https://localhost:"+port+"/secrets/other/?api-version=7.4", tok)
	if resp.StatusCode != 200 || body["value"] != "in-kv2" {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if id, _ := body["id"].(string); id == "" || id[:len("https://localhost:")] != "https://localhost:" {
		t.Fatalf("id %v should use the host the client used", body["id"])
	}
}
