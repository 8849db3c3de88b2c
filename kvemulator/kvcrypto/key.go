package kvcrypto

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
)

// Key types as Key Vault names them. The emulator holds every key in software; the -HSM types
// are accepted and reported back unchanged so clients that ask for them see what they asked for.
const (
	KtyRSA    = "RSA"
	KtyRSAHSM = "RSA-HSM"
	KtyEC     = "EC"
	KtyECHSM  = "EC-HSM"
)

// Curve names as Key Vault names them.
const (
	CurveP256 = "P-256"
	CurveP384 = "P-384"
	CurveP521 = "P-521"
)

// Key operations as Key Vault names them.
const (
	OpEncrypt   = "encrypt"
	OpDecrypt   = "decrypt"
	OpSign      = "sign"
	OpVerify    = "verify"
	OpWrapKey   = "wrapKey"
	OpUnwrapKey = "unwrapKey"
)

var (
	rsaOps = []string{OpEncrypt, OpDecrypt, OpSign, OpVerify, OpWrapKey, OpUnwrapKey}
	ecOps  = []string{OpSign, OpVerify}
)

// RSASizes are the RSA modulus sizes Key Vault offers for software and HSM keys.
var RSASizes = []int{2048, 3072, 4096}

// JWK is a JSON Web Key with Key Vault's member names. Private members are only filled when
// the emulator serialises its own state (PrivateJWK); the data plane renders PublicJWK.
type JWK struct {
	KID    string   `json:"kid,omitempty"`
	Kty    string   `json:"kty,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
	N      Bytes    `json:"n,omitempty"`
	E      Bytes    `json:"e,omitempty"`
	D      Bytes    `json:"d,omitempty"`
	DP     Bytes    `json:"dp,omitempty"`
	DQ     Bytes    `json:"dq,omitempty"`
	QI     Bytes    `json:"qi,omitempty"`
	P      Bytes    `json:"p,omitempty"`
	Q      Bytes    `json:"q,omitempty"`
	K      Bytes    `json:"k,omitempty"`
	T      Bytes    `json:"key_hsm,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      Bytes    `json:"x,omitempty"`
	Y      Bytes    `json:"y,omitempty"`
}

// Key is a private key held by the emulator, with the key type and operations it was created
// or imported with. A Key is immutable once built, so it may be shared between versions.
type Key struct {
	kty    string
	ops    []string
	signer crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
}

// Kty is the key type as created or imported ("RSA", "EC-HSM", ...).
func (k *Key) Kty() string { return k.kty }

// Ops are the operations the key permits.
func (k *Key) Ops() []string { return slices.Clone(k.ops) }

// Signer is the private key (*rsa.PrivateKey or *ecdsa.PrivateKey).
func (k *Key) Signer() crypto.Signer { return k.signer }

// Public is the public half of the key.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// Size is the RSA modulus size in bits, or 0 for EC keys.
func (k *Key) Size() int {
	if r, ok := k.signer.(*rsa.PrivateKey); ok {
		return r.N.BitLen()
	}
	return 0
}

// Curve is the EC curve name, or "" for RSA keys.
func (k *Key) Curve() string {
	if e, ok := k.signer.(*ecdsa.PrivateKey); ok {
		return curveName(e.Curve)
	}
	return ""
}

// Permits reports whether op is among the key's operations.
func (k *Key) Permits(op string) bool { return slices.Contains(k.ops, op) }

// WithOps returns a copy of k permitting ops (validated as in Generate); the update operation
// uses it.
func (k *Key) WithOps(ops []string) (*Key, error) {
	checked, err := checkOps(k.kty, ops)
	if err != nil {
		return nil, err
	}
	return &Key{kty: k.kty, ops: checked, signer: k.signer}, nil
}

// GenerateOptions are the create-key parameters that shape the key material.
type GenerateOptions struct {
	Kty            string   // required: RSA, RSA-HSM, EC or EC-HSM
	Size           int      // RSA modulus bits; 0 means 2048
	PublicExponent int      // RSA public exponent; 0 means 65537, the only one supported
	Curve          string   // EC curve; "" means P-256
	Ops            []string // nil means every operation the key type supports
}

