package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Cluster is a running local cluster. Stop it to put the host back.
type Cluster struct {
	cfg     Config
	bins    binaries
	pki     *pki
	procs   []*process
	etcdURL string
	apiURL  string
	rest    *rest.Config
	http    *http.Client
	// ctrdSock is containerd's socket (full cluster only).
	ctrdSock string
	// holdsLock is true while this cluster holds the host lock.
	holdsLock bool

	stopOnce sync.Once
	stopErr  error
}

// geteuid is os.Geteuid, replaceable in tests.
var geteuid = os.Geteuid

// Start brings up a cluster as cfg says and returns when it is usable: for a
// full cluster, when the node is Ready and the pause image is loaded; for
// ControlPlaneOnly, when the apiserver is ready, the CRDs are Established
// and the controller manager runs. It first calls Cleanup(cfg.RunDir), so a
// killed earlier run leaves nothing behind. On failure everything started so
// far is stopped and undone.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if !cfg.ControlPlaneOnly {
		if runtime.GOOS != "linux" {
			return nil, fmt.Errorf("a full local cluster runs only on Linux (this is %s); set Config.ControlPlaneOnly for an API-only cluster", runtime.GOOS)
		}
		if geteuid() != 0 {
			return nil, ErrNeedsRoot
		}
	}
	start := time.Now()
	bins, err := EnsureBinaries(ctx, cfg.BinDir, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, bins: bins}
	if !cfg.ControlPlaneOnly {
		if err := acquireHostLock(ctx, cfg.Logger); err != nil {
			return nil, err
		}
		c.holdsLock = true
		if err := cleanupPreviousOwner(cfg.RunDir, cfg.Logger); err != nil {
			releaseHostLock()
			return nil, err
		}
	}
	if err := c.prepareRunDir(); err != nil {
		if c.holdsLock {
			releaseHostLock()
		}
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		if stopErr := c.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("undo the partial start: %w", stopErr))
		}
		return nil, err
	}
	cfg.Logger.Info("local cluster up", "seconds", time.Since(start).Seconds(), "kubeconfig", c.KubeconfigPath())
	return c, nil
}

// prepareRunDir undoes an earlier run in RunDir and empties it: old etcd
// data, keys and logs would mix with the new run's.
func (c *Cluster) prepareRunDir() error {
	if err := Cleanup(c.cfg.RunDir); err != nil {
		return fmt.Errorf("clean up an earlier run in %s: %w", c.cfg.RunDir, err)
	}
	if err := removeAllNoMounts(c.cfg.RunDir); err != nil {
		return err
	}
	if err := os.MkdirAll(c.cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("create Config.RunDir: %w", err)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	if !c.cfg.ControlPlaneOnly {
		// Record the host before touching it, so a killed run can be undone.
		if err := recordHost(c.cfg.RunDir); err != nil {
			return err
		}
		if err := setupNetwork(c.cfg); err != nil {
			return err
		}
		if err := prepareKubeletDir(); err != nil {
			return err
		}
	}
	p, err := newPKI(c.cfg.RunDir + "/pki")
	if err != nil {
		return fmt.Errorf("create the cluster CA: %w", err)
	}
	c.pki = p
	if err := p.serviceAccountKeys(); err != nil {
		return fmt.Errorf("create the service-account keys: %w", err)
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"etcd", c.startEtcd},
		{"kube-apiserver", c.startAPIServer},
		{"CRDs", c.installCRDs},
		{"kube-controller-manager", c.startControllerManager},
	}
	if c.cfg.ControlPlaneOnly && c.cfg.Scheduler {
		steps = append(steps, struct {
			name string
			fn   func(context.Context) error
		}{"kube-scheduler", c.startScheduler})
	}
	if !c.cfg.ControlPlaneOnly {
		steps = append(steps, []struct {
			name string
			fn   func(context.Context) error
		}{
			{"kube-scheduler", c.startScheduler},
			{"containerd", c.startContainerd},
			{"pause image", c.loadPauseImage},
			{"kubelet", c.startKubelet},
		}...)
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("start %s: %w", s.name, err)
		}
		c.cfg.Logger.Debug("step done", "step", s.name, "seconds", time.Since(t).Seconds())
	}
	return nil
}

// KubeconfigPath is an admin (system:masters) kubeconfig for the cluster.
func (c *Cluster) KubeconfigPath() string { return c.kubeconfigFile("admin") }

// RESTConfig is the admin client configuration; callers may modify the copy.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// NodeIP is the node's InternalIP (empty for ControlPlaneOnly).
func (c *Cluster) NodeIP() string {
	if c.cfg.ControlPlaneOnly {
		return ""
	}
	return c.cfg.NodeIP
}

// NodeName is the Node object's name (empty for ControlPlaneOnly).
func (c *Cluster) NodeName() string {
	if c.cfg.ControlPlaneOnly {
		return ""
	}
	return c.cfg.NodeName
}

// RunDir is where the cluster keeps its state and logs (logs/<process>.log).
func (c *Cluster) RunDir() string { return c.cfg.RunDir }

// ServiceAccountIssuer is the iss claim of the cluster's service-account
// tokens.
func (c *Cluster) ServiceAccountIssuer() string { return c.cfg.ServiceAccountIssuer }

// ServiceAccountPublicKeyFile is the PEM (PKIX) public key that verifies the
// cluster's service-account tokens, for workload identity verifiers.
func (c *Cluster) ServiceAccountPublicKeyFile() string { return c.pki.path("sa.pub") }

// CAFile is the PEM certificate of the cluster CA (it signs the apiserver's
// serving certificate).
func (c *Cluster) CAFile() string { return c.pki.path("ca.crt") }

// Stop stops every process and undoes every host change (see Cleanup).
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		start := time.Now()
		var errs []error
		// Kubelet first, so it does not restart what is being removed;
		// then the rest in reverse start order.
		for i := len(c.procs) - 1; i >= 0; i-- {
			p := c.procs[i]
			if p.name == "kubelet" {
				p.stop(5 * time.Second)
			}
		}
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop(5 * time.Second)
		}
		if err := Cleanup(c.cfg.RunDir); err != nil {
			errs = append(errs, err)
		}
		if !c.cfg.KeepRunDir {
			if err := removeAllNoMounts(c.cfg.RunDir); err != nil {
				errs = append(errs, err)
			}
		}
		if c.holdsLock {
			releaseHostLock()
		}
		c.stopErr = errors.Join(errs...)
		c.cfg.Logger.Info("local cluster stopped", "seconds", time.Since(start).Seconds())
	})
	return c.stopErr
}
