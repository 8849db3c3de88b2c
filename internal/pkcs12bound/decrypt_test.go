package pkcs12bound

import (
	"crypto/cipher"
	"crypto/des"
	"encoding/asn1"
	"errors"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/internal/pkcs12bound/pkcs12boundtest"
)

func parts(t *testing.T, pfx []byte) (pfxPdu, []contentInfo) {
	t.Helper()
	var p pfxPdu
	if _, err := asn1.Unmarshal(pfx, &p); err != nil {
		t.Fatal(err)
	}
	var outer asn1.RawValue
	if _, err := asn1.Unmarshal(p.AuthSafe.Content.Bytes, &outer); err != nil {
		t.Fatal(err)
	}
	var safe []contentInfo
	if _, err := asn1.Unmarshal(outer.Bytes, &safe); err != nil {
		t.Fatal(err)
	}
	return p, safe
}

// TestDecryptReadsWhatTheEncodersWrite: Check's decryption of an
// encryptedData gives the bags for every algorithm the encoders use
// (3DES, RC2-40, PBES2/AES-256), so no encryptedData hides its bags.
func TestDecryptReadsWhatTheEncodersWrite(t *testing.T) {
	for name, enc := range map[string]*pkcs12.Encoder{"LegacyDES": pkcs12.LegacyDES, "LegacyRC2": pkcs12.LegacyRC2, "Modern": pkcs12.Modern} {
		pfx, err := pkcs12boundtest.PFX(enc)
		if err != nil {
			t.Fatal(err)
		}
		_, safe := parts(t, pfx)
		seen := 0
		for _, ci := range safe {
			if !ci.ContentType.Equal(oidEncryptedData) {
				continue
			}
			var ed encryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				t.Fatal(err)
			}
			plain, err := decrypt(ed.EncryptedContentInfo.ContentEncryptionAlgorithm, "", bmpPassword(""), ed.EncryptedContentInfo.EncryptedContent)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var bags []safeBag
			if _, err := asn1.Unmarshal(plain, &bags); err != nil || len(bags) == 0 {
				t.Fatalf("%s: decrypted content is not SafeContents: %v", name, err)
			}
			seen++
		}
		if seen == 0 {
			t.Fatalf("%s: no encryptedData", name)
		}
	}
}

// TestHugeKeyInsideEncryptedData: a shrouded key bag with 2^31-1
// iterations moved inside the (3DES) encryptedData, where only decryption
// shows it, is refused.
func TestHugeKeyInsideEncryptedData(t *testing.T) {
	pfx, err := pkcs12boundtest.Hostile(pkcs12boundtest.ShroudedKey, pkcs12boundtest.Huge)
	if err != nil {
		t.Fatal(err)
	}
	p, safe := parts(t, pfx)
	var keyBags []safeBag
	var ed encryptedData
	for _, ci := range safe {
		switch {
		case ci.ContentType.Equal(oidData):
			var data []byte
			asn1.Unmarshal(ci.Content.Bytes, &data)
			asn1.Unmarshal(data, &keyBags)
		case ci.ContentType.Equal(oidEncryptedData):
			asn1.Unmarshal(ci.Content.Bytes, &ed)
		}
	}
	alg := ed.EncryptedContentInfo.ContentEncryptionAlgorithm
	plain, err := decrypt(alg, "", bmpPassword(""), ed.EncryptedContentInfo.EncryptedContent)
	if err != nil {
		t.Fatal(err)
	}
	var bags []safeBag
	if _, err := asn1.Unmarshal(plain, &bags); err != nil {
		t.Fatal(err)
	}
	inner, err := asn1.Marshal(append(bags, keyBags...))
	if err != nil {
		t.Fatal(err)
	}
	// Encrypt as the encoder does: the same 3DES derivation, PKCS#7 padding.
	var pp pbeParams
	asn1.Unmarshal(alg.Parameters.FullBytes, &pp)
	block, _ := des.NewTripleDESCipher(pkcs12KDF(pp.Salt, bmpPassword(""), pp.Iterations, 1, 24))
	pad := 8 - len(inner)%8
	for i := 0; i < pad; i++ {
		inner = append(inner, byte(pad))
	}
	ct := make([]byte, len(inner))
	cipher.NewCBCEncrypter(block, pkcs12KDF(pp.Salt, bmpPassword(""), pp.Iterations, 2, 8)).CryptBlocks(ct, inner)
	ed.EncryptedContentInfo.EncryptedContent = ct
	edb, err := asn1.Marshal(ed)
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(b []byte) asn1.RawValue {
		full, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: b})
		return asn1.RawValue{FullBytes: full}
	}
	sb, _ := asn1.Marshal([]contentInfo{{ContentType: oidEncryptedData, Content: wrap(edb)}})
	ob, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagOctetString, Bytes: sb})
	p.AuthSafe.Content = wrap(ob)
	nested, err := asn1.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	// The file is only hostile inside: its outer counts are ordinary.
	err = Check(nested)
	var be *Error
	if !errors.As(err, &be) || be.Iterations != pkcs12boundtest.Huge {
		t.Fatalf("%v, want the inner key bag's %d iterations refused", err, pkcs12boundtest.Huge)
	}
}