// Generate creates a new key as the create-key operation does.
func Generate(o GenerateOptions) (*Key, error) {
	switch normKty(o.Kty) {
	case KtyRSA:
		size := o.Size
		if size == 0 {
			size = 2048
		}
		if !slices.Contains(RSASizes, size) {
			return nil, badParam("key_size", "key_size %d is not supported for kty %s: use 2048, 3072 or 4096", size, o.Kty)
		}
		if o.PublicExponent != 0 && o.PublicExponent != 65537 {
			return nil, badParam("public_exponent", "public_exponent %d is not supported: use 65537 (or leave it unset)", o.PublicExponent)
		}
		if o.Curve != "" {
			return nil, badParam("crv", "crv is only valid for EC keys; remove it for kty %s", o.Kty)
		}
		ops, err := checkOps(o.Kty, o.Ops)
		if err != nil {
			return nil, err
		}
		priv, err := rsa.GenerateKey(rand.Reader, size)
		if err != nil {
			return nil, err
		}
		return &Key{kty: o.Kty, ops: ops, signer: priv}, nil
	case KtyEC:
		crv := o.Curve
		if crv == "" {
			crv = CurveP256
		}
		curve, err := curveByName(crv)
		if err != nil {
			return nil, err
		}
		if o.Size != 0 {
			return nil, badParam("key_size", "key_size is only valid for RSA keys; for kty %s choose the size with crv", o.Kty)
		}
		ops, err := checkOps(o.Kty, o.Ops)
		if err != nil {
			return nil, err
		}
		priv, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, err
		}
		return &Key{kty: o.Kty, ops: ops, signer: priv}, nil
	default:
		return nil, unsupportedKty(o.Kty)
	}
}

// FromSigner wraps an existing private key (from an imported certificate) as a Key of kty with
// every operation the type supports.
func FromSigner(s crypto.Signer) (*Key, error) {
	switch p := s.(type) {
	case *rsa.PrivateKey:
		if !slices.Contains(RSASizes, p.N.BitLen()) {
			return nil, badParam("key_size", "the RSA key is %d bits; Key Vault keys are 2048, 3072 or 4096 bits", p.N.BitLen())
		}
		return &Key{kty: KtyRSA, ops: slices.Clone(rsaOps), signer: p}, nil
	case *ecdsa.PrivateKey:
		if curveName(p.Curve) == "" {
			return nil, badParam("crv", "the EC key's curve is not supported: use P-256, P-384 or P-521")
		}
		return &Key{kty: KtyEC, ops: slices.Clone(ecOps), signer: p}, nil
	default:
		return nil, badParam("key", "the private key type %T is not supported: use an RSA or EC key", s)
	}
}

// ImportJWK builds a key from a JWK carrying private key material, as the import-key
// operation does. The key type is j.Kty (the -HSM forms are accepted); hsm=true with a
// non-HSM kty reports the HSM form, as Key Vault does.
func ImportJWK(j *JWK, hsm bool) (*Key, error) {
	if j == nil {
		return nil, badParam("key", "key is required: send the JSON Web Key to import in \"key\"")
	}
	kty := j.Kty
	if hsm && (kty == KtyRSA || kty == KtyEC) {
		kty += "-HSM"
	}
	switch normKty(j.Kty) {
	case KtyRSA:
		if len(j.N) == 0 || len(j.E) == 0 {
			return nil, badParam("key", "an RSA key needs the members n and e")
		}
		if len(j.D) == 0 || len(j.P) == 0 || len(j.Q) == 0 {
			return nil, badParam("key", "import needs the private key: an RSA JWK must carry d, p and q")
		}
		e := new(big.Int).SetBytes(j.E)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, badParam("key", "the RSA public exponent e is out of range")
		}
		priv := &rsa.PrivateKey{
			PublicKey: rsa.PublicKey{N: new(big.Int).SetBytes(j.N), E: int(e.Int64())},
			D:         new(big.Int).SetBytes(j.D),
			Primes:    []*big.Int{new(big.Int).SetBytes(j.P), new(big.Int).SetBytes(j.Q)},
		}
		if !slices.Contains(RSASizes, priv.N.BitLen()) {
			return nil, badParam("key", "the RSA key is %d bits; Key Vault keys are 2048, 3072 or 4096 bits", priv.N.BitLen())
		}
		if err := priv.Validate(); err != nil {
			return nil, badParam("key", "the RSA key is inconsistent (n, e, d, p and q do not form a key pair)")
		}
		priv.Precompute()
		ops, err := checkOps(kty, j.KeyOps)
		if err != nil {
			return nil, err
		}
		return &Key{kty: kty, ops: ops, signer: priv}, nil
	case KtyEC:
		curve, err := curveByName(j.Crv)
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(j.D) == 0 {
			return nil, badParam("key", "import needs the private key: an EC JWK must carry d")
		}
		if len(j.D) > size || len(j.X) > size || len(j.Y) > size {
			return nil, badParam("key", "the EC key members are too long for curve %s", j.Crv)
		}
		priv, err := ecdsa.ParseRawPrivateKey(curve, leftPad(j.D, size))
		if err != nil {
			return nil, badParam("key", "the EC private key d is not valid for curve %s", j.Crv)
		}
		if len(j.X) > 0 || len(j.Y) > 0 {
			want := append(append([]byte{4}, leftPad(j.X, size)...), leftPad(j.Y, size)...)
			got, err := priv.PublicKey.Bytes()
			if err != nil || !bytes.Equal(got, want) {
				return nil, badParam("key", "the EC key is inconsistent: x and y are not the public key of d")
			}
		}
		ops, err := checkOps(kty, j.KeyOps)
		if err != nil {
			return nil, err
		}
		return &Key{kty: kty, ops: ops, signer: priv}, nil
	default:
		return nil, unsupportedKty(j.Kty)
	}
}

