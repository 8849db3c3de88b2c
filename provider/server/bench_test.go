package server_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/provider/server"
)

// BenchmarkConcurrentMounts: M concurrent Mounts of one SecretProviderClass
// with 5 secrets, as a Deployment's pods starting together (or one rotation
// poll) cause. Key Vault adds 10ms per request. Reported: Key Vault requests
// per Mount (emulator counters, challenges included), Mount latency p50/p99
// and Mounts per second, with the cache and collapsing on and off. The
// workload identity variant gives each of the M pods its own service-account
// token (as kubelet does), reused across rounds: identity keys are the exact
// token bytes, so pods share nothing and each pod's repeats share only with
// itself.
func BenchmarkConcurrentMounts(b *testing.B) {
	const m = 50
	variants := []struct {
		name string
		cfg  server.Config
		wi   bool
	}{
		{"cache=off,singleflight=off", server.Config{CacheTTL: 0, DisableSingleflight: true}, false},
		{"cache=off,singleflight=on", server.Config{CacheTTL: 0}, false},
		{"cache=10s,singleflight=on", server.Config{CacheTTL: 10 * time.Second}, false},
		{"workload-identity,token-per-pod,cache=10s,singleflight=on", server.Config{CacheTTL: 10 * time.Second}, true},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			e := newEnv(b, v.cfg)
			attrs := e.attrs(objs(
				"objectName: db-password; objectType: secret",
				"objectName: hexed; objectType: secret",
				"objectName: based; objectType: secret",
				"objectName: rotated; objectType: secret",
				"objectName: api-key; objectType: secret",
			))
			sec := spSecrets(readerID, readerSecret)
			podAttrs := make([]map[string]string, m)
			for j := range podAttrs {
				podAttrs[j] = attrs
				if v.wi {
					podAttrs[j] = map[string]string{"clientID": workloadID, "csi.storage.k8s.io/serviceAccount.tokens": saTokens(e.saToken(b, "default", "workload-identity-sa"))}
					for k, val := range attrs {
						podAttrs[j][k] = val
					}
					sec = nil
				}
			}
			// Warm the credential(s) (one token each), as a running provider is.
			for j := range podAttrs {
				if _, err := e.mount(context.Background(), podAttrs[j], sec); err != nil {
					b.Fatal(err)
				}
				if !v.wi {
					break
				}
			}
			if _, err := e.emu.Admin().AddFault(kvemulator.Fault{Vault: "kv1", Latency: kvemulator.Duration(10 * time.Millisecond)}); err != nil {
				b.Fatal(err)
			}
			if err := e.emu.Admin().ResetCounters(); err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			var mu sync.Mutex
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				for j := 0; j < m; j++ {
					wg.Add(1)
					go func(j int) {
						defer wg.Done()
						t0 := time.Now()
						if _, err := e.mount(context.Background(), podAttrs[j], sec); err != nil {
							b.Error(err)
						}
						d := time.Since(t0)
						mu.Lock()
						lat = append(lat, d)
						mu.Unlock()
					}(j)
				}
				wg.Wait()
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cs, err := e.emu.Admin().Counters()
			if err != nil {
				b.Fatal(err)
			}
			var reqs int64
			for _, c := range cs {
				if c.Vault == "kv1" {
					reqs += c.Count
				}
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			mounts := float64(b.N * m)
			b.ReportMetric(float64(reqs)/mounts, "kv-requests/mount")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(mounts/elapsed.Seconds(), "mounts/s")
		})
	}
}
