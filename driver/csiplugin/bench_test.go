package csiplugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kvcsi/kvcsi/driver/tmpfs"
)

// benchEnv is newEnv for benchmarks (which have no *testing.T).
func benchEnv(b *testing.B) *env {
	if os.Geteuid() != 0 {
		b.Skip("needs root: NodePublishVolume mounts a real tmpfs")
	}
	return newEnvTB(b)
}

// BenchmarkNodePublishVolume measures one first publish over the real CSI
// socket: SPC lookup, tmpfs mount, provider Mount over its socket, atomic
// write, hooks. Unpublish runs outside the timer.
func BenchmarkNodePublishVolume(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		target := filepath.Join(e.root, "t", strconv.Itoa(i))
		if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := e.client.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "v", TargetPath: target}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkNodeRepublishUnchanged measures kubelet's periodic republish
// when the provider returns the same content (nothing is written).
func BenchmarkNodeRepublishUnchanged(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	target := filepath.Join(e.root, "t")
	if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
		b.Fatal(err)
	}
	defer tmpfs.Unmount(target)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRSSWith1000Mounts publishes 1,000 volumes and reports the
// process's resident memory (driver plugin, fake provider and CSI client
// share the process, so this is an upper bound for the plugin).
func BenchmarkRSSWith1000Mounts(b *testing.B) {
	e := benchEnv(b)
	ctx := context.Background()
	runtime.GC()
	before := rssMiB(b)
	var targets []string
	for i := 0; i < 1000; i++ {
		target := filepath.Join(e.root, "m", strconv.Itoa(i))
		if _, err := e.client.NodePublishVolume(ctx, e.publishReq(target, "spc1")); err != nil {
			b.Fatal(err)
		}
		targets = append(targets, target)
	}
	runtime.GC()
	after := rssMiB(b)
	b.ReportMetric(before, "RSS-MiB-before")
	b.ReportMetric(after, "RSS-MiB-1000-mounts")
	for _, t := range targets {
		if err := tmpfs.Unmount(t); err != nil {
			b.Fatal(err)
		}
	}
}

func rssMiB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("needs /proc: reads VmRSS")
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb float64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "VmRSS:"), "kB")), &kb)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}
