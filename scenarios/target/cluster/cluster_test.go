package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestJWKSToPEM(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "n": b64(rk.N), "e": b64(big.NewInt(int64(rk.E)))},
		{"kty": "EC", "crv": "P-256", "x": b64(ek.X), "y": b64(ek.Y)},
	}}
	raw, _ := json.Marshal(set)
	out, err := JWKSToPEM(raw)
	if err != nil {
		t.Fatal(err)
	}
	rest := []byte(out)
	var keys []any
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if len(keys) != 2 || !rk.PublicKey.Equal(keys[0]) || !ek.PublicKey.Equal(keys[1]) {
		t.Fatalf("keys %v", keys)
	}
	if _, err := JWKSToPEM([]byte(`{"keys":[{"kty":"oct"}]}`)); err == nil || !strings.Contains(err.Error(), "neither RSA nor EC") {
		t.Errorf("oct key: %v", err)
	}
	if _, err := JWKSToPEM([]byte(`{"keys":[]}`)); err == nil {
		t.Error("an empty JWKS passed")
	}
}

// TestEmulatorManifestParses keeps the in-cluster emulator's YAML valid with
// multi-line PEM and seed content embedded.
func TestEmulatorManifestParses(t *testing.T) {
	ca, key, _, err := newCA()
	if err != nil {
		t.Fatal(err)
	}
	doc := emulatorYAML("ghcr.io/kvcsi/kvemulator:t", "https://issuer", "tenants:\n- id: x\n", "-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----\n", ca, key)
	docs := strings.Split(doc, "\n---\n")
	if len(docs) != 4 {
		t.Fatalf("%d documents", len(docs))
	}
	var secret struct {
		StringData map[string]string `json:"stringData"`
	}
	if err := yaml.Unmarshal([]byte(docs[1]), &secret); err != nil {
		t.Fatal(err)
	}
	// The split ate the newline before "---": compare without trailing space.
	if secret.StringData["ca.crt"] != string(ca) || strings.TrimSpace(secret.StringData["ca.key"]) != strings.TrimSpace(string(key)) {
		t.Errorf("the CA did not survive the YAML embedding")
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal([]byte(docs[2]), &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Data["seed.yaml"] != "tenants:\n- id: x\n" {
		t.Errorf("seed = %q", cm.Data["seed.yaml"])
	}
	var relay map[string]any
	if err := yaml.Unmarshal([]byte(relayYAML("busybox", "10.0.0.7")), &relay); err != nil {
		t.Fatal(err)
	}
	// Host aliases carry no port: the emulator must answer on 443.
	if !strings.Contains(doc, "- --addr=:443") || !strings.Contains(doc, "net.ipv4.ip_unprivileged_port_start") {
		t.Error("the emulator does not listen on 443")
	}
	if !strings.Contains(relayYAML("busybox", "10.0.0.7"), "nc -ll -p 80 -e nc 10.0.0.7 8081") {
		t.Error("relay does not forward IMDS to the emulator's managed-identity port")
	}
}
