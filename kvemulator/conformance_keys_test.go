package kvemulator_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math/big"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// keysClient is the real azkeys client at default options, as the app-admin identity.
func (e *emu) keysClient(vault string) *azkeys.Client {
	e.t.Helper()
	c, err := azkeys.NewClient(e.VaultURL(vault), e.secretCred(adminClientID, "admin-client-secret"), &azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: e.HTTPClient()}})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// publicKeyOf rebuilds the public key from the JWK the service returned, independently of
// the emulator's code.
func publicKeyOf(t *testing.T, j *azkeys.JSONWebKey) crypto.PublicKey {
	t.Helper()
	if len(j.D)+len(j.P)+len(j.Q)+len(j.DP)+len(j.DQ)+len(j.QI) > 0 {
		t.Fatal("the service returned private key members")
	}
	switch *j.Kty {
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		return &rsa.PublicKey{N: new(big.Int).SetBytes(j.N), E: int(new(big.Int).SetBytes(j.E).Int64())}
	default:
		curve := map[azkeys.CurveName]elliptic.Curve{azkeys.CurveNameP256: elliptic.P256(), azkeys.CurveNameP384: elliptic.P384(), azkeys.CurveNameP521: elliptic.P521()}[*j.Crv]
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, j.X...), j.Y...))
		if err != nil {
			t.Fatalf("JWK x/y is not a point on %s: %v", *j.Crv, err)
		}
		return pub
	}
}

// verifyLocally checks a service signature with the standard library.
func verifyLocally(t *testing.T, pub crypto.PublicKey, alg azkeys.SignatureAlgorithm, h crypto.Hash, digest, sig []byte) {
	t.Helper()
	var ok bool
	switch alg {
	case azkeys.SignatureAlgorithmRS256, azkeys.SignatureAlgorithmRS384, azkeys.SignatureAlgorithmRS512:
		ok = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, digest, sig) == nil
	case azkeys.SignatureAlgorithmPS256, azkeys.SignatureAlgorithmPS384, azkeys.SignatureAlgorithmPS512:
		ok = rsa.VerifyPSS(pub.(*rsa.PublicKey), h, digest, sig, nil) == nil
	default:
		n := len(sig) / 2
		ok = ecdsa.Verify(pub.(*ecdsa.PublicKey), digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
	}
	if !ok {
		t.Fatalf("%s signature from the service does not verify with the standard library", alg)
	}
}

