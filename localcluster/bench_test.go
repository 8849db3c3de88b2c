package localcluster

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssKiB is the resident set of pid in KiB, from /proc/<pid>/status.
func rssKiB(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// benchStartStop starts and stops a cluster b.N times (binaries already
// cached: a warm start) and reports start, stop and per-process RSS.
func benchStartStop(b *testing.B, cfg Config) {
	ctx := context.Background()
	var startTotal, stopTotal time.Duration
	rss := map[string]int{}
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c, err := Start(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		startTotal += time.Since(t0)
		for _, p := range c.procs {
			rss[p.name] = rssKiB(p.cmd.Process.Pid)
		}
		t1 := time.Now()
		if err := c.Stop(); err != nil {
			b.Fatal(err)
		}
		stopTotal += time.Since(t1)
	}
	b.ReportMetric(startTotal.Seconds()/float64(b.N), "s-start/op")
	b.ReportMetric(stopTotal.Seconds()/float64(b.N), "s-stop/op")
	total := 0
	for name, kib := range rss {
		b.ReportMetric(float64(kib)/1024, "MiB-rss-"+name)
		total += kib
	}
	b.ReportMetric(float64(total)/1024, "MiB-rss-total")
}

func BenchmarkControlPlaneStartStop(b *testing.B) {
	benchStartStop(b, Config{ControlPlaneOnly: true})
}

func BenchmarkFullClusterStartStop(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: runs a kubelet, containerd and runc")
	}
	benchStartStop(b, Config{RunDir: testRunDir})
}
