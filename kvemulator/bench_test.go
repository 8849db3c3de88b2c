package kvemulator_test

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// BenchmarkGetSecret measures GET-secret throughput and p99 latency over TLS
// keep-alive (HTTP/1.1, one connection per client) with N concurrent clients,
// against the emulator and, in the same run, a bare Go TLS server that
// returns a constant body of the same size. The difference is the emulator's
// cost: routing, token verification, access policy, throttling, store, JSON.
func BenchmarkGetSecret(b *testing.B) {
	sd, err := kvemulator.LoadSeedFile("testdata/seed.yaml")
	if err != nil {
		b.Fatal(err)
	}
	s, err := kvemulator.Start(context.Background(), kvemulator.Config{Seed: sd, DisableThrottling: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tok, err := s.MintToken("app-reader", "https://vault.azure.net", 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	url := s.VaultURL("kv1") + "secrets/db-password/?api-version=2026-04-01"
	body := probe(b, s.Transport(), url, tok)

	bare := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}))
	bare.TLS = &tls.Config{}
	bare.Config.ErrorLog = log.New(io.Discard, "", 0) // client-side dial races log handshake EOFs
	bare.StartTLS()
	defer bare.Close()

	for _, clients := range []int{1, 8, 32} {
		b.Run("emulator/clients="+strconv.Itoa(clients), func(b *testing.B) {
			tr := s.Transport()
			run(b, tr, url, tok, clients)
		})
		b.Run("bare-tls/clients="+strconv.Itoa(clients), func(b *testing.B) {
			tr := bare.Client().Transport.(*http.Transport).Clone()
			tr.DialContext = (&net.Dialer{}).DialContext
			run(b, tr, bare.URL+"/secrets/db-password/", tok, clients)
		})
	}
}

func probe(b *testing.B, tr *http.Transport, url, tok string) []byte {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		b.Fatalf("probe: %d %s", resp.StatusCode, body)
	}
	return body
}

func run(b *testing.B, tr *http.Transport, url, tok string, clients int) {
	tr.ForceAttemptHTTP2 = false
	tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	tr.MaxIdleConnsPerHost = clients
	tr.MaxConnsPerHost = clients
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	// Warm the connections so the handshakes are not measured.
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); get(b, hc, url, tok) }()
	}
	wg.Wait()

	lat := make([][]time.Duration, clients)
	per := (b.N + clients - 1) / clients
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l := make([]time.Duration, 0, per)
			for j := 0; j < per; j++ {
				t0 := time.Now()
				get(b, hc, url, tok)
				l = append(l, time.Since(t0))
			}
			lat[i] = l
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	p99 := all[len(all)*99/100]
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
}

func get(b *testing.B, hc *http.Client, url, tok string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("status %d", resp.StatusCode)
	}
}
