package kvemulator_test

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/kvemulator"
)

func createSelfSigned(t *testing.T, cc *azcertificates.Client, name string) {
	t.Helper()
	resp, err := cc.CreateCertificate(ctx, name, azcertificates.CreateCertificateParameters{CertificatePolicy: &azcertificates.CertificatePolicy{
		IssuerParameters:          &azcertificates.IssuerParameters{Name: ptr("Self")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=" + name)},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *resp.Status != "inProgress" {
		t.Fatalf("create answered status %s, want inProgress", *resp.Status)
	}
}

// The secret and key backing a certificate change only through the certificate: updating
// either, and recovering or purging the secret on its own, are 409.
func TestManagedSecretChangesOnlyThroughCertificate(t *testing.T) {
	e := startEmu(t)
	cc, sc := e.certsClient("kv1"), e.adminSecrets("kv1")
	createSelfSigned(t, cc, "managed")
	waitCompleted(t, cc, "managed")

	_, err := sc.UpdateSecretProperties(ctx, "managed", "", azsecrets.UpdateSecretPropertiesParameters{ContentType: ptr("text/plain")}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	kc, err := azkeys.NewClient(e.VaultURL("kv1"), e.secretCred(adminClientID, "admin-client-secret"), &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.HTTPClient()}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kc.UpdateKey(ctx, "managed", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: ptr(false)}}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	if _, err := cc.DeleteCertificate(ctx, "managed", nil); err != nil {
		t.Fatal(err)
	}
	_, err = sc.RecoverDeletedSecret(ctx, "managed", nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	_, err = sc.PurgeDeletedSecret(ctx, "managed", nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	if _, err := sc.GetDeletedSecret(ctx, "managed", nil); err != nil {
		t.Fatalf("the deleted managed secret is still readable: %v", err)
	}
	if _, err := cc.RecoverDeletedCertificate(ctx, "managed", nil); err != nil {
		t.Fatal(err)
	}
	got, err := sc.GetSecret(ctx, "managed", "", nil)
	if err != nil || got.Managed == nil || !*got.Managed || *got.ContentType != "application/x-pkcs12" {
		t.Fatalf("the certificate did not recover its secret unchanged: %+v %v", got, err)
	}
}

// Polling a pending operation reads the state and never writes it: the persisted state file
// is the same file (same inode) after any number of polls.
func TestPendingOperationPollsDoNotWriteState(t *testing.T) {
	dir := t.TempDir()
	e := startEmu(t, func(c *kvemulator.Config) { c.StateDir = dir })
	cc := e.certsClient("kv1")
	createSelfSigned(t, cc, "polled")
	inode := func() uint64 {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, "state.json"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := inode()
	for range 3 {
		if op := waitCompleted(t, cc, "polled"); op.Target == nil {
			t.Fatal("a completed operation names its target")
		}
	}
	if after := inode(); after != before {
		t.Fatalf("polling rewrote the state file (inode %d → %d)", before, after)
	}
}
