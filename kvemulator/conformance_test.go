package kvemulator_test

// The conformance suite drives the emulator with the real Azure SDK clients at
// default options (challenge resource verification on, instance discovery on);
// the only client setting is the transport, which trusts the emulator's CA and
// resolves its names — what DNS and a trusted CA do for a real user.

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/kvemulator"
)

const (
	tenantID       = "11111111-1111-1111-1111-111111111111"
	readerClientID = "aaaaaaaa-0000-0000-0000-000000000001"
	adminClientID  = "aaaaaaaa-0000-0000-0000-000000000002"
	outsiderClient = "aaaaaaaa-0000-0000-0000-000000000003"
	workloadClient = "aaaaaaaa-0000-0000-0000-000000000004"
	nodeClientID   = "aaaaaaaa-0000-0000-0000-000000000005"
	userClientID   = "aaaaaaaa-0000-0000-0000-000000000006"
)

// emu is one emulator per test with the example seed.
type emu struct {
	*kvemulator.Server
	t *testing.T
}

func startEmu(t *testing.T, mutate ...func(*kvemulator.Config)) *emu {
	t.Helper()
	sd, err := kvemulator.LoadSeedFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := kvemulator.Config{Seed: sd, AzureNames: true}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := kvemulator.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &emu{Server: s, t: t}
}

// clientOptions are azcore defaults plus the emulator's transport and cloud.
func (e *emu) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: e.HTTPClient(),
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.AuthorityHost(), Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
	}
}

func (e *emu) secretCred(clientID, secret string) azcore.TokenCredential {
	e.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{ClientOptions: e.clientOptions()})
	if err != nil {
		e.t.Fatal(err)
	}
	return cred
}

func (e *emu) secrets(vault string, cred azcore.TokenCredential) *azsecrets.Client {
	e.t.Helper()
	c, err := azsecrets.NewClient(e.VaultURL(vault), cred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.HTTPClient()}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *emu) counters() []kvemulator.Counter {
	e.t.Helper()
	cs, err := e.Admin().Counters()
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

func respErr(t *testing.T, err error) *azcore.ResponseError {
	t.Helper()
	re, ok := err.(*azcore.ResponseError)
	if !ok {
		t.Fatalf("want *azcore.ResponseError, got %T: %v", err, err)
	}
	return re
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d %s, got success", status, code)
	}
	re := respErr(t, err)
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("want %d %s, got %d %s: %v", status, code, re.StatusCode, re.ErrorCode, err)
	}
}

func ptr[T any](v T) *T { return &v }

var ctx = context.Background()

