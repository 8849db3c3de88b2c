package scenarios

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// countingVault is a Vault whose request counters the test scripts.
type countingVault struct {
	Vault
	requests []VaultRequest
}

func (v *countingVault) Requests(context.Context) ([]VaultRequest, error) { return v.requests, nil }

type countingTarget struct {
	Target
	vault *countingVault
}

func (t countingTarget) Vault() Vault { return t.vault }

// TestIdentityCheckTellsIdentitiesApart: the identity check passes only when
// the expected identity read the secret during the mount, so a provider that
// used another identity (which may read the vault too) fails it.
func TestIdentityCheckTellsIdentitiesApart(t *testing.T) {
	ctx := context.Background()
	want := identityUse{TokenOp: "IMDSToken", Identity: IdentityAddon}
	before := []VaultRequest{
		{Op: "IMDSToken", Identity: IdentityAddon, Status: 200, Count: 1},
		{Op: "GetSecret", Identity: IdentityAddon, Object: "ExampleSecret", Status: 200, Count: 3},
	}
	for _, tc := range []struct {
		name  string
		after []VaultRequest
		fail  string
	}{
		{"the add-on identity read it", []VaultRequest{
			{Op: "IMDSToken", Identity: IdentityAddon, Status: 200, Count: 1},
			{Op: "GetSecret", Identity: IdentityAddon, Object: "ExampleSecret", Status: 200, Count: 4},
		}, ""},
		{"the node identity read it", []VaultRequest{
			{Op: "IMDSToken", Identity: IdentityAddon, Status: 200, Count: 1},
			{Op: "GetSecret", Identity: IdentityAddon, Object: "ExampleSecret", Status: 200, Count: 3},
			{Op: "IMDSToken", Identity: IdentityNode, Status: 200, Count: 1},
			{Op: "GetSecret", Identity: IdentityNode, Object: "ExampleSecret", Status: 200, Count: 1},
		}, "identity azureKeyvaultSecretsProvider did not read ExampleSecret (status 200) during the mount; reads by identity since: node-system-assigned/200×1"},
		{"no token for the add-on identity", []VaultRequest{
			{Op: "IMDSToken", Identity: IdentityNode, Status: 200, Count: 1},
			{Op: "GetSecret", Identity: IdentityAddon, Object: "ExampleSecret", Status: 200, Count: 4},
		}, "issued no IMDSToken token to identity azureKeyvaultSecretsProvider"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &Env{Target: countingTarget{vault: &countingVault{requests: tc.after}}}
			err := expectIdentityUsed(ctx, env, before, want, http.StatusOK)
			switch {
			case tc.fail == "" && err != nil:
				t.Fatalf("err = %v, want none", err)
			case tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)):
				t.Fatalf("err = %v, want one containing %q", err, tc.fail)
			}
		})
	}
}