func TestKeysEachTypeCreateSignVerifyEncryptWrap(t *testing.T) {
	e := startEmu(t)
	kc := e.keysClient("kv1")
	tests := []struct {
		name string
		kty  azkeys.KeyType
		size int32
		crv  azkeys.CurveName
		alg  azkeys.SignatureAlgorithm
		hash crypto.Hash
	}{
		{"rsa-2048", azkeys.KeyTypeRSA, 2048, "", azkeys.SignatureAlgorithmRS256, crypto.SHA256},
		{"rsa-3072", azkeys.KeyTypeRSA, 3072, "", azkeys.SignatureAlgorithmPS384, crypto.SHA384},
		{"rsa-4096", azkeys.KeyTypeRSAHSM, 4096, "", azkeys.SignatureAlgorithmRS512, crypto.SHA512},
		{"ec-p256", azkeys.KeyTypeEC, 0, azkeys.CurveNameP256, azkeys.SignatureAlgorithmES256, crypto.SHA256},
		{"ec-p384", azkeys.KeyTypeEC, 0, azkeys.CurveNameP384, azkeys.SignatureAlgorithmES384, crypto.SHA384},
		{"ec-p521", azkeys.KeyTypeECHSM, 0, azkeys.CurveNameP521, azkeys.SignatureAlgorithmES512, crypto.SHA512},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			params := azkeys.CreateKeyParameters{Kty: &tc.kty, Tags: map[string]*string{"case": ptr(tc.name)}}
			if tc.size != 0 {
				params.KeySize = &tc.size
			} else {
				params.Curve = &tc.crv
			}
			created, err := kc.CreateKey(ctx, tc.name, params, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *created.Key.Kty != tc.kty || created.Key.KID.Name() != tc.name || len(created.Key.KID.Version()) != 32 || *created.Tags["case"] != tc.name {
				t.Fatalf("created = kty %s kid %s tags %v", *created.Key.Kty, *created.Key.KID, created.Tags)
			}
			if tc.size != 0 && len(created.Key.N)*8 != int(tc.size) {
				t.Errorf("n is %d bits, want %d", len(created.Key.N)*8, tc.size)
			}
			version := created.Key.KID.Version()
			got, err := kc.GetKey(ctx, tc.name, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if *got.Key.KID != *created.Key.KID || !*got.Attributes.Enabled || *got.Attributes.Exportable {
				t.Errorf("get latest = kid %s attributes %+v", *got.Key.KID, got.Attributes)
			}
			pub := publicKeyOf(t, got.Key)

			h := tc.hash.New()
			h.Write([]byte("payload for " + tc.name))
			digest := h.Sum(nil)
			signed, err := kc.Sign(ctx, tc.name, version, azkeys.SignParameters{Algorithm: &tc.alg, Value: digest}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if *signed.KID != *created.Key.KID {
				t.Errorf("sign kid = %s", *signed.KID)
			}
			verifyLocally(t, pub, tc.alg, tc.hash, digest, signed.Result)
			verified, err := kc.Verify(ctx, tc.name, version, azkeys.VerifyParameters{Algorithm: &tc.alg, Digest: digest, Signature: signed.Result}, nil)
			if err != nil || !*verified.Value {
				t.Fatalf("verify own signature = %v, %v", verified.Value, err)
			}
			bad := append([]byte(nil), signed.Result...)
			bad[0] ^= 1
			verified, err = kc.Verify(ctx, tc.name, version, azkeys.VerifyParameters{Algorithm: &tc.alg, Digest: digest, Signature: bad}, nil)
			if err != nil || *verified.Value {
				t.Fatalf("verify tampered signature = %v, %v; want false", verified.Value, err)
			}

			rsaPub, isRSA := pub.(*rsa.PublicKey)
			if !isRSA {
				_, err := kc.Encrypt(ctx, tc.name, version, azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("x")}, nil)
				wantCode(t, err, http.StatusForbidden, "Forbidden") // EC keys have no encrypt in key_ops
				return
			}
			plain := []byte("content encryption key 32 bytes!")
			for _, alg := range []azkeys.EncryptionAlgorithm{azkeys.EncryptionAlgorithmRSAOAEP256, azkeys.EncryptionAlgorithmRSAOAEP, azkeys.EncryptionAlgorithmRSA15} {
				enc, err := kc.Encrypt(ctx, tc.name, version, azkeys.KeyOperationParameters{Algorithm: &alg, Value: plain}, nil)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := kc.Decrypt(ctx, tc.name, version, azkeys.KeyOperationParameters{Algorithm: &alg, Value: enc.Result}, nil)
				if err != nil || string(dec.Result) != string(plain) {
					t.Fatalf("%s decrypt(encrypt) = %q, %v", alg, dec.Result, err)
				}
				wrapped, err := kc.WrapKey(ctx, tc.name, version, azkeys.KeyOperationParameters{Algorithm: &alg, Value: plain}, nil)
				if err != nil {
					t.Fatal(err)
				}
				unwrapped, err := kc.UnwrapKey(ctx, tc.name, version, azkeys.KeyOperationParameters{Algorithm: &alg, Value: wrapped.Result}, nil)
				if err != nil || string(unwrapped.Result) != string(plain) {
					t.Fatalf("%s unwrap(wrap) = %q, %v", alg, unwrapped.Result, err)
				}
			}
			// A client encrypting locally with the public key, the service decrypting.
			local, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaPub, plain, nil)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := kc.UnwrapKey(ctx, tc.name, version, azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: local}, nil)
			if err != nil || string(dec.Result) != string(plain) {
				t.Fatalf("unwrap of a locally wrapped key = %q, %v", dec.Result, err)
			}
		})
	}
}