// PublicJWK renders the key as the data plane returns it: public members only, base64url
// without padding, with kid and key_ops.
func (k *Key) PublicJWK(kid string) *JWK {
	j := &JWK{KID: kid, Kty: k.kty, KeyOps: slices.Clone(k.ops)}
	switch p := k.signer.(type) {
	case *rsa.PrivateKey:
		j.N = p.N.Bytes()
		j.E = big.NewInt(int64(p.E)).Bytes()
	case *ecdsa.PrivateKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		raw, _ := p.PublicKey.Bytes() // cannot fail for a key we hold
		j.Crv = curveName(p.Curve)
		j.X = raw[1 : 1+size]
		j.Y = raw[1+size:]
	}
	return j
}

// PrivateJWK renders the whole key, private members included. It is for the emulator's own
// persistence and backup blobs only; the data plane never returns it.
func (k *Key) PrivateJWK() *JWK {
	j := k.PublicJWK("")
	switch p := k.signer.(type) {
	case *rsa.PrivateKey:
		j.D = p.D.Bytes()
		j.P = p.Primes[0].Bytes()
		j.Q = p.Primes[1].Bytes()
		j.DP = p.Precomputed.Dp.Bytes()
		j.DQ = p.Precomputed.Dq.Bytes()
		j.QI = p.Precomputed.Qinv.Bytes()
	case *ecdsa.PrivateKey:
		d, _ := p.Bytes()
		j.D = d
	}
	return j
}

// MarshalJSON serialises the key with its private material, for persistence.
func (k *Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.PrivateJWK()) }

// UnmarshalJSON restores a key serialised by MarshalJSON.
func (k *Key) UnmarshalJSON(data []byte) error {
	var j JWK
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	nk, err := ImportJWK(&j, false)
	if err != nil {
		return err
	}
	*k = *nk
	return nil
}

// normKty maps the -HSM key types onto their software form; other values pass unchanged.
func normKty(kty string) string {
	return strings.TrimSuffix(kty, "-HSM")
}

func unsupportedKty(kty string) error {
	switch {
	case kty == "":
		return badParam("kty", "kty is required: use RSA, RSA-HSM, EC or EC-HSM")
	case strings.HasPrefix(kty, "oct"):
		return badParam("kty", "kty %s (symmetric keys) is only available in Managed HSM: use RSA, RSA-HSM, EC or EC-HSM", kty)
	default:
		return badParam("kty", "kty %q is not supported: use RSA, RSA-HSM, EC or EC-HSM", kty)
	}
}

func curveByName(name string) (elliptic.Curve, error) {
	switch name {
	case CurveP256:
		return elliptic.P256(), nil
	case CurveP384:
		return elliptic.P384(), nil
	case CurveP521:
		return elliptic.P521(), nil
	case "":
		return nil, badParam("crv", "crv is required for EC keys: use P-256, P-384 or P-521")
	case "P-256K", "SECP256K1":
		return nil, badParam("crv", "crv %s is not supported by the emulator: use P-256, P-384 or P-521", name)
	default:
		return nil, badParam("crv", "crv %q is not supported: use P-256, P-384 or P-521", name)
	}
}

func curveName(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return CurveP256
	case elliptic.P384():
		return CurveP384
	case elliptic.P521():
		return CurveP521
	}
	return ""
}

// checkOps validates requested key operations against the key type; nil means all of them.
func checkOps(kty string, ops []string) ([]string, error) {
	allowed := rsaOps
	if normKty(kty) == KtyEC {
		allowed = ecOps
	}
	if ops == nil {
		return slices.Clone(allowed), nil
	}
	if len(ops) == 0 {
		// An empty list would be indistinguishable from "unset" once stored; say so.
		return nil, badParam("key_ops", "key_ops is empty: list at least one of %s, or leave key_ops out for all of them; disable the key to stop all use", strings.Join(allowed, ", "))
	}
	out := make([]string, 0, len(ops))
	for _, op := range ops {
		if !slices.Contains(allowed, op) {
			return nil, badParam("key_ops", "key_ops value %q is not valid for kty %s: use %s", op, kty, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	return out, nil
}

func leftPad(b []byte, size int) []byte {
	if len(b) >= size {
		return b
	}
	out := make([]byte, size)
	copy(out[size-len(b):], b)
	return out
}
