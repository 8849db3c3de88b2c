package server_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/provider/server"
)

// TestPublicCloudNames: a SecretProviderClass written for the public cloud
// (no cloudName, <vault>.vault.azure.net, login.microsoftonline.com) works
// unchanged when those names resolve to the emulator and its CA is trusted,
// as in the local cluster (hostAliases + --ca-bundle).
func TestPublicCloudNames(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := kvemulator.Start(context.Background(), kvemulator.Config{SeedFile: "testdata/seed.yaml", AzureNames: true,
		ServiceAccountIssuer: saIssuer, ServiceAccountKeys: []crypto.PublicKey{key.Public()}, DisableThrottling: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	e := newEnvWith(t, emu, key, server.Config{})
	for _, cloud := range []string{"", "AzurePublicCloud", "azurecloud"} {
		t.Run("cloudName="+cloud, func(t *testing.T) {
			r, err := e.mount(context.Background(), e.attrs(objs("objectName: db-password; objectType: secret"), "cloudName", cloud, "cloudEnvFileName", ""), spSecrets(readerID, readerSecret))
			if err != nil {
				t.Fatal(err)
			}
			if files(r)["db-password"] != "second-password" {
				t.Fatalf("files %v", files(r))
			}
		})
	}
}
