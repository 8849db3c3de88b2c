package kvemulator_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// An access-policy change through the admin API reaches the data plane on
// the next request: the permission taken away is 403 Forbidden with
// innererror AccessDenied (the service's answer for a vault with access
// policies), for that identity and kind only, and restoring it reads again.
func TestAdminAccessPolicyChangeIsForbiddenOnNextRequest(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	adm := e.Admin()
	reader, err := e.MintToken("app-reader", "https://vault.azure.net", 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := e.MintToken("app-admin", "https://vault.azure.net", 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	get := e.VaultURL("kv1") + "secrets/db-password/?api-version=7.4"
	list := e.VaultURL("kv1") + "secrets?api-version=7.4"
	if resp, _ := rawGet(t, e, get, reader); resp.StatusCode != 200 {
		t.Fatalf("before the change: %d", resp.StatusCode)
	}

	res, err := adm.SetAccessPolicy("kv1", "app-reader", kvemulator.AccessPolicyChange{Secrets: &[]string{"list"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Previous.Secrets, []string{"get", "list"}) || !slices.Equal(res.Current.Secrets, []string{"list"}) {
		t.Fatalf("change = %+v, want secrets [get list] -> [list]", res)
	}
	resp, body := rawGet(t, e, get, reader)
	code, inner, msg := errCode(body)
	if resp.StatusCode != http.StatusForbidden || code != "Forbidden" || inner != "AccessDenied" {
		t.Fatalf("get without the get permission = %d %s/%s, want 403 Forbidden/AccessDenied", resp.StatusCode, code, inner)
	}
	if !strings.Contains(msg, "does not have secrets get permission on key vault 'kv1") || !strings.Contains(msg, "bbbbbbbb-0000-0000-0000-000000000001") {
		t.Fatalf("the 403 must name the identity, the permission and the vault, as the service does: %q", msg)
	}
	if resp, _ := rawGet(t, e, list, reader); resp.StatusCode != 200 {
		t.Fatalf("list, still granted: %d", resp.StatusCode)
	}
	if resp, _ := rawGet(t, e, get, admin); resp.StatusCode != 200 {
		t.Fatalf("another identity's access must not change: %d", resp.StatusCode)
	}
	st, err := adm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ap := range st.Vaults["kv1"].AccessPolicies {
		if ap.ObjectID == res.Current.ObjectID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the identity has %d access-policy entries after the change, want 1", n)
	}

	// Restored: reads again, from the next request.
	if _, err := adm.SetAccessPolicy("kv1", "app-reader", kvemulator.AccessPolicyChange{Secrets: &res.Previous.Secrets}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := rawGet(t, e, get, reader); resp.StatusCode != 200 {
		t.Fatalf("after restoring the policy: %d", resp.StatusCode)
	}

	// Every permission of a kind taken away; keys granted anew.
	if _, err := adm.SetAccessPolicy("kv1", "bbbbbbbb-0000-0000-0000-000000000001", kvemulator.AccessPolicyChange{Secrets: &[]string{}, Keys: &[]string{"get"}}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := rawGet(t, e, list, reader); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("list with no secret permission: %d", resp.StatusCode)
	}

	for _, c := range []struct {
		vault, ident, want string
	}{
		{"kv1", "nobody", `no identity "nobody"`},
		{"nosuchvault", "app-reader", "nosuchvault"},
	} {
		if _, err := adm.SetAccessPolicy(c.vault, c.ident, kvemulator.AccessPolicyChange{Secrets: &[]string{"get"}}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetAccessPolicy(%s, %s) = %v, want an error with %q", c.vault, c.ident, err, c.want)
		}
	}
	// A misspelt kind is refused, not a change that does nothing.
	req, _ := http.NewRequest("PATCH", e.AdminURL()+"/vaults/kv1/access-policies/app-reader", strings.NewReader(`{"secret":["get"]}`))
	req.Header.Set("Content-Type", "application/json")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 400 {
		t.Fatalf("unknown field: %d, want 400", r2.StatusCode)
	}
}

// An access-policy change is state: it survives a restart with StateDir.
// The break-on-purpose hook of faults/emulator-restart-persists's mutation
// test loses it (and everything else saved), which is what that scenario
// must notice.
func TestAccessPolicyChangeSurvivesRestartUnlessBroken(t *testing.T) {
	dir, tlsDir := t.TempDir(), t.TempDir()
	cfgFn := func(c *kvemulator.Config) { c.StateDir = dir; c.TLSDir = tlsDir }
	restart := func(e *emu) *emu {
		t.Helper()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		return startEmu(t, cfgFn)
	}
	readerSecrets := func(e *emu) []string {
		t.Helper()
		st, err := e.Admin().Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ap := range st.Vaults["kv1"].AccessPolicies {
			if ap.ObjectID == "bbbbbbbb-0000-0000-0000-000000000001" {
				out = append(out, ap.Secrets...)
			}
		}
		return out
	}
	e := startEmu(t, cfgFn)
	if _, err := e.Admin().SetAccessPolicy("kv1", "app-reader", kvemulator.AccessPolicyChange{Secrets: &[]string{"list"}}); err != nil {
		t.Fatal(err)
	}
	e = restart(e)
	if got := readerSecrets(e); !slices.Equal(got, []string{"list"}) {
		t.Fatalf("after a restart app-reader's secret permissions are %v, want the changed [list]", got)
	}
	t.Setenv(kvemulator.BreakIgnoreStateDirEnv, "1")
	e = restart(e)
	if got := readerSecrets(e); !slices.Equal(got, []string{"get", "list"}) {
		t.Fatalf("with %s the emulator must start from its seed (app-reader: [get list]), got %v", kvemulator.BreakIgnoreStateDirEnv, got)
	}
}
