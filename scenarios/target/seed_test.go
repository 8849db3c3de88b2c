package target_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target"
	"github.com/kvcsi/kvcsi/scenarios/target/azvault"
)

// TestSeedGrantsWhatTheCatalogueNeeds starts the emulator with the scenarios'
// seed and checks, with the real SDK clients, that the harness can write
// secrets, keys and certificates, that the add-on identity (IMDS, by client
// ID), the node's default identity and the service principal can read, and
// that the no-access identity is refused.
func TestSeedGrantsWhatTheCatalogueNeeds(t *testing.T) {
	ctx := context.Background()
	seed, ids, err := target.NewSeed("")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := kvemulator.Start(ctx, kvemulator.Config{Seed: seed, AzureNames: true, DisableThrottling: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	opts := azcore.ClientOptions{Transport: srv.HTTPClient()}
	admin, err := azidentity.NewClientSecretCredential(ids.TenantID, ids.AdminClientID, ids.AdminSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.AzureVaultURL(target.VaultName)
	v, err := azvault.New(target.VaultName, ids.TenantID, url, admin, opts)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := v.SetSecret(ctx, "ExampleSecret", "MyAKSExampleSecret")
	if err != nil || len(ver) != 32 {
		t.Fatalf("SetSecret = %q, %v", ver, err)
	}
	if kv, err := v.CreateKey(ctx, "ExampleKey"); err != nil || kv == "" {
		t.Fatalf("CreateKey = %q, %v", kv, err)
	}

	read := func(cred azcore.TokenCredential) (string, error) {
		c, err := azsecrets.NewClient(url, cred, &azsecrets.ClientOptions{ClientOptions: opts})
		if err != nil {
			return "", err
		}
		r, err := c.GetSecret(ctx, "ExampleSecret", "", nil)
		if err != nil {
			return "", err
		}
		return *r.Value, nil
	}
	mi := func(clientID string) azcore.TokenCredential {
		o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
		if clientID != "" {
			o.ID = azidentity.ClientID(clientID)
		}
		c, err := azidentity.NewManagedIdentityCredential(o)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sp, err := azidentity.NewClientSecretCredential(ids.TenantID, ids.SPClientID, ids.SPSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	for name, cred := range map[string]azcore.TokenCredential{
		"add-on user-assigned identity": mi(ids.AddonClientID),
		"node system-assigned identity": mi(""),
		"service principal":             sp,
	} {
		got, err := read(cred)
		if err != nil || got != "MyAKSExampleSecret" {
			t.Errorf("%s: read %d bytes, %v", name, len(got), err)
		}
	}
	_, err = read(mi(ids.NoAccessClientID))
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Errorf("no-access identity: %v, want 403", err)
	}

	ph := ids.Placeholders()
	for _, k := range []string{scenarios.IdentityClientID, scenarios.IdentityWorkloadClientID, scenarios.IdentitySPClientID, scenarios.IdentitySPClientSecret, scenarios.IdentityNoAccessClientID} {
		if ph[k] == "" {
			t.Errorf("placeholder <%s> has no value", k)
		}
	}
	if _, ok := scenarios.Find("identity/workload-identity"); !ok {
		t.Error("the seed trusts the namespace of identity/workload-identity, which the catalogue no longer has")
	}
	if _, ok := scenarios.Find("identity/pod-identity"); !ok || seed.PodIdentities[0].Namespace != "kvcsi-identity-pod-identity" {
		t.Errorf("pod identity maps namespace %s", seed.PodIdentities[0].Namespace)
	}
	if fc := seed.Identities[4].FederatedCredentials[0].Subject; fc != "system:serviceaccount:kvcsi-identity-workload-identity:workload-identity-sa" {
		t.Errorf("workload identity subject %q", fc)
	}
}

func TestAddonSettings(t *testing.T) {
	b := &target.Base{AddonConfig: target.EmulatorAddonConfig("t", "CA", "10.0.0.1")}
	enable := scenarios.AddonCommand{Verb: "enable", Rotation: true, PollInterval: "10s"}
	if got := enable.String(); got != "enable --enable-secret-rotation --rotation-poll-interval 10s" {
		t.Errorf("String() = %q", got)
	}
	c := addon.DefaultConfig("default")
	b.AddonSettings(enable)(&c)
	if !c.EnableSecretRotation || c.RotationPollInterval != "10s" || c.ImageTag != "t" || c.ProviderCABundle != "CA" ||
		len(c.ProviderHostAliases) != 1 || c.ProviderHostAliases[0].IP != "10.0.0.1" {
		t.Errorf("enable settings = %+v", c)
	}
	// update without flags keeps rotation as it is.
	c.EnableSecretRotation = true
	b.AddonSettings(scenarios.AddonCommand{Verb: "update"})(&c)
	if !c.EnableSecretRotation || c.RotationPollInterval != "10s" {
		t.Errorf("update without flags changed rotation: %+v", c)
	}
}

func TestCloseRunsClosersLastFirst(t *testing.T) {
	var order []string
	b := &target.Base{Closers: []func() error{
		func() error { order = append(order, "cluster"); return nil },
		func() error { order = append(order, "emulator"); return errors.New("boom") },
	}}
	err := b.Close()
	if strings.Join(order, ",") != "emulator,cluster" || err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("order %v, err %v", order, err)
	}
}
