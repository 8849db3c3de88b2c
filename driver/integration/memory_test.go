package integration

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kvcsi/kvcsi/driver/informers"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// BenchmarkWatchesWith10kUnrelatedSecrets creates 10,000 Secrets the driver
// has no business with (4 KiB each), then starts the driver's real watches
// (this node's pods, its pod statuses, managed and used Secrets) and
// reports the heap they hold, next to what one unfiltered Secret informer
// would hold.
func BenchmarkWatchesWith10kUnrelatedSecrets(b *testing.B) {
	c := controlPlaneB(b)
	fast := c.RESTConfig()
	fast.QPS, fast.Burst = 2000, 2000 // client-go's default 5 QPS would take half an hour
	kube, err := kubernetes.NewForConfig(fast)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ns, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "unrelated-"}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer kube.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
	payload := make([]byte, 4096)
	const n = 10000
	sem := make(chan struct{}, 16)
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			_, err := kube.CoreV1().Secrets(ns.Name).Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("unrelated-%05d", i)},
				Data:       map[string][]byte{"k": payload},
			}, metav1.CreateOptions{})
			errc <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	_, ss := clientsB(b)

	before := heapMiB()
	wctx, cancel := context.WithCancel(ctx)
	w, err := informers.New(kube, ss.Dynamic(), "bench-node", informers.Options{Rotation: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(wctx, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	// The managed Secrets start on first use, as a sync would.
	if err := wait.PollUntilContextTimeout(wctx, 10*time.Millisecond, 5*time.Minute, true, func(context.Context) (bool, error) {
		_, err := w.ManagedSecrets().List(labels.Everything())
		return err == nil, nil
	}); err != nil {
		b.Fatal(err)
	}
	withWatches := heapMiB()
	cancel()

	f := kubeinformers.NewSharedInformerFactory(kube, 0)
	inf := f.Core().V1().Secrets().Informer()
	uctx, ucancel := context.WithCancel(ctx)
	f.Start(uctx.Done())
	cache.WaitForCacheSync(uctx.Done(), inf.HasSynced)
	unfiltered := heapMiB()
	ucancel()

	b.ReportMetric(withWatches-before, "MiB-driver-watches")
	b.ReportMetric(unfiltered-before, "MiB-unfiltered-informer")
}
