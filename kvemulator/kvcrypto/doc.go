// Package kvcrypto is the cryptography behind the Key Vault emulator's keys and certificates:
// key generation and JWK import/rendering, the sign/verify and encrypt/wrap operations with the
// semantics Key Vault gives them (signatures are over a caller-computed digest, EC signatures are
// raw r||s), self-signed certificates issued from a Key Vault certificate policy, PFX/PEM import,
// and rendering of a certificate's backing secret.
//
// It knows nothing about HTTP or the store: the emulator's handlers call it and turn every
// *Error it returns into a 400 BadParameter whose message is Error's text, so each message here
// names the offending field and says how to fix it. No message ever contains key material.
package kvcrypto
