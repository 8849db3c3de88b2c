package pkcs12bound_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/kvcsi/kvcsi/internal/pkcs12bound"
	"github.com/kvcsi/kvcsi/internal/pkcs12bound/pkcs12boundtest"
)

var encoders = map[string]*pkcs12.Encoder{
	"LegacyDES": pkcs12.LegacyDES,
	"LegacyRC2": pkcs12.LegacyRC2,
	"Modern":    pkcs12.Modern,
}

var places = map[string]pkcs12boundtest.Where{
	"MAC":           pkcs12boundtest.MAC,
	"encryptedData": pkcs12boundtest.EncryptedData,
	"shrouded key":  pkcs12boundtest.ShroudedKey,
}

// TestOrdinaryPFXPasses: what the encoders (and Key Vault) produce passes
// and still decodes.
func TestOrdinaryPFXPasses(t *testing.T) {
	for name, enc := range encoders {
		pfx, err := pkcs12boundtest.PFX(enc)
		if err != nil {
			t.Fatal(err)
		}
		if err := pkcs12bound.Check(pfx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, _, _, err := pkcs12.DecodeChain(pfx, ""); err != nil {
			t.Errorf("%s: decode: %v", name, err)
		}
	}
}

// TestRewriterKeepsStructure: rewriting a count to the value it had gives
// the same bytes, so the hostile files differ only in the count.
func TestRewriterKeepsStructure(t *testing.T) {
	pfx, err := pkcs12boundtest.PFX(pkcs12.LegacyDES)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range places {
		n := 2048 // LegacyDES: encryption 2048, MAC 1
		if w == pkcs12boundtest.MAC {
			n = 1
		}
		same, err := pkcs12boundtest.WithIterations(pfx, w, n)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(same, pfx) {
			t.Errorf("%s: rewriting the count to its value changed the file", name)
		}
	}
}

// TestHugeIterationsRefused (issue 10 §2): 2^31-1 iterations anywhere
// Check can see is refused, with the count and the bound in the message,
// without deriving anything (this test would take minutes otherwise).
func TestHugeIterationsRefused(t *testing.T) {
	for encName, enc := range encoders {
		pfx, err := pkcs12boundtest.PFX(enc)
		if err != nil {
			t.Fatal(err)
		}
		for where, w := range places {
			hostile, err := pkcs12boundtest.WithIterations(pfx, w, pkcs12boundtest.Huge)
			if err != nil {
				t.Fatalf("%s %s: %v", encName, where, err)
			}
			err = pkcs12bound.Check(hostile)
			var be *pkcs12bound.Error
			if !errors.As(err, &be) || be.Iterations != pkcs12boundtest.Huge {
				t.Fatalf("%s %s: %v, want a refusal of %d iterations", encName, where, err, pkcs12boundtest.Huge)
			}
			msg := err.Error()
			if !strings.Contains(msg, "2147483647") || !strings.Contains(msg, strconv.Itoa(pkcs12bound.MaxIterations)) {
				t.Fatalf("%s %s: message %q names neither the count nor the bound", encName, where, msg)
			}
		}
	}
}

// TestBoundIsInclusive: MaxIterations passes, one more is refused.
func TestBoundIsInclusive(t *testing.T) {
	pfx, err := pkcs12boundtest.PFX(pkcs12.Modern)
	if err != nil {
		t.Fatal(err)
	}
	for where, w := range places {
		at, _ := pkcs12boundtest.WithIterations(pfx, w, pkcs12bound.MaxIterations)
		if err := pkcs12bound.Check(at); err != nil {
			t.Errorf("%s at the bound: %v", where, err)
		}
		over, _ := pkcs12boundtest.WithIterations(pfx, w, pkcs12bound.MaxIterations+1)
		if err := pkcs12bound.Check(over); err == nil {
			t.Errorf("%s over the bound passed", where)
		}
	}
}

func TestSizeAndStructure(t *testing.T) {
	if err := pkcs12bound.Check(make([]byte, pkcs12bound.MaxSize+1)); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("oversized: %v", err)
	}
	// Garbage is the decoder's to refuse, with its own message.
	if err := pkcs12bound.Check([]byte("not der")); err != nil {
		t.Fatalf("garbage: %v", err)
	}
}

// FuzzCheck: Check never panics, and whatever it passes the decoder may
// decode (never a count above the bound in a place Check sees).
func FuzzCheck(f *testing.F) {
	for _, enc := range encoders {
		pfx, err := pkcs12boundtest.PFX(enc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pfx)
		for _, w := range places {
			h, err := pkcs12boundtest.WithIterations(pfx, w, pkcs12boundtest.Huge)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(h)
		}
	}
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = pkcs12bound.Check(b)
	})
}