func TestKeyImportSignsWithTheImportedKey(t *testing.T) {
	e := startEmu(t)
	kc := e.keysClient("kv1")
	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecD, _ := ecPriv.Bytes()
	ecPub, _ := ecPriv.PublicKey.Bytes()
	tests := []struct {
		name string
		jwk  azkeys.JSONWebKey
		alg  azkeys.SignatureAlgorithm
		hash crypto.Hash
		pub  crypto.PublicKey
	}{
		{"imported-rsa", azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeRSA), N: rsaPriv.N.Bytes(), E: big.NewInt(int64(rsaPriv.E)).Bytes(), D: rsaPriv.D.Bytes(),
			P: rsaPriv.Primes[0].Bytes(), Q: rsaPriv.Primes[1].Bytes(), DP: rsaPriv.Precomputed.Dp.Bytes(), DQ: rsaPriv.Precomputed.Dq.Bytes(), QI: rsaPriv.Precomputed.Qinv.Bytes(),
			KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationSign), ptr(azkeys.KeyOperationVerify)}},
			azkeys.SignatureAlgorithmPS256, crypto.SHA256, &rsaPriv.PublicKey},
		{"imported-ec", azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeEC), Crv: ptr(azkeys.CurveNameP384), D: ecD, X: ecPub[1:49], Y: ecPub[49:]},
			azkeys.SignatureAlgorithmES384, crypto.SHA384, &ecPriv.PublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			imp, err := kc.ImportKey(ctx, tc.name, azkeys.ImportKeyParameters{Key: &tc.jwk}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !publicKeyOf(t, imp.Key).(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.pub) {
				t.Fatal("imported key's public JWK differs from the key imported")
			}
			h := tc.hash.New()
			h.Write([]byte("imported"))
			digest := h.Sum(nil)
			sig, err := kc.Sign(ctx, tc.name, imp.Key.KID.Version(), azkeys.SignParameters{Algorithm: &tc.alg, Value: digest}, nil)
			if err != nil {
				t.Fatal(err)
			}
			verifyLocally(t, tc.pub, tc.alg, tc.hash, digest, sig.Result)
		})
	}
	// key_ops limited to sign/verify: encrypt is refused.
	_, err := kc.Encrypt(ctx, "imported-rsa", "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("x")}, nil)
	if err == nil {
		t.Fatal("encrypt allowed by a sign-only key")
	}
}

// TestKeyBadInputIsBadParameterAndStoresNothing covers the bad-input list for keys.
func TestKeyBadInputIsBadParameterAndStoresNothing(t *testing.T) {
	e := startEmu(t)
	kc := e.keysClient("kv1")
	tests := []struct {
		name   string
		params azkeys.CreateKeyParameters
	}{
		{"oct", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeOct)}},
		{"secp256k1", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC), Curve: ptr(azkeys.CurveNameP256K)}},
		{"rsa-1024", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA), KeySize: ptr[int32](1024)}},
		{"ec-bad-op", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC), KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationEncrypt)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := kc.CreateKey(ctx, "bad-"+tc.name, tc.params, nil)
			wantCode(t, err, http.StatusBadRequest, "BadParameter")
			_, err = kc.GetKey(ctx, "bad-"+tc.name, "", nil)
			wantCode(t, err, http.StatusNotFound, "KeyNotFound")
		})
	}
	_, err := kc.ImportKey(ctx, "bad-import", azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeRSA), N: []byte{1, 2, 3}, E: []byte{1, 0, 1}}}, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter")
	_, err = kc.GetKey(ctx, "missing", "", nil)
	wantCode(t, err, http.StatusNotFound, "KeyNotFound")

	k, err := kc.CreateKey(ctx, "rsa", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := k.Key.KID.Version()
	_, err = kc.Sign(ctx, "rsa", v, azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES256), Value: make([]byte, 32)}, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter")
	_, err = kc.Sign(ctx, "rsa", v, azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: []byte("not a digest")}, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter")
	_, err = kc.UpdateKey(ctx, "rsa", v, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: ptr(false)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = kc.Sign(ctx, "rsa", v, azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: make([]byte, 32)}, nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")
	_, err = kc.Sign(ctx, "rsa", "0123456789abcdef0123456789abcdef", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: make([]byte, 32)}, nil)
	wantCode(t, err, http.StatusNotFound, "KeyNotFound")
}

