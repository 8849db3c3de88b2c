package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// kvFront is the HTTPS endpoint the providers talk to: its own TLS listener in
// front of the emulator's handler, which adds the per-request latency (uniform
// in latency±jitter, for Key Vault and Entra ID alike) and counts requests per
// second, so the report can plot them against the service limit.
type kvFront struct {
	emu     *kvemulator.Server
	lis     net.Listener
	srv     *http.Server
	caPEM   []byte
	latency time.Duration
	jitter  time.Duration
	start   time.Time

	kv, entra, token, throttled, kvErrors, challenges atomic.Int64

	mu     sync.Mutex
	perSec map[int]*secCount
}

type secCount struct{ kv, entra, throttled int64 }

// frontHosts are the names the front's certificate covers; the providers
// resolve them to 127.0.0.1 through their own /etc/hosts.
const (
	vaultSuffix = "vault.kvcsi.test"
	loginHost   = "login.kvcsi.test"
)

func startFront(emu *kvemulator.Server, latency, jitter time.Duration) (*kvFront, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kvcsi sim front CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: loginHost},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		DNSNames:    []string{"*." + vaultSuffix, vaultSuffix, loginHost, "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &kvFront{
		emu: emu, lis: lis, latency: latency, jitter: jitter, start: time.Now(), perSec: map[int]*secCount{},
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
	f.srv = &http.Server{
		Handler:           f,
		ReadHeaderTimeout: 30 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
	}
	go func() {
		if err := f.srv.ServeTLS(lis, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err
		}
	}()
	return f, nil
}

func (f *kvFront) port() string {
	_, p, _ := net.SplitHostPort(f.lis.Addr().String())
	return p
}

func (f *kvFront) close() { _ = f.srv.Close() }

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (f *kvFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	isLogin := host == loginHost
	d := f.latency
	if f.jitter > 0 {
		d += time.Duration((mrand.Float64()*2 - 1) * float64(f.jitter))
	}
	if d > 0 {
		time.Sleep(d)
	}
	sw := &statusWriter{ResponseWriter: w}
	f.emu.ServeHTTP(sw, r)
	sec := int(time.Since(f.start) / time.Second)
	f.mu.Lock()
	c := f.perSec[sec]
	if c == nil {
		c = &secCount{}
		f.perSec[sec] = c
	}
	if isLogin {
		c.entra++
	} else {
		c.kv++
	}
	if sw.code == http.StatusTooManyRequests {
		c.throttled++
	}
	f.mu.Unlock()
	switch {
	case isLogin:
		f.entra.Add(1)
		if strings.HasSuffix(r.URL.Path, "/token") {
			f.token.Add(1)
		}
	default:
		f.kv.Add(1)
		if sw.code >= 400 && sw.code != http.StatusUnauthorized {
			f.kvErrors.Add(1)
		}
		if sw.code == http.StatusUnauthorized {
			f.challenges.Add(1)
		}
	}
	if sw.code == http.StatusTooManyRequests {
		f.throttled.Add(1)
	}
}

// counts is a snapshot of the totals.
type counts struct{ KV, Entra, Token, Throttled, KVErrors, Challenges int64 }

func (f *kvFront) counts() counts {
	return counts{f.kv.Load(), f.entra.Load(), f.token.Load(), f.throttled.Load(), f.kvErrors.Load(), f.challenges.Load()}
}

// reads are the Key Vault requests that were not 401 auth challenges (an
// azure-sdk client sends its first request without a token to learn the
// tenant and scope; that request reads nothing).
func (c counts) reads() int64 { return c.KV - c.Challenges }

func (c counts) sub(o counts) counts {
	return counts{c.KV - o.KV, c.Entra - o.Entra, c.Token - o.Token, c.Throttled - o.Throttled, c.KVErrors - o.KVErrors, c.Challenges - o.Challenges}
}

// second returns the counts of the second that started at t.
func (f *kvFront) second(t time.Time) secCount {
	sec := int(t.Sub(f.start) / time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.perSec[sec]; c != nil {
		return *c
	}
	return secCount{}
}
