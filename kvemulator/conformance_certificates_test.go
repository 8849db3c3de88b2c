package kvemulator_test

import (
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// certsClient is the real azcertificates client at default options, as app-admin.
func (e *emu) certsClient(vault string) *azcertificates.Client {
	e.t.Helper()
	c, err := azcertificates.NewClient(e.VaultURL(vault), e.secretCred(adminClientID, "admin-client-secret"), &azcertificates.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.HTTPClient()}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *emu) adminSecrets(vault string) *azsecrets.Client {
	return e.secrets(vault, e.secretCred(adminClientID, "admin-client-secret"))
}

func readCryptoTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("kvcrypto/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitCompleted polls the pending operation as a client does until it completes (the emulator
// answers inProgress for Config.CertificateCreateDelay, 300 ms by default); the bound only stops
// a broken server from looping forever.
func waitCompleted(t *testing.T, cc *azcertificates.Client, name string) azcertificates.CertificateOperation {
	t.Helper()
	for i := range 1200 {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		op, err := cc.GetCertificateOperation(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *op.Status == "completed" {
			return op.CertificateOperation
		}
		if *op.Status != "inProgress" {
			t.Fatalf("operation status %s: %+v", *op.Status, op.Error)
		}
	}
	t.Fatal("operation never completed")
	return azcertificates.CertificateOperation{}
}

// checkBacking fetches the certificate version's secret and key with azsecrets and azkeys and
// checks they are the certificate's: content type, kid, managed, and key material.
func checkBacking(t *testing.T, e *emu, cert azcertificates.Certificate, wantContentType string, wantChain int) {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.CER)
	if err != nil {
		t.Fatalf("cer is not a DER certificate: %v", err)
	}
	sum := sha1.Sum(cert.CER)
	if string(cert.X509Thumbprint) != string(sum[:]) {
		t.Errorf("x5t is not the SHA-1 thumbprint of cer")
	}
	version := cert.ID.Version()
	if cert.KID.Version() != version || cert.SID.Version() != version || cert.KID.Name() != cert.ID.Name() || cert.SID.Name() != cert.ID.Name() {
		t.Errorf("ids differ: id %s kid %s sid %s", *cert.ID, *cert.KID, *cert.SID)
	}
	sec, err := e.adminSecrets("kv1").GetSecret(ctx, cert.SID.Name(), version, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *sec.ContentType != wantContentType || sec.KID == nil || string(*sec.KID) != string(*cert.KID) || sec.Managed == nil || !*sec.Managed {
		t.Errorf("backing secret: contentType %v kid %v managed %v", sec.ContentType, sec.KID, sec.Managed)
	}
	var key crypto.PrivateKey
	var chain []*x509.Certificate
	switch wantContentType {
	case "application/x-pkcs12":
		der, err := base64.StdEncoding.DecodeString(*sec.Value)
		if err != nil {
			t.Fatalf("PFX secret is not base64: %v", err)
		}
		var l *x509.Certificate
		var cas []*x509.Certificate
		if key, l, cas, err = pkcs12.DecodeChain(der, ""); err != nil {
			t.Fatalf("PFX secret does not open with an empty password (as the provider opens it): %v", err)
		}
		chain = append([]*x509.Certificate{l}, cas...)
	default:
		rest := []byte(*sec.Value)
		for i := 0; ; i++ {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if i == 0 && b.Type != "PRIVATE KEY" {
				t.Errorf("PEM secret starts with %s, want the PKCS#8 key first", b.Type)
			}
			switch b.Type {
			case "PRIVATE KEY":
				if key, err = x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
					t.Fatal(err)
				}
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				chain = append(chain, c)
			}
		}
	}
	if len(chain) != wantChain || !chain[0].Equal(leaf) {
		t.Errorf("secret chain has %d certificates (leaf first: %v), want %d", len(chain), len(chain) > 0 && chain[0].Equal(leaf), wantChain)
	}
	if key == nil || !key.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
		t.Error("secret's private key does not match the certificate")
	}
	k, err := e.keysClient("kv1").GetKey(ctx, cert.KID.Name(), version, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Managed == nil || !*k.Managed || !publicKeyOf(t, k.Key).(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
		t.Error("backing key is not managed or not the certificate's key")
	}
}

func TestCertificateCreateSelfSignedPollsToCompletion(t *testing.T) {
	e := startEmu(t)
	cc := e.certsClient("kv1")
	tests := []struct {
		name        string
		policy      azcertificates.CertificatePolicy
		contentType string
		check       func(t *testing.T, leaf *x509.Certificate)
	}{
		{"rsa-pkcs12", azcertificates.CertificatePolicy{
			IssuerParameters: &azcertificates.IssuerParameters{Name: ptr("Self")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{
				Subject:                 ptr("CN=web.contoso.test, O=Contoso"),
				SubjectAlternativeNames: &azcertificates.SubjectAlternativeNames{DNSNames: []*string{ptr("web.contoso.test"), ptr("www.contoso.test")}},
				ValidityInMonths:        ptr[int32](3),
			},
		}, "application/x-pkcs12", func(t *testing.T, leaf *x509.Certificate) {
			if leaf.Subject.CommonName != "web.contoso.test" || len(leaf.DNSNames) != 2 || leaf.NotAfter.Sub(leaf.NotBefore).Hours() < 24*89 {
				t.Errorf("leaf = %s %v %v..%v", leaf.Subject, leaf.DNSNames, leaf.NotBefore, leaf.NotAfter)
			}
		}},
		{"ec-pem", azcertificates.CertificatePolicy{
			IssuerParameters: &azcertificates.IssuerParameters{Name: ptr("Self")},
			KeyProperties:    &azcertificates.KeyProperties{KeyType: ptr(azcertificates.KeyTypeEC), Curve: ptr(azcertificates.CurveNameP256)},
			SecretProperties: &azcertificates.SecretProperties{ContentType: ptr("application/x-pem-file")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{
				Subject:          ptr("CN=client"),
				EnhancedKeyUsage: []*string{ptr("1.3.6.1.5.5.7.3.2")},
			},
		}, "application/x-pem-file", func(t *testing.T, leaf *x509.Certificate) {
			if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
				t.Errorf("EKU = %v", leaf.ExtKeyUsage)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			created, err := cc.CreateCertificate(ctx, tc.name, azcertificates.CreateCertificateParameters{CertificatePolicy: &tc.policy, Tags: map[string]*string{"app": ptr("web")}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *created.Status != "inProgress" || len(created.CSR) == 0 || created.ID.Name() != tc.name {
				t.Fatalf("create = status %v csr %d bytes id %v", created.Status, len(created.CSR), created.ID)
			}
			if _, err := x509.ParseCertificateRequest(created.CSR); err != nil {
				t.Errorf("csr: %v", err)
			}
			op := waitCompleted(t, cc, tc.name)
			if op.Target == nil || !strings.HasSuffix(*op.Target, "/certificates/"+tc.name) {
				t.Errorf("completed operation target = %v", op.Target)
			}
			got, err := cc.GetCertificate(ctx, tc.name, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Tags["app"] != "web" || *got.Policy.IssuerParameters.Name != "Self" || *got.Policy.SecretProperties.ContentType != tc.contentType {
				t.Errorf("get = tags %v policy issuer %v content type %v", got.Tags, got.Policy.IssuerParameters.Name, got.Policy.SecretProperties.ContentType)
			}
			leaf, _ := x509.ParseCertificate(got.CER)
			if got.Attributes.NotBefore == nil || !got.Attributes.NotBefore.Equal(leaf.NotBefore) || !got.Attributes.Expires.Equal(leaf.NotAfter) {
				t.Errorf("attributes nbf/exp %v/%v, want the certificate's validity", got.Attributes.NotBefore, got.Attributes.Expires)
			}
			tc.check(t, leaf)
			checkBacking(t, e, got.Certificate, tc.contentType, 1)
			pol, err := cc.GetCertificatePolicy(ctx, tc.name, nil)
			if err != nil || *pol.X509CertificateProperties.Subject != *tc.policy.X509CertificateProperties.Subject {
				t.Errorf("policy = %v, %v", pol.X509CertificateProperties, err)
			}
		})
	}
	// A second create without a policy is a new version with the stored policy.
	second, err := cc.CreateCertificate(ctx, "rsa-pkcs12", azcertificates.CreateCertificateParameters{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, cc, "rsa-pkcs12")
	versions := 0
	for p := cc.NewListCertificatePropertiesVersionsPager("rsa-pkcs12", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		versions += len(page.Value)
	}
	if versions != 2 || *second.Status != "inProgress" {
		t.Errorf("%d versions after a second create, want 2", versions)
	}
}

func TestCertificateImportPFXAndPEM(t *testing.T) {
	e := startEmu(t)
	cc := e.certsClient("kv1")
	tests := []struct {
		name, file, pwd, contentType string
		wantChain                    int
	}{
		{"pfx-password", "rsa-password.pfx64", "s3cret-pfx", "", 1},
		{"pfx-chain", "chain-password.pfx64", "chainpw", "", 2},
		{"pfx-no-password", "rsa-nopassword.pfx64", "", "", 1},
		{"pem", "rsa.pem", "", "application/x-pem-file", 1},
		{"pem-chain", "chain-keylast.pem", "", "application/x-pem-file", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := azcertificates.ImportCertificateParameters{Base64EncodedCertificate: ptr(readCryptoTestdata(t, tc.file))}
			if tc.pwd != "" {
				params.Password = &tc.pwd
			}
			want := "application/x-pkcs12"
			if tc.contentType != "" {
				want = tc.contentType
				params.CertificatePolicy = &azcertificates.CertificatePolicy{SecretProperties: &azcertificates.SecretProperties{ContentType: &tc.contentType}}
			}
			imp, err := cc.ImportCertificate(ctx, tc.name, params, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *imp.Policy.IssuerParameters.Name != "Unknown" || *imp.Policy.SecretProperties.ContentType != want || !strings.HasPrefix(*imp.Policy.X509CertificateProperties.Subject, "CN=") {
				t.Errorf("import policy = %+v %+v", imp.Policy.IssuerParameters, imp.Policy.X509CertificateProperties)
			}
			got, err := cc.GetCertificate(ctx, tc.name, imp.ID.Version(), nil)
			if err != nil {
				t.Fatal(err)
			}
			checkBacking(t, e, got.Certificate, want, tc.wantChain)
			_, err = cc.GetCertificateOperation(ctx, tc.name, nil)
			wantCode(t, err, http.StatusNotFound, "PendingCertificateNotFound")
		})
	}
}

// TestCertificateBadInputIsBadParameterAndStoresNothing covers invalid PFX/PEM, a wrong PFX
// password and bad policies: 400 BadParameter, and no certificate, key or secret left behind.
func TestCertificateBadInputIsBadParameterAndStoresNothing(t *testing.T) {
	e := startEmu(t)
	cc := e.certsClient("kv1")
	pfx := readCryptoTestdata(t, "rsa-password.pfx64")
	imports := []struct {
		name   string
		params azcertificates.ImportCertificateParameters
		msg    string
	}{
		{"wrong-password", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: &pfx, Password: ptr("wrong")}, "password"},
		{"no-password", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: &pfx}, "password"},
		{"not-pfx", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: ptr(base64.StdEncoding.EncodeToString([]byte("junk")))}, "PFX"},
		{"pem-no-key", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: ptr(readCryptoTestdata(t, "rsa.crt"))}, "private key"},
		{"pem-as-pkcs12", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: ptr(readCryptoTestdata(t, "rsa.pem")),
			CertificatePolicy: &azcertificates.CertificatePolicy{SecretProperties: &azcertificates.SecretProperties{ContentType: ptr("application/x-pkcs12")}}}, "application/x-pem-file"},
	}
	for _, tc := range imports {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cc.ImportCertificate(ctx, tc.name, tc.params, nil)
			wantCode(t, err, http.StatusBadRequest, "BadParameter")
			if !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "s3cret-pfx") {
				t.Errorf("message does not explain (want %q): %v", tc.msg, err)
			}
			assertNothingStored(t, e, tc.name)
		})
	}
	creates := []struct {
		name   string
		policy *azcertificates.CertificatePolicy
	}{
		{"no-policy", nil},
		{"no-subject", &azcertificates.CertificatePolicy{IssuerParameters: &azcertificates.IssuerParameters{Name: ptr("Self")}}},
		{"other-issuer", &azcertificates.CertificatePolicy{IssuerParameters: &azcertificates.IssuerParameters{Name: ptr("DigiCert")}, X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=a")}}},
		{"oct-key", &azcertificates.CertificatePolicy{KeyProperties: &azcertificates.KeyProperties{KeyType: ptr(azcertificates.KeyTypeOct)}, X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=a")}}},
		{"p256k", &azcertificates.CertificatePolicy{KeyProperties: &azcertificates.KeyProperties{KeyType: ptr(azcertificates.KeyTypeEC), Curve: ptr(azcertificates.CurveNameP256K)}, X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=a")}}},
	}
	for _, tc := range creates {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cc.CreateCertificate(ctx, tc.name, azcertificates.CreateCertificateParameters{CertificatePolicy: tc.policy}, nil)
			wantCode(t, err, http.StatusBadRequest, "BadParameter")
			assertNothingStored(t, e, tc.name)
		})
	}
	// A certificate cannot take the name of a plain secret.
	if _, err := e.adminSecrets("kv1").SetSecret(ctx, "taken", azsecrets.SetSecretParameters{Value: ptr("x")}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := cc.ImportCertificate(ctx, "taken", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: ptr(readCryptoTestdata(t, "rsa.pem"))}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	_, err = cc.GetCertificate(ctx, "missing", "", nil)
	wantCode(t, err, http.StatusNotFound, "CertificateNotFound")
}

func assertNothingStored(t *testing.T, e *emu, name string) {
	t.Helper()
	_, err := e.certsClient("kv1").GetCertificate(ctx, name, "", nil)
	wantCode(t, err, http.StatusNotFound, "CertificateNotFound")
	_, err = e.keysClient("kv1").GetKey(ctx, name, "", nil)
	wantCode(t, err, http.StatusNotFound, "KeyNotFound")
	_, err = e.adminSecrets("kv1").GetSecret(ctx, name, "", nil)
	wantCode(t, err, http.StatusNotFound, "SecretNotFound")
}

func TestCertificatePagingAndSoftDeleteCycle(t *testing.T) {
	e := startEmu(t)
	cc := e.certsClient("kv1")
	pemValue := readCryptoTestdata(t, "rsa.pem")
	for i := range 27 {
		if _, err := cc.ImportCertificate(ctx, fmt.Sprintf("cert-%02d", i), azcertificates.ImportCertificateParameters{Base64EncodedCertificate: &pemValue}, nil); err != nil {
			t.Fatal(err)
		}
	}
	names, pages := map[string]bool{}, 0
	for p := cc.NewListCertificatePropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range page.Value {
			if len(c.X509Thumbprint) != sha1.Size {
				t.Errorf("list item %s has no x5t", *c.ID)
			}
			names[c.ID.Name()] = true
		}
	}
	if len(names) != 27 || pages < 2 {
		t.Errorf("listed %d certificates over %d pages, want 27 over at least 2", len(names), pages)
	}

	kc, sc := e.keysClient("kv1"), e.adminSecrets("kv1")
	// The backing secret and key cannot be deleted on their own.
	_, err := sc.DeleteSecret(ctx, "cert-00", nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	_, err = kc.DeleteKey(ctx, "cert-00", nil)
	wantCode(t, err, http.StatusConflict, "Conflict")

	del, err := cc.DeleteCertificate(ctx, "cert-00", nil)
	if err != nil {
		t.Fatal(err)
	}
	if del.RecoveryID == nil || del.ScheduledPurgeDate == nil || len(del.CER) == 0 {
		t.Errorf("delete = %+v", del.DeletedCertificate)
	}
	for _, get := range []func() error{
		func() error { _, err := cc.GetCertificate(ctx, "cert-00", "", nil); return err },
		func() error { _, err := kc.GetKey(ctx, "cert-00", "", nil); return err },
		func() error { _, err := sc.GetSecret(ctx, "cert-00", "", nil); return err },
	} {
		if re := respErr(t, get()); re.StatusCode != http.StatusNotFound {
			t.Errorf("after delete: %v", re)
		}
	}
	_, err = cc.ImportCertificate(ctx, "cert-00", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: &pemValue}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	if _, err := cc.GetDeletedCertificate(ctx, "cert-00", nil); err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for p := cc.NewListDeletedCertificatePropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deleted += len(page.Value)
	}
	if deleted != 1 {
		t.Errorf("%d deleted certificates listed, want 1", deleted)
	}
	if _, err := cc.RecoverDeletedCertificate(ctx, "cert-00", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.GetSecret(ctx, "cert-00", "", nil); err != nil {
		t.Fatalf("backing secret not recovered: %v", err)
	}
	backup, err := cc.BackupCertificate(ctx, "cert-00", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.DeleteCertificate(ctx, "cert-00", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.PurgeDeletedCertificate(ctx, "cert-00", nil); err != nil {
		t.Fatal(err)
	}
	assertNothingStored(t, e, "cert-00")
	_, err = cc.GetDeletedCertificate(ctx, "cert-00", nil)
	wantCode(t, err, http.StatusNotFound, "CertificateNotFound")
	restored, err := cc.RestoreCertificate(ctx, azcertificates.RestoreCertificateParameters{CertificateBackup: backup.Value}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkBacking(t, e, restored.Certificate, "application/x-pem-file", 1)

	// Disabling a version disables its secret too.
	if _, err := cc.UpdateCertificate(ctx, "cert-01", "", azcertificates.UpdateCertificateParameters{CertificateAttributes: &azcertificates.CertificateAttributes{Enabled: ptr(false)}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = sc.GetSecret(ctx, "cert-01", "", nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")
}

// TestKeysAndCertificatesSurviveRestart persists state, restarts the emulator on the same
// state directory and uses the key and certificate created before.
func TestKeysAndCertificatesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	withState := func(c *kvemulator.Config) { c.StateDir = dir }
	e := startEmu(t, withState)
	key, err := e.keysClient("kv1").CreateKey(ctx, "durable", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := e.certsClient("kv1").ImportCertificate(ctx, "durable-cert", azcertificates.ImportCertificateParameters{
		Base64EncodedCertificate: ptr(readCryptoTestdata(t, "chain-password.pfx64")), Password: ptr("chainpw")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()

	e2 := startEmu(t, withState)
	kc := e2.keysClient("kv1")
	got, err := kc.GetKey(ctx, "durable", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Key.X) != string(key.Key.X) {
		t.Fatal("key material changed across the restart")
	}
	digest := sha256.Sum256([]byte("after restart"))
	sig, err := kc.Sign(ctx, "durable", "", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	verifyLocally(t, publicKeyOf(t, key.Key), azkeys.SignatureAlgorithmES256, crypto.SHA256, digest[:], sig.Result)
	cert, err := e2.certsClient("kv1").GetCertificate(ctx, "durable-cert", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cert.ID.Version() != imp.ID.Version() || string(cert.CER) != string(imp.CER) || *cert.Policy.IssuerParameters.Name != "Unknown" {
		t.Errorf("certificate changed across the restart: %s", *cert.ID)
	}
	checkBacking(t, e2, cert.Certificate, "application/x-pkcs12", 2)
}

func TestCertificatePolicyAndOperationUpdates(t *testing.T) {
	e := startEmu(t)
	cc := e.certsClient("kv1")
	policy := azcertificates.CertificatePolicy{IssuerParameters: &azcertificates.IssuerParameters{Name: ptr("Self")},
		KeyProperties:             &azcertificates.KeyProperties{KeyType: ptr(azcertificates.KeyTypeEC)},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=first")}}
	if _, err := cc.CreateCertificate(ctx, "evolving", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy}, nil); err != nil {
		t.Fatal(err)
	}
	cancelled, err := cc.UpdateCertificateOperation(ctx, "evolving", azcertificates.UpdateCertificateOperationParameter{CancellationRequested: ptr(true)}, nil)
	if err != nil || !*cancelled.CancellationRequested {
		t.Fatalf("cancel = %v, %v", cancelled.CancellationRequested, err)
	}
	if _, err := cc.DeleteCertificateOperation(ctx, "evolving", nil); err != nil {
		t.Fatal(err)
	}
	_, err = cc.GetCertificateOperation(ctx, "evolving", nil)
	wantCode(t, err, http.StatusNotFound, "PendingCertificateNotFound")

	upd, err := cc.UpdateCertificatePolicy(ctx, "evolving", azcertificates.CertificatePolicy{
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=second"), ValidityInMonths: ptr[int32](2)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *upd.X509CertificateProperties.Subject != "CN=second" || *upd.KeyProperties.KeyType != azcertificates.KeyTypeEC || *upd.IssuerParameters.Name != "Self" {
		t.Errorf("updated policy = %+v %+v", upd.X509CertificateProperties, upd.KeyProperties)
	}
	_, err = cc.UpdateCertificatePolicy(ctx, "evolving", azcertificates.CertificatePolicy{
		KeyProperties: &azcertificates.KeyProperties{KeyType: ptr(azcertificates.KeyTypeOct)}}, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter")
	// The next version follows the updated policy.
	if _, err := cc.CreateCertificate(ctx, "evolving", azcertificates.CreateCertificateParameters{}, nil); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, cc, "evolving")
	got, err := cc.GetCertificate(ctx, "evolving", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(got.CER)
	if leaf.Subject.CommonName != "second" || leaf.NotAfter.Sub(leaf.NotBefore).Hours() > 24*63 {
		t.Errorf("second version = %s valid %v", leaf.Subject, leaf.NotAfter.Sub(leaf.NotBefore))
	}
	// An imported certificate keeps issuer Unknown across a policy update.
	if _, err := cc.ImportCertificate(ctx, "imported", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: ptr(readCryptoTestdata(t, "rsa.pem"))}, nil); err != nil {
		t.Fatal(err)
	}
	upd, err = cc.UpdateCertificatePolicy(ctx, "imported", azcertificates.CertificatePolicy{
		LifetimeActions: []*azcertificates.LifetimeAction{{Action: &azcertificates.LifetimeActionType{ActionType: ptr(azcertificates.CertificatePolicyActionEmailContacts)},
			Trigger: &azcertificates.LifetimeActionTrigger{DaysBeforeExpiry: ptr[int32](10)}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *upd.IssuerParameters.Name != "Unknown" || *upd.LifetimeActions[0].Trigger.DaysBeforeExpiry != 10 {
		t.Errorf("imported policy after update = issuer %s actions %+v", *upd.IssuerParameters.Name, upd.LifetimeActions[0].Trigger)
	}
}
