package kvemulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator/internal/store"
)

// certAuthority is the emulator's CA: it signs the server certificate, and its
// certificate (ca.crt) is what users trust.
type certAuthority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	file    string // where ca.crt was written; "" when in memory
}

// loadOrCreateCA loads ca.crt/ca.key from dir, or generates them and writes
// them there (ca.key 0600). Without dir the CA lives in memory only.
func loadOrCreateCA(dir string) (*certAuthority, error) {
	if dir != "" {
		certPEM, errC := os.ReadFile(filepath.Join(dir, "ca.crt"))
		keyPEM, errK := os.ReadFile(filepath.Join(dir, "ca.key"))
		if errC == nil && errK == nil {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				return nil, fmt.Errorf("TLS directory %s: ca.crt/ca.key do not form a key pair (%v); delete both to generate a new CA", dir, err)
			}
			cert, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				return nil, err
			}
			key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("TLS directory %s: ca.key must be an ECDSA key; delete ca.crt and ca.key to generate a new CA", dir)
			}
			if !cert.IsCA {
				return nil, fmt.Errorf("TLS directory %s: ca.crt is not a CA certificate", dir)
			}
			return &certAuthority{cert: cert, key: key, certPEM: certPEM, file: filepath.Join(dir, "ca.crt")}, nil
		}
		if errC == nil && hasServerPair(dir) {
			// An externally issued server certificate: only the CA's certificate
			// is needed, to hand to clients.
			blk, _ := pem.Decode(certPEM)
			if blk == nil {
				return nil, fmt.Errorf("TLS directory %s: ca.crt holds no PEM block", dir)
			}
			cert, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("TLS directory %s: ca.crt: %w", dir, err)
			}
			return &certAuthority{cert: cert, certPEM: certPEM, file: filepath.Join(dir, "ca.crt")}, nil
		}
		if (errC == nil) != (errK == nil) {
			return nil, fmt.Errorf("TLS directory %s has only one of ca.crt and ca.key; provide both, or neither to generate them (or add server.crt/server.key issued by ca.crt)", dir)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: "kvemulator CA", Organization: []string{"kvcsi"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &certAuthority{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	if dir != "" {
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := store.WriteFileAtomic(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
			return nil, fmt.Errorf("writing ca.key: %w", err)
		}
		if err := store.WriteFileAtomic(filepath.Join(dir, "ca.crt"), ca.certPEM, 0o644); err != nil {
			return nil, fmt.Errorf("writing ca.crt: %w", err)
		}
		ca.file = filepath.Join(dir, "ca.crt")
	}
	return ca, nil
}

func hasServerPair(dir string) bool {
	_, errC := os.Stat(filepath.Join(dir, "server.crt"))
	_, errK := os.Stat(filepath.Join(dir, "server.key"))
	return errC == nil && errK == nil
}

// loadServerCert uses server.crt/server.key from dir when both exist (a
// certificate from the user's own PKI); otherwise the CA issues one.
func (ca *certAuthority) loadServerCert(dir string, dnsNames []string, ips []net.IP) (tls.Certificate, error) {
	if dir != "" && hasServerPair(dir) {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("TLS directory %s: server.crt/server.key: %w", dir, err)
		}
		return pair, nil
	}
	if ca.key == nil {
		return tls.Certificate{}, fmt.Errorf("TLS directory %s: no ca.key to issue a server certificate with", dir)
	}
	return ca.serverCert(dnsNames, ips)
}

func randSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// serverCert issues the listener's certificate for the given names. It is
// issued at every start, so the SANs always follow the configuration.
func (ca *certAuthority) serverCert(dnsNames []string, ips []net.IP) (tls.Certificate, error) {
	if len(dnsNames) == 0 {
		return tls.Certificate{}, errors.New("no server names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randSerial(),
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// serverNames are the SANs: localhost, the suffix and its wildcard, the login
// host, and with AzureNames the public names.
func (c Config) serverNames() ([]string, []net.IP) {
	names := []string{"localhost", c.DNSSuffix, "*." + c.DNSSuffix, c.LoginHost, c.managementHost()}
	if c.AzureNames {
		names = append(names, "*."+azureVaultSuffix, azureVaultSuffix, azureLoginHost, azureManagementHost)
	}
	return names, []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
}
