package server_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvcsi/kvcsi/provider/server"
)

// forgeries of a victim's service-account token: each carries the victim's
// issuer and subject but is not a token the cluster signed.
func forgeries(t *testing.T, e *env, victim string) map[string]string {
	t.Helper()
	parts := strings.Split(victim, ".")
	enc := base64.RawURLEncoding.EncodeToString
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(victim, claims); err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(e.saKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherIss := jwt.MapClaims{}
	for k, v := range claims {
		otherIss[k] = v
	}
	otherIss["iss"] = "https://attacker.example"
	foreign, err := jwt.NewWithClaims(jwt.SigningMethodRS256, otherIss).SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	unknownKey, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(other)
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(payload), `"iat":`, `"jti":"x","iat":`, 1)
	if tampered == string(payload) {
		t.Fatal("victim token has no iat to tamper with")
	}
	return map[string]string{
		"alg none":                        enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"HS256 keyed with the public key": hs,
		"tampered payload":                parts[0] + "." + enc([]byte(tampered)) + "." + parts[2],
		"another issuer":                  foreign,
		"the issuer's name, another key":  unknownKey,
	}
}

func saTokens(tok string) string {
	return mustJSON(map[string]any{"api://AzureADTokenExchange": map[string]string{"token": tok, "expirationTimestamp": time.Now().Add(time.Hour).Format(time.RFC3339)}})
}

// TestForgedServiceAccountTokenGetsNothing (issue 10 §1): after a victim's
// workload identity Mount filled the cache, a token copying the victim's
// issuer and subject gets no content and Unauthenticated, as a first Mount
// and as a rotation re-mount (which may be served from the cache), and the
// error shows no token.
func TestForgedServiceAccountTokenGetsNothing(t *testing.T) {
	e := newEnv(t, server.Config{CacheTTL: time.Hour})
	obj := objs("objectName: db-password; objectType: secret")
	victim := e.saToken(t, "default", "workload-identity-sa")
	attrs := func(tok string) map[string]string {
		return e.attrs(obj, "clientID", workloadID, "csi.storage.k8s.io/serviceAccount.tokens", saTokens(tok))
	}
	r, err := e.mount(context.Background(), attrs(victim), nil)
	if err != nil {
		t.Fatal(err)
	}
	if files(r)["db-password"] != "second-password" {
		t.Fatalf("victim files = %v", files(r))
	}
	for name, forged := range forgeries(t, e, victim) {
		t.Run(name, func(t *testing.T) {
			for _, remount := range []bool{false, true} {
				var err error
				if remount {
					r2, err2 := e.remount(context.Background(), attrs(forged), nil, r.ObjectVersion)
					err = err2
					if len(r2.GetFiles()) != 0 {
						t.Fatalf("re-mount: forged token got files %v", files(r2))
					}
				} else {
					r2, err2 := e.mount(context.Background(), attrs(forged), nil)
					err = err2
					if len(r2.GetFiles()) != 0 {
						t.Fatalf("mount: forged token got files %v", files(r2))
					}
				}
				if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("remount=%v: %v, want Unauthenticated", remount, err)
				}
				msg := status.Convert(err).Message()
				if !strings.Contains(msg, "Entra ID refused") {
					t.Fatalf("remount=%v: message %q does not say the identity provider refused", remount, msg)
				}
				for _, part := range strings.Split(forged, ".") {
					if len(part) > 8 && strings.Contains(msg, part) {
						t.Fatalf("the error shows the token: %q", msg)
					}
				}
			}
		})
	}
}

// TestSameTokenSharesTheCache: the per-token key still collapses what it
// should: a pod's rotation re-mount with the same token bytes is served
// from the cache, and concurrent Mounts with one token share one token
// request and the fetch.
func TestSameTokenSharesTheCache(t *testing.T) {
	e := newEnv(t, server.Config{CacheTTL: time.Hour})
	attrs := e.attrs(objs("objectName: db-password; objectType: secret"), "clientID", workloadID,
		"csi.storage.k8s.io/serviceAccount.tokens", saTokens(e.saToken(t, "default", "workload-identity-sa")))
	r, err := e.mount(context.Background(), attrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := getCount(t, e, "db-password")
	for i := 0; i < 3; i++ {
		r2, err := e.remount(context.Background(), attrs, nil, r.ObjectVersion)
		if err != nil {
			t.Fatal(err)
		}
		if files(r2)["db-password"] != "second-password" {
			t.Fatalf("files = %v", files(r2))
		}
	}
	if n := getCount(t, e, "db-password"); n != before {
		t.Fatalf("re-mounts with the same token called Key Vault: %d -> %d", before, n)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.remount(context.Background(), attrs, nil, r.ObjectVersion)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := getCount(t, e, "db-password"); n != before {
		t.Fatalf("concurrent re-mounts with the same token called Key Vault: %d -> %d", before, n)
	}
}
