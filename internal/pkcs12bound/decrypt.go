package pkcs12bound

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"hash"
	"unicode/utf16"
)

// Decrypting an encryptedData to see the bags inside: the same password
// encodings and algorithms the decoder (software.sslmate.com/src/go-pkcs12)
// supports, written from RFC 7292 appendix B (the PKCS#12 key derivation),
// RFC 8018 (PBES2) and RFC 2268 (RC2). The cost is the encryptedData's own
// derivation, which Check has bounded before calling decrypt.

var (
	oid3DES     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidRC2128   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidRC240    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidHMACSHA1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMAC256  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMAC512  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

var errUnsupported = errors.New("unsupported")

// bmpPassword is the PKCS#12 password encoding: UTF-16BE with a zero
// terminator ("" is two zero bytes).
func bmpPassword(p string) []byte {
	var out []byte
	for _, r := range utf16.Encode([]rune(p)) {
		out = append(out, byte(r>>8), byte(r))
	}
	return append(out, 0, 0)
}

// pkcs12KDF is RFC 7292 appendix B.2 with SHA-1 (u = 20, v = 64).
func pkcs12KDF(salt, password []byte, iterations int, id byte, size int) []byte {
	const u, v = 20, 64
	fill := func(p []byte) []byte {
		if len(p) == 0 {
			return nil
		}
		n := v * ((len(p) + v - 1) / v)
		out := make([]byte, n)
		for i := range out {
			out[i] = p[i%len(p)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	in := append(fill(salt), fill(password)...)
	var a []byte
	for len(a) < size {
		h := sha1.Sum(append(append([]byte{}, d...), in...))
		ai := h[:]
		for r := 1; r < iterations; r++ {
			h = sha1.Sum(ai)
			ai = h[:]
		}
		a = append(a, ai...)
		if len(a) >= size {
			break
		}
		var b [v]byte
		for i := range b {
			b[i] = ai[i%u]
		}
		for j := 0; j < len(in); j += v {
			c := uint16(1)
			for k := v - 1; k >= 0; k-- {
				c += uint16(in[j+k]) + uint16(b[k])
				in[j+k] = byte(c)
				c >>= 8
			}
		}
	}
	return a[:size]
}

// decrypt decrypts data as alg says with password (the raw string: each
// scheme encodes it as the decoder does). Check has bounded alg's
// iterations before this is called.
func decrypt(alg pkix.AlgorithmIdentifier, password string, pkcs12Pass []byte, data []byte) ([]byte, error) {
	var block cipher.Block
	var iv []byte
	switch {
	case alg.Algorithm.Equal(oid3DES), alg.Algorithm.Equal(oidRC2128), alg.Algorithm.Equal(oidRC240):
		var pp pbeParams
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &pp); err != nil {
			return nil, err
		}
		keyLen := 24
		if alg.Algorithm.Equal(oidRC2128) {
			keyLen = 16
		} else if alg.Algorithm.Equal(oidRC240) {
			keyLen = 5
		}
		key := pkcs12KDF(pp.Salt, pkcs12Pass, pp.Iterations, 1, keyLen)
		iv = pkcs12KDF(pp.Salt, pkcs12Pass, pp.Iterations, 2, 8)
		var err error
		if keyLen == 24 {
			block, err = des.NewTripleDESCipher(key)
		} else {
			block = newRC2(key, keyLen*8)
		}
		if err != nil {
			return nil, err
		}
	case alg.Algorithm.Equal(oidPBES2):
		var pp pbes2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &pp); err != nil {
			return nil, err
		}
		if !pp.Kdf.Algorithm.Equal(oidPBKDF2) {
			return nil, errUnsupported
		}
		var kp pbkdf2Params
		if _, err := asn1.Unmarshal(pp.Kdf.Parameters.FullBytes, &kp); err != nil {
			return nil, err
		}
		var prf func() hash.Hash
		switch {
		case kp.Prf.Algorithm == nil, kp.Prf.Algorithm.Equal(oidHMACSHA1):
			prf = sha1.New
		case kp.Prf.Algorithm.Equal(oidHMAC256):
			prf = sha256.New
		case kp.Prf.Algorithm.Equal(oidHMAC512):
			prf = sha512.New
		default:
			return nil, errUnsupported
		}
		keyLen := 0
		switch {
		case pp.EncryptionScheme.Algorithm.Equal(oidAES128):
			keyLen = 16
		case pp.EncryptionScheme.Algorithm.Equal(oidAES192):
			keyLen = 24
		case pp.EncryptionScheme.Algorithm.Equal(oidAES256):
			keyLen = 32
		default:
			return nil, errUnsupported
		}
		if kp.Iterations < 1 {
			return nil, errUnsupported
		}
		key, err := pbkdf2.Key(prf, password, kp.Salt.Bytes, kp.Iterations, keyLen)
		if err != nil {
			return nil, err
		}
		if block, err = aes.NewCipher(key); err != nil {
			return nil, err
		}
		iv = pp.EncryptionScheme.Parameters.Bytes
	default:
		return nil, errUnsupported
	}
	bs := block.BlockSize()
	if len(iv) != bs || len(data) == 0 || len(data)%bs != 0 {
		return nil, errUnsupported
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, data)
	pad := int(out[len(out)-1])
	if pad == 0 || pad > bs || pad > len(out) {
		return nil, errUnsupported
	}
	for _, b := range out[len(out)-pad:] {
		if int(b) != pad {
			return nil, errUnsupported
		}
	}
	return out[:len(out)-pad], nil
}

// RC2 (RFC 2268), decryption only.
type rc2 struct{ k [64]uint16 }

var piTable = [256]byte{
	0xd9, 0x78, 0xf9, 0xc4, 0x19, 0xdd, 0xb5, 0xed, 0x28, 0xe9, 0xfd, 0x79, 0x4a, 0xa0, 0xd8, 0x9d,
	0xc6, 0x7e, 0x37, 0x83, 0x2b, 0x76, 0x53, 0x8e, 0x62, 0x4c, 0x64, 0x88, 0x44, 0x8b, 0xfb, 0xa2,
	0x17, 0x9a, 0x59, 0xf5, 0x87, 0xb3, 0x4f, 0x13, 0x61, 0x45, 0x6d, 0x8d, 0x09, 0x81, 0x7d, 0x32,
	0xbd, 0x8f, 0x40, 0xeb, 0x86, 0xb7, 0x7b, 0x0b, 0xf0, 0x95, 0x21, 0x22, 0x5c, 0x6b, 0x4e, 0x82,
	0x54, 0xd6, 0x65, 0x93, 0xce, 0x60, 0xb2, 0x1c, 0x73, 0x56, 0xc0, 0x14, 0xa7, 0x8c, 0xf1, 0xdc,
	0x12, 0x75, 0xca, 0x1f, 0x3b, 0xbe, 0xe4, 0xd1, 0x42, 0x3d, 0xd4, 0x30, 0xa3, 0x3c, 0xb6, 0x26,
	0x6f, 0xbf, 0x0e, 0xda, 0x46, 0x69, 0x07, 0x57, 0x27, 0xf2, 0x1d, 0x9b, 0xbc, 0x94, 0x43, 0x03,
	0xf8, 0x11, 0xc7, 0xf6, 0x90, 0xef, 0x3e, 0xe7, 0x06, 0xc3, 0xd5, 0x2f, 0xc8, 0x66, 0x1e, 0xd7,
	0x08, 0xe8, 0xea, 0xde, 0x80, 0x52, 0xee, 0xf7, 0x84, 0xaa, 0x72, 0xac, 0x35, 0x4d, 0x6a, 0x2a,
	0x96, 0x1a, 0xd2, 0x71, 0x5a, 0x15, 0x49, 0x74, 0x4b, 0x9f, 0xd0, 0x5e, 0x04, 0x18, 0xa4, 0xec,
	0xc2, 0xe0, 0x41, 0x6e, 0x0f, 0x51, 0xcb, 0xcc, 0x24, 0x91, 0xaf, 0x50, 0xa1, 0xf4, 0x70, 0x39,
	0x99, 0x7c, 0x3a, 0x85, 0x23, 0xb8, 0xb4, 0x7a, 0xfc, 0x02, 0x36, 0x5b, 0x25, 0x55, 0x97, 0x31,
	0x2d, 0x5d, 0xfa, 0x98, 0xe3, 0x8a, 0x92, 0xae, 0x05, 0xdf, 0x29, 0x10, 0x67, 0x6c, 0xba, 0xc9,
	0xd3, 0x00, 0xe6, 0xcf, 0xe1, 0x9e, 0xa8, 0x2c, 0x63, 0x16, 0x01, 0x3f, 0x58, 0xe2, 0x89, 0xa9,
	0x0d, 0x38, 0x34, 0x1b, 0xab, 0x33, 0xff, 0xb0, 0xbb, 0x48, 0x0c, 0x5f, 0xb9, 0xb1, 0xcd, 0x2e,
	0xc5, 0xf3, 0xdb, 0x47, 0xe5, 0xa5, 0x9c, 0x77, 0x0a, 0xa6, 0x20, 0x68, 0xfe, 0x7f, 0xc1, 0xad,
}

func newRC2(key []byte, bits int) *rc2 {
	var l [128]byte
	copy(l[:], key)
	t := len(key)
	t8 := (bits + 7) / 8
	tm := byte(255 % (int(1) << (8 + bits - 8*t8)))
	for i := t; i < 128; i++ {
		l[i] = piTable[byte(l[i-1]+l[i-t])]
	}
	l[128-t8] = piTable[l[128-t8]&tm]
	for i := 127 - t8; i >= 0; i-- {
		l[i] = piTable[l[i+1]^l[i+t8]]
	}
	c := &rc2{}
	for i := range c.k {
		c.k[i] = uint16(l[2*i]) | uint16(l[2*i+1])<<8
	}
	return c
}

func (c *rc2) BlockSize() int          { return 8 }
func (c *rc2) Encrypt(dst, src []byte) { panic("pkcs12bound: RC2 encryption is not implemented") }

func (c *rc2) Decrypt(dst, src []byte) {
	var r [4]uint16
	for i := range r {
		r[i] = uint16(src[2*i]) | uint16(src[2*i+1])<<8
	}
	shifts := [4]uint{1, 2, 3, 5}
	j := 63
	mix := func() {
		for i := 3; i >= 0; i-- {
			r[i] = r[i]>>shifts[i] | r[i]<<(16-shifts[i])
			r[i] -= c.k[j] + (r[(i+3)%4] & r[(i+2)%4]) + (^r[(i+3)%4] & r[(i+1)%4])
			j--
		}
	}
	mash := func() {
		for i := 3; i >= 0; i-- {
			r[i] -= c.k[r[(i+3)%4]&63]
		}
	}
	for n := 0; n < 5; n++ {
		mix()
	}
	mash()
	for n := 0; n < 6; n++ {
		mix()
	}
	mash()
	for n := 0; n < 5; n++ {
		mix()
	}
	for i := range r {
		dst[2*i], dst[2*i+1] = byte(r[i]), byte(r[i]>>8)
	}
}