func TestMain(m *testing.M) {
	// The credentials must not pick up a developer's environment.
	for _, k := range []string{"AZURE_AUTHORITY_HOST", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "IMDS_ENDPOINT"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}

func TestSecretsLifecycleWithClientSecret(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(adminClientID, "admin-client-secret"))

	set, err := c.SetSecret(ctx, "app-config", azsecrets.SetSecretParameters{Value: ptr("v1"), ContentType: ptr("text/plain"), Tags: map[string]*string{"team": ptr("a")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := set.ID.Version()
	if len(v1) != 32 || set.ID.Name() != "app-config" {
		t.Fatalf("id %s: want name app-config and a 32-hex version", *set.ID)
	}
	set2, err := c.SetSecret(ctx, "app-config", azsecrets.SetSecretParameters{Value: ptr("v2")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set2.ID.Version() == v1 {
		t.Fatal("each set must create a new version")
	}

	latest, err := c.GetSecret(ctx, "app-config", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *latest.Value != "v2" || latest.ID.Version() != set2.ID.Version() {
		t.Fatalf("latest = %s %s, want v2", *latest.Value, *latest.ID)
	}
	old, err := c.GetSecret(ctx, "app-config", v1, nil)
	if err != nil || *old.Value != "v1" || *old.ContentType != "text/plain" || *old.Tags["team"] != "a" {
		t.Fatalf("get by version: %+v %v", old, err)
	}

	upd, err := c.UpdateSecretProperties(ctx, "app-config", v1, azsecrets.UpdateSecretPropertiesParameters{ContentType: ptr("application/json"), SecretAttributes: &azsecrets.SecretAttributes{Enabled: ptr(false)}, Tags: map[string]*string{"team": ptr("b")}}, nil)
	if err != nil || *upd.ContentType != "application/json" || *upd.Attributes.Enabled || *upd.Tags["team"] != "b" {
		t.Fatalf("update: %+v %v", upd, err)
	}
	_, err = c.GetSecret(ctx, "app-config", v1, nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")

	var versions int
	for p := c.NewListSecretPropertiesVersionsPager("app-config", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		versions += len(page.Value)
	}
	if versions != 2 {
		t.Fatalf("versions = %d, want 2", versions)
	}

	_, err = c.GetSecret(ctx, "missing", "", nil)
	wantCode(t, err, http.StatusNotFound, "SecretNotFound")
}

// With AzureNames the public cloud's names work: the credential uses its
// default authority (login.microsoftonline.com) and the vault is
// <vault>.vault.azure.net — only name resolution and the CA are provided.
func TestPublicCloudNamesWithDefaultCredentialOptions(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	cred, err := azidentity.NewClientSecretCredential(tenantID, readerClientID, "reader-client-secret",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: e.HTTPClient()}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := azsecrets.NewClient(e.AzureVaultURL("kv1"), cred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.HTTPClient()}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *s.Value != "second-password" {
		t.Fatalf("get via public names: %v %v", s.Value, err)
	}
	if !strings.HasPrefix(string(*s.ID), "https://kv1.vault.azure.net:") {
		t.Fatalf("id %s should carry the name the client used", *s.ID)
	}
}

func TestNamesAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(adminClientID, "admin-client-secret"))
	if _, err := c.SetSecret(ctx, "MixedCase", azsecrets.SetSecretParameters{Value: ptr("one")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetSecret(ctx, "mixedcase", azsecrets.SetSecretParameters{Value: ptr("two")}, nil); err != nil {
		t.Fatal(err)
	}
	s, err := c.GetSecret(ctx, "MIXEDCASE", "", nil)
	if err != nil || *s.Value != "two" || s.ID.Name() != "MixedCase" {
		t.Fatalf("case-insensitive get: %v %v", s.ID, err)
	}
	n := 0
	for p := c.NewListSecretPropertiesVersionsPager("mixedCASE", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 2 {
		t.Fatalf("one object with 2 versions expected, got %d", n)
	}
}

func TestDisabledVersionIs403SecretDisabled(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(readerClientID, "reader-client-secret"))
	_, err := c.GetSecret(ctx, "retired", "", nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")
	if re := respErr(t, err); !strings.Contains(re.Error(), "SecretDisabled") {
		t.Fatalf("want inner code SecretDisabled in %v", err)
	}
}

func TestExpiredSecretIsStillReadable(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(adminClientID, "admin-client-secret"))
	past := time.Now().Add(-time.Hour)
	future := time.Now().Add(time.Hour)
	for name, attrs := range map[string]*azsecrets.SecretAttributes{"expired": {Expires: &past}, "not-yet-valid": {NotBefore: &future}} {
		if _, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: ptr("v"), SecretAttributes: attrs}, nil); err != nil {
			t.Fatal(err)
		}
		s, err := c.GetSecret(ctx, name, "", nil)
		if err != nil || *s.Value != "v" {
			t.Fatalf("%s: the service allows get outside nbf/exp: %v", name, err)
		}
	}
}

func TestOneChallengeRoundTripPerClient(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(readerClientID, "reader-client-secret"))
	const gets = 5
	for i := 0; i < gets; i++ {
		s, err := c.GetSecret(ctx, "db-password", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *s.Value != "second-password" {
			t.Fatalf("value %q", *s.Value)
		}
	}
	cs := e.counters()
	if n := sum(cs, kvemulator.CounterKey{Vault: "kv1", Status: http.StatusUnauthorized}); n != 1 {
		t.Fatalf("challenges = %d, want exactly 1: %+v", n, cs)
	}
	if n := sum(cs, kvemulator.CounterKey{Vault: "kv1", Op: "GetSecret", Identity: "app-reader", Status: 200}); n != gets {
		t.Fatalf("authorized GETs = %d, want %d", n, gets)
	}
	if n := sum(cs, kvemulator.CounterKey{Op: "Token", Identity: "app-reader", Status: 200}); n != 1 {
		t.Fatalf("token requests = %d, want 1 (cached)", n)
	}
}

func TestPagingOverMoreThan25(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(adminClientID, "admin-client-secret"))
	const n = 60
	for i := 0; i < n; i++ {
		if _, err := c.SetSecret(ctx, "page-"+strconv.Itoa(i), azsecrets.SetSecretParameters{Value: ptr("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 30; i++ {
		if _, err := c.SetSecret(ctx, "many-versions", azsecrets.SetSecretParameters{Value: ptr(strconv.Itoa(i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	pages := 0
	for p := c.NewListSecretPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page.Value) > 25 {
			t.Fatalf("page of %d items; the service returns at most 25", len(page.Value))
		}
		for _, it := range page.Value {
			seen[it.ID.Name()] = true
		}
	}
	// 60 page-* + many-versions + db-password + retired
	if len(seen) != n+3 || pages < 3 {
		t.Fatalf("listed %d names in %d pages, want %d in >= 3", len(seen), pages, n+3)
	}
	versions := 0
	for p := c.NewListSecretPropertiesVersionsPager("many-versions", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		versions += len(page.Value)
	}
	if versions != 30 {
		t.Fatalf("versions = %d, want 30", versions)
	}
}

func TestSoftDeleteCycle(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(adminClientID, "admin-client-secret"))
	del, err := c.DeleteSecret(ctx, "db-password", nil)
	if err != nil {
		t.Fatal(err)
	}
	if del.RecoveryID == nil || del.DeletedDate == nil || del.ScheduledPurgeDate == nil {
		t.Fatalf("deleted bundle lacks recovery fields: %+v", del)
	}
	_, err = c.GetSecret(ctx, "db-password", "", nil)
	wantCode(t, err, http.StatusNotFound, "SecretNotFound")
	_, err = c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: ptr("reuse")}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	if !strings.Contains(err.Error(), "ObjectIsDeletedButRecoverable") {
		t.Fatalf("want ObjectIsDeletedButRecoverable in %v", err)
	}
	found := false
	for p := c.NewListDeletedSecretPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Value {
			found = found || it.ID.Name() == "db-password"
		}
	}
	if !found {
		t.Fatal("deleted secret not listed")
	}
	if _, err := c.GetDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RecoverDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *got.Value != "second-password" {
		t.Fatalf("after recover: %v %v", got.Value, err)
	}
	if _, err := c.DeleteSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetDeletedSecret(ctx, "db-password", nil)
	wantCode(t, err, http.StatusNotFound, "SecretNotFound")
	if _, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: ptr("fresh")}, nil); err != nil {
		t.Fatalf("name must be free after purge: %v", err)
	}
}

func TestBackupRestore(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(adminClientID, "admin-client-secret"))
	b, err := c.BackupSecret(ctx, "db-password", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: b.Value}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	if _, err := c.DeleteSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	// Restore into another vault of the same emulator too.
	c2 := e.secrets("kv2", e.secretCred(adminClientID, "admin-client-secret"))
	if _, err := c2.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: b.Value}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: b.Value}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID.Name() != "db-password" {
		t.Fatalf("restored %s", *res.ID)
	}
	versions := 0
	for p := c.NewListSecretPropertiesVersionsPager("db-password", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		versions += len(page.Value)
	}
	got, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *got.Value != "second-password" || versions != 2 {
		t.Fatalf("restored latest %v (%v), %d versions", got.Value, err, versions)
	}
	tampered := append([]byte(nil), b.Value...)
	tampered[len(tampered)/2] ^= 1
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: tampered}, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter")
}

func TestIdentityWithoutAccessIs403(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(outsiderClient, "outsider-client-secret"))
	_, err := c.GetSecret(ctx, "db-password", "", nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")
	if !strings.Contains(err.Error(), "does not have secrets get permission") {
		t.Fatalf("message: %v", err)
	}
	// A reader cannot write.
	r := e.secrets("kv1", e.secretCred(readerClientID, "reader-client-secret"))
	_, err = r.SetSecret(ctx, "x", azsecrets.SetSecretParameters{Value: ptr("y")}, nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")
	// Admin of kv2 only... the reader has no policy on kv2.
	r2 := e.secrets("kv2", e.secretCred(readerClientID, "reader-client-secret"))
	_, err = r2.GetSecret(ctx, "other", "", nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")
}

func TestWrongClientSecretFailsAtTokenEndpoint(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(readerClientID, "not-the-secret"))
	_, err := c.GetSecret(ctx, "db-password", "", nil)
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("want AADSTS7000215, got %v", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Fatal("the error echoes the secret")
	}
}

func TestSDKRetries429UntilSuccess(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	c := e.secrets("kv1", e.secretCred(readerClientID, "reader-client-secret"))
	if _, err := c.GetSecret(ctx, "db-password", "", nil); err != nil { // challenge + token first
		t.Fatal(err)
	}
	if _, err := e.Admin().AddFault(kvemulator.Fault{Vault: "kv1", Object: "db-password", Op: "GetSecret", Status: 429, RetryAfter: 1, Count: 2}); err != nil {
		t.Fatal(err)
	}
	s, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *s.Value != "second-password" {
		t.Fatalf("get after throttling: %v %v", s.Value, err)
	}
	cs := e.counters()
	if n := sum(cs, kvemulator.CounterKey{Vault: "kv1", Op: "GetSecret", Status: 429}); n != 2 {
		t.Fatalf("429s = %d, want 2", n)
	}
	if n := sum(cs, kvemulator.CounterKey{Vault: "kv1", Op: "GetSecret", Status: 200}); n != 2 {
		t.Fatalf("200s = %d, want 2", n)
	}
}

func TestThrottlingAtConfiguredLimit(t *testing.T) {
	t.Parallel()
	e := startEmu(t)
	if err := e.Admin().SetLimits(kvemulator.Limits{Enabled: true, Window: kvemulator.Duration(time.Hour), Secret: 3}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.MintToken("app-reader", "https://vault.azure.net", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hc := e.HTTPClient()
	var codes []int
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("GET", e.VaultURL("kv1")+"secrets/db-password/?api-version=7.4", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if codes[2] != 200 || codes[3] != 429 || codes[4] != 429 {
		t.Fatalf("codes %v, want 3×200 then 429s", codes)
	}
}