func TestKeyVersionsRotateUpdateAndPaging(t *testing.T) {
	e := startEmu(t)
	kc := e.keysClient("kv1")
	first, err := kc.CreateKey(ctx, "rotating", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC), Curve: ptr(azkeys.CurveNameP384), Tags: map[string]*string{"team": ptr("a")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := kc.RotateKey(ctx, "rotating", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Key.KID.Version() == first.Key.KID.Version() || *rotated.Key.Crv != azkeys.CurveNameP384 || string(rotated.Key.X) == string(first.Key.X) {
		t.Errorf("rotate did not make a new P-384 key version: %s", *rotated.Key.KID)
	}
	upd, err := kc.UpdateKey(ctx, "rotating", "", azkeys.UpdateKeyParameters{Tags: map[string]*string{"team": ptr("b")}, KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationVerify)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *upd.Tags["team"] != "b" || len(upd.Key.KeyOps) != 1 || *upd.Key.KeyOps[0] != azkeys.KeyOperationVerify {
		t.Errorf("update = tags %v ops %v", upd.Tags, upd.Key.KeyOps)
	}
	_, err = kc.Sign(ctx, "rotating", rotated.Key.KID.Version(), azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES384), Value: make([]byte, 48)}, nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")
	// An empty version means the latest (the SDK sends /keys/{name}/sign).
	_, err = kc.Sign(ctx, "rotating", "", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES384), Value: make([]byte, 48)}, nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden")
	ver, err := kc.Verify(ctx, "rotating", "", azkeys.VerifyParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES384), Digest: make([]byte, 48), Signature: make([]byte, 96)}, nil)
	if err != nil || *ver.Value {
		t.Errorf("verify on the latest version = %v, %v; want false", ver.Value, err)
	}
	// The old version still signs.
	if _, err := kc.Sign(ctx, "rotating", first.Key.KID.Version(), azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES384), Value: make([]byte, 48)}, nil); err != nil {
		t.Fatal(err)
	}
	var versions []string
	for p := kc.NewListKeyPropertiesVersionsPager("rotating", nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Value {
			versions = append(versions, k.KID.Version())
		}
	}
	if len(versions) != 2 {
		t.Errorf("versions = %v", versions)
	}

	// Imports, not creates: the service's CREATE limit (20 per 10 s) would throttle 27 creates.
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d, _ := ecPriv.Bytes()
	xy, _ := ecPriv.PublicKey.Bytes()
	jwk := azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeEC), Crv: ptr(azkeys.CurveNameP256), D: d, X: xy[1:33], Y: xy[33:]}
	for i := range 27 {
		if _, err := kc.ImportKey(ctx, fmt.Sprintf("page-%02d", i), azkeys.ImportKeyParameters{Key: &jwk}, nil); err != nil {
			t.Fatal(err)
		}
	}
	names, pages := map[string]bool{}, 0
	for p := kc.NewListKeyPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, k := range page.Value {
			if k.KID.Version() != "" {
				t.Errorf("list item kid %s has a version", *k.KID)
			}
			names[k.KID.Name()] = true
		}
	}
	if len(names) != 28 || pages < 2 {
		t.Errorf("listed %d keys over %d pages, want 28 over at least 2", len(names), pages)
	}
}

