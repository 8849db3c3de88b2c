package kvemulator_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// benchClients starts the emulator with the example seed (throttling off, so the loop measures
// the emulator, not the service limits) and returns app-admin's keys and certificates clients.
func benchClients(b *testing.B) (*azkeys.Client, *azcertificates.Client) {
	b.Helper()
	sd, err := kvemulator.LoadSeedFile("testdata/seed.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s, err := kvemulator.Start(context.Background(), kvemulator.Config{Seed: sd, AzureNames: true, DisableThrottling: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	opts := azcore.ClientOptions{Transport: s.HTTPClient(), Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost(), Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}}
	cred, err := azidentity.NewClientSecretCredential(tenantID, adminClientID, "admin-client-secret", &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		b.Fatal(err)
	}
	kc, err := azkeys.NewClient(s.VaultURL("kv1"), cred, &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: s.HTTPClient()}})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := azcertificates.NewClient(s.VaultURL("kv1"), cred, &azcertificates.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: s.HTTPClient()}})
	if err != nil {
		b.Fatal(err)
	}
	return kc, cc
}

// BenchmarkSignOverHTTPS is one azkeys Sign round trip: TLS, token check, access policy,
// cached key decode, signature.
func BenchmarkSignOverHTTPS(b *testing.B) {
	kc, _ := benchClients(b)
	digest := sha256.Sum256([]byte("bench"))
	for _, tc := range []struct {
		name string
		kty  azkeys.KeyType
		alg  azkeys.SignatureAlgorithm
	}{{"RS256", azkeys.KeyTypeRSA, azkeys.SignatureAlgorithmRS256}, {"ES256", azkeys.KeyTypeEC, azkeys.SignatureAlgorithmES256}} {
		b.Run(tc.name, func(b *testing.B) {
			k, err := kc.CreateKey(ctx, "bench-"+tc.name, azkeys.CreateKeyParameters{Kty: &tc.kty}, nil)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := kc.Sign(ctx, "bench-"+tc.name, k.Key.KID.Version(), azkeys.SignParameters{Algorithm: &tc.alg, Value: digest[:]}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetCertificateOverHTTPS is the provider's hot path for cert objects.
func BenchmarkGetCertificateOverHTTPS(b *testing.B) {
	_, cc := benchClients(b)
	policy := azcertificates.CertificatePolicy{IssuerParameters: &azcertificates.IssuerParameters{Name: ptr("Self")},
		X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: ptr("CN=bench")}}
	if _, err := cc.CreateCertificate(ctx, "bench", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy}, nil); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := cc.GetCertificate(ctx, "bench", "", nil); err != nil {
			b.Fatal(err)
		}
	}
}
