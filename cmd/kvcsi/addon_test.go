package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// testPEM returns a self-signed CA certificate and its private key, as PEM.
func testPEM(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kvcsi test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// noConnect fails the test if the command got as far as connecting.
func noConnect(t *testing.T) connectFunc {
	return func(string, string) (*rest.Config, error) {
		t.Error("connected to a cluster although the flags were bad")
		return nil, errors.New("no cluster in this test")
	}
}

func TestBadFlagsFailBeforeConnecting(t *testing.T) {
	cert, key := testPEM(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, append(cert, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"enable", "--rotation-poll-interval", "5x"}, "--rotation-poll-interval \"5x\" is not a duration"},
		{[]string{"enable", "--rotation-poll-interval=5x"}, "is not a duration"},
		{[]string{"update", "--rotation-poll-interval", "-5m"}, "must be positive"},
		{[]string{"update"}, "nothing to change"},
		{[]string{"update", "--enable-secret-rotation", "--disable-secret-rotation"}, "contradict"},
		{[]string{"enable", "--provider-host-alias", "10.0.0.1"}, "use IP=host1,host2"},
		{[]string{"enable", "--provider-ca-bundle", filepath.Join(dir, "missing.pem")}, "--provider-ca-bundle"},
		{[]string{"enable", "--provider-ca-bundle", keyFile}, "only CERTIFICATE blocks"},
		{[]string{"enable", "--cloud-name", "AzureMoonCloud"}, "--cloud-name \"AzureMoonCloud\" is not a known cloud"},
		{[]string{"enable", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"enable", "extra"}, "unexpected argument"},
		{[]string{"frobnicate"}, "unknown addon command \"frobnicate\""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := runAddon(context.Background(), tc.args, &out, noConnect(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if bytes.Contains([]byte(err.Error()+out.String()), key[40:80]) {
				t.Fatal("private key material in the output")
			}
		})
	}
}

func TestAddonHelp(t *testing.T) {
	var out bytes.Buffer
	if err := runAddon(context.Background(), []string{"enable", "-h"}, &out, noConnect(t)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "-enable-secret-rotation") || !strings.Contains(out.String(), "-kubeconfig") {
		t.Errorf("help = %q", out.String())
	}
}
