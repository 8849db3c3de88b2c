package secretsynccontroller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	ssv1alpha1 "github.com/kvcsi/kvcsi/api/secretsync/v1alpha1"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Defaults are upstream's.
const (
	DefaultRotationPollInterval = 12 * time.Hour
	DefaultMetricsAddr          = ":8085"
	DefaultProbeAddr            = ":8081"
	DefaultProviderVolume       = "/provider"
	// LeaderElectionID is the Lease name (upstream's).
	LeaderElectionID = "29f1d54e.secret-sync.x-k8s.io"
)

// Config is what the binary's flags give.
type Config struct {
	REST *rest.Config
	// TokenRequestAudiences: one token per audience.
	TokenRequestAudiences []string
	ProviderVolume        string
	// RotationPollInterval re-syncs every SecretSync this often; 0 disables.
	RotationPollInterval time.Duration
	MaxCallRecvMsgSize   int
	MetricsAddr          string // "" or "0" disables
	ProbeAddr            string // "" or "0" disables
	LeaderElect          bool
	// LeaderElectionNamespace defaults to the pod's namespace
	// (SYNC_CONTROLLER_POD_NAMESPACE), else kube-system.
	LeaderElectionNamespace string
	// PodName and PodUID are sent as pod attributes (downward API:
	// SYNC_CONTROLLER_POD_NAME, SYNC_CONTROLLER_POD_UID).
	PodName, PodUID string
	Workers         int
	Log             logr.Logger
}

// Run runs the controller until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.REST == nil {
		return errors.New("secretsynccontroller: no REST config")
	}
	if cfg.ProviderVolume == "" {
		cfg.ProviderVolume = DefaultProviderVolume
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	kube, err := kubernetes.NewForConfig(cfg.REST)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg.REST)
	if err != nil {
		return err
	}
	pool, err := providerclient.New(providerclient.Config{Dirs: []string{cfg.ProviderVolume}, MaxRecvMsgSize: cfg.MaxCallRecvMsgSize, Log: cfg.Log})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	scheme := runtime.NewScheme()
	_ = ssv1alpha1.AddToScheme(scheme)
	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer bc.Shutdown()
	r := &Reconciler{
		Kube: kube, Dynamic: dyn, Providers: pool, Audiences: cfg.TokenRequestAudiences,
		PodName: cfg.PodName, PodUID: cfg.PodUID,
		Events: bc.NewRecorder(scheme, corev1.EventSource{Component: "secrets-store-sync-controller"}),
		Log:    cfg.Log, Metrics: NewMetrics(reg),
	}

	var ready atomic.Bool
	serve(ctx, cfg.Log, cfg.MetricsAddr, func(mux *http.ServeMux) {
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	})
	serve(ctx, cfg.Log, cfg.ProbeAddr, func(mux *http.ServeMux) {
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !ready.Load() && cfg.LeaderElect {
				// A standby is ready too: it is waiting for the lease.
				_, _ = w.Write([]byte("ok"))
				return
			}
			if !ready.Load() {
				http.Error(w, "informer not synced", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok"))
		})
	})

	work := func(ctx context.Context) error { return runLoop(ctx, cfg, r, dyn, &ready) }
	if !cfg.LeaderElect {
		return work(ctx)
	}
	ns := cfg.LeaderElectionNamespace
	if ns == "" {
		ns = os.Getenv("SYNC_CONTROLLER_POD_NAMESPACE")
	}
	if ns == "" {
		ns = "kube-system"
	}
	id, _ := os.Hostname()
	if cfg.PodName != "" {
		id = cfg.PodName
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: LeaderElectionID},
		Client:     kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	var runErr error
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) { runErr = work(ctx) },
			OnStoppedLeading: func() { cfg.Log.Info("leader lease lost or released", "lease", ns+"/"+LeaderElectionID) },
		},
	})
	return runErr
}

func serve(ctx context.Context, log logr.Logger, addr string, routes func(*http.ServeMux)) {
	if addr == "" || addr == "0" {
		return
	}
	mux := http.NewServeMux()
	routes(mux)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error(err, "listen", "addr", addr)
		return
	}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
}

type key struct{ namespace, name string }

func runLoop(ctx context.Context, cfg Config, r *Reconciler, dyn dynamic.Interface, ready *atomic.Bool) error {
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[key](time.Second, 5*time.Minute),
		workqueue.TypedRateLimitingQueueConfig[key]{Name: "secretsync"})
	defer q.ShutDown()
	f := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)
	inf := f.ForResource(ssv1alpha1.Resource).Informer()
	enqueue := func(obj any) {
		m, err := objMeta(obj)
		if err == nil {
			q.Add(key{m.GetNamespace(), m.GetName()})
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			o, err1 := objMeta(old)
			n, err2 := objMeta(cur)
			if err1 == nil && err2 == nil && o.GetGeneration() != n.GetGeneration() {
				enqueue(cur)
			}
		},
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("SecretSync informer did not sync: %w", ctx.Err())
	}
	ready.Store(true)
	cfg.Log.Info("secrets-store-sync-controller started", "rotationPollInterval", cfg.RotationPollInterval.String(),
		"audiences", len(cfg.TokenRequestAudiences), "providerVolume", cfg.ProviderVolume)
	for i := 0; i < cfg.Workers; i++ {
		go func() {
			for {
				k, shutdown := q.Get()
				if shutdown {
					return
				}
				err := r.Reconcile(ctx, k.namespace, k.name)
				if err != nil {
					q.AddRateLimited(k)
				} else {
					q.Forget(k)
					if cfg.RotationPollInterval > 0 {
						q.AddAfter(k, cfg.RotationPollInterval)
					}
				}
				q.Done(k)
			}
		}()
	}
	<-ctx.Done()
	return nil
}

func objMeta(obj any) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("not an object: %T", obj)
	}
	return m, nil
}