func TestKeySoftDeleteRecoverPurgeBackupRestore(t *testing.T) {
	e := startEmu(t)
	kc := e.keysClient("kv1")
	created, err := kc.CreateKey(ctx, "cycle", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	backup, err := kc.BackupKey(ctx, "cycle", nil)
	if err != nil {
		t.Fatal(err)
	}
	del, err := kc.DeleteKey(ctx, "cycle", nil)
	if err != nil {
		t.Fatal(err)
	}
	if del.RecoveryID == nil || del.DeletedDate == nil || del.ScheduledPurgeDate == nil || *del.Key.KID != *created.Key.KID {
		t.Fatalf("delete = %+v", del.DeletedKey)
	}
	_, err = kc.GetKey(ctx, "cycle", "", nil)
	wantCode(t, err, http.StatusNotFound, "KeyNotFound")
	_, err = kc.CreateKey(ctx, "cycle", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
	if _, err := kc.GetDeletedKey(ctx, "cycle", nil); err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for p := kc.NewListDeletedKeyPropertiesPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deleted += len(page.Value)
	}
	if deleted != 1 {
		t.Errorf("%d deleted keys listed, want 1", deleted)
	}
	if _, err := kc.RecoverDeletedKey(ctx, "cycle", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.GetKey(ctx, "cycle", created.Key.KID.Version(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.DeleteKey(ctx, "cycle", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.PurgeDeletedKey(ctx, "cycle", nil); err != nil {
		t.Fatal(err)
	}
	_, err = kc.GetDeletedKey(ctx, "cycle", nil)
	wantCode(t, err, http.StatusNotFound, "KeyNotFound")
	restored, err := kc.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *restored.Key.KID != *created.Key.KID || string(restored.Key.N) != string(created.Key.N) {
		t.Errorf("restored %s, want %s with the same key", *restored.Key.KID, *created.Key.KID)
	}
	_, err = kc.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict")
}

func TestKeyRotationPolicy(t *testing.T) {
	e := startEmu(t)
	kc := e.keysClient("kv1")
	if _, err := kc.CreateKey(ctx, "rotated", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC)}, nil); err != nil {
		t.Fatal(err)
	}
	def, err := kc.GetKeyRotationPolicy(ctx, "rotated", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(def.LifetimeActions) != 1 || *def.LifetimeActions[0].Action.Type != azkeys.KeyRotationPolicyActionNotify || *def.LifetimeActions[0].Trigger.TimeBeforeExpiry != "P30D" {
		t.Errorf("default policy = %+v", def.KeyRotationPolicy)
	}
	policy := azkeys.KeyRotationPolicy{
		Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: ptr("P90D")},
		LifetimeActions: []*azkeys.LifetimeAction{{
			Action:  &azkeys.LifetimeActionType{Type: ptr(azkeys.KeyRotationPolicyActionRotate)},
			Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: ptr("P60D")},
		}},
	}
	set, err := kc.UpdateKeyRotationPolicy(ctx, "rotated", policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kc.GetKeyRotationPolicy(ctx, "rotated", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Attributes.ExpiryTime != "P90D" || *got.LifetimeActions[0].Trigger.TimeAfterCreate != "P60D" || *got.ID != *set.ID || got.Attributes.Created == nil {
		t.Errorf("stored policy = %+v %+v", got.Attributes, got.LifetimeActions[0].Trigger)
	}
	policy.LifetimeActions[0].Trigger.TimeAfterCreate = ptr("60 days")
	_, err = kc.UpdateKeyRotationPolicy(ctx, "rotated", policy, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter")
	_, err = kc.GetKeyRotationPolicy(ctx, "missing", nil)
	wantCode(t, err, http.StatusNotFound, "KeyNotFound")
}

// TestKeyConcurrentOperations signs and rotates from many goroutines at once: every signature
// must verify against the version that made it (run with -race to check the key cache).
func TestKeyConcurrentOperations(t *testing.T) {
	e := startEmu(t)
	kc := e.keysClient("kv1")
	if _, err := kc.CreateKey(ctx, "busy", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC)}, nil); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("concurrent"))
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			if i%8 == 0 {
				_, err := kc.RotateKey(ctx, "busy", nil)
				errs <- err
				return
			}
			sig, err := kc.Sign(ctx, "busy", "", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
			if err != nil {
				errs <- err
				return
			}
			got, err := kc.GetKey(ctx, "busy", sig.KID.Version(), nil)
			if err != nil {
				errs <- err
				return
			}
			// Not publicKeyOf: t.Fatal must not run outside the test goroutine.
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, got.Key.X...), got.Key.Y...))
			if err != nil {
				errs <- err
				return
			}
			if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig.Result[:32]), new(big.Int).SetBytes(sig.Result[32:])) {
				errs <- fmt.Errorf("signature by %s does not verify with that version's key", *sig.KID)
				return
			}
			errs <- nil
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
