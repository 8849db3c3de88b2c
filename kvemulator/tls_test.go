package kvemulator

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestServerCertificateNames(t *testing.T) {
	cfg, err := Config{DNSSuffix: "vault.example.test", LoginHost: "login.example.test", AzureNames: true}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := loadOrCreateCA("")
	if err != nil {
		t.Fatal(err)
	}
	names, ips := cfg.serverNames()
	cert, err := ca.serverCert(names, ips)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	for _, host := range []string{"localhost", "127.0.0.1", "vault.example.test", "kv1.vault.example.test", "login.example.test", "kv1.vault.azure.net", "login.microsoftonline.com"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if !slices.Contains(cert.Leaf.DNSNames, "*.vault.azure.net") {
		t.Error("AzureNames must add *.vault.azure.net")
	}
}

// A TLS directory mounted read-only (a Kubernetes Secret) with ca.crt and
// ca.key is enough to start: nothing is written there.
func TestReadOnlyTLSDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := loadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "ca.key"} {
		os.Chmod(filepath.Join(dir, f), 0o400)
	}
	os.Chmod(dir, 0o500)
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	s, err := Start(t.Context(), Config{TLSDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("files written into the TLS directory: %v", entries)
	}
}

func TestTLSDirExternalServerCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, err := loadOrCreateCA(dir) // writes ca.crt and ca.key
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.serverCert([]string{"custom.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	os.WriteFile(filepath.Join(dir, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
	os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	os.Remove(filepath.Join(dir, "ca.key"))
	ca2, err := loadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ca2.loadServerCert(dir, []string{"ignored"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(got.Certificate[0])
	if leaf.DNSNames[0] != "custom.example" {
		t.Fatalf("server.crt not used: %v", leaf.DNSNames)
	}
	os.Remove(filepath.Join(dir, "server.crt"))
	if _, err := loadOrCreateCA(dir); err == nil {
		t.Fatal("ca.crt without ca.key and without a server pair must be refused")
	}
}
