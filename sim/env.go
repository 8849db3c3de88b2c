package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kvcsi/kvcsi/charts"
	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/localcluster"
	"github.com/kvcsi/kvcsi/sim/simkubelet"
	"golang.org/x/sys/unix"
)

const (
	driverName = "secrets-store.csi.k8s.io"
	namespace  = "sim"
	vaultName  = "kv1"
	tenantID   = "5a1b0000-0000-4000-8000-000000000001"
	// hostLockPath is localcluster's host lock (docs/localcluster.md): with
	// Options.Exclusive the sim takes it too, so no full cluster shares the
	// CPUs while it measures. The sim needs none of what the lock protects
	// (bridge, ports 443/10250, /var/lib/kubelet).
	hostLockPath = "/run/kvcsi-localcluster.lock"
)

var spcGVR = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasses"}
var spcpsGVR = schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasspodstatuses"}

// env is one running sim: the control plane, the emulator behind its front,
// and per node a provider, a driver and a simkubelet.
type env struct {
	opt     Options
	log     *slog.Logger
	dir     string
	cluster *localcluster.Cluster
	rc      *rest.Config
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	emu     *kvemulator.Server
	front   *kvFront
	proxy   *apiProxy
	kubeAPI *apiCounter

	driverBin, providerBin string
	hostsFile, caFile      string
	cloudFile              string

	nodes []*node
	lock  *os.File
}

type node struct {
	name     string
	dir      string
	root     string
	driver   *proc
	provider *proc
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // why the simkubelet stopped early
}

func (n *node) socket() string { return filepath.Join(n.dir, "csi.sock") }

// srcRoot finds the kvcsi checkout: KVCSI_SRC, or up from the working directory.
func srcRoot() (string, error) {
	if d := os.Getenv("KVCSI_SRC"); d != "" {
		return d, nil
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/kvcsi/kvcsi\n") {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("the kvcsi checkout was not found above the working directory; set KVCSI_SRC")
		}
		d = p
	}
}

// buildBinaries builds the driver and provider into dir (or takes them from
// Options.BinDir).
func buildBinaries(ctx context.Context, opt Options, dir string) (driver, provider string, err error) {
	if opt.BinDir != "" {
		return filepath.Join(opt.BinDir, "secrets-store-csi-driver"), filepath.Join(opt.BinDir, "secrets-store-provider-azure"), nil
	}
	src, err := srcRoot()
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", dir+"/", "./cmd/secrets-store-csi-driver", "./cmd/secrets-store-provider-azure")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build the driver and provider: %v\n%s", err, out)
	}
	return filepath.Join(dir, "secrets-store-csi-driver"), filepath.Join(dir, "secrets-store-provider-azure"), nil
}

func takeHostLock(ctx context.Context, log *slog.Logger) (*os.File, error) {
	f, err := os.OpenFile(hostLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the host lock %s: %w", hostLockPath, err)
	}
	logged := false
	for {
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			return f, nil
		}
		if !logged {
			log.Info("waiting for the local cluster on this host to stop", "lock", hostLockPath)
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func startEnv(ctx context.Context, opt Options) (e *env, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the sim needs root: every simulated node's driver mounts tmpfs targets and its provider runs in its own mount namespace")
	}
	e = &env{opt: opt, log: opt.Logger, dir: opt.RunDir}
	defer func() {
		if err != nil {
			e.stop()
			e = nil
		}
	}()
	if opt.Exclusive {
		e.progress("waiting for localcluster's host lock " + hostLockPath + " (no local cluster may run alongside)")
		if e.lock, err = takeHostLock(ctx, e.log); err != nil {
			return e, err
		}
	}
	for _, m := range mountsUnder(e.dir) {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
	if err := os.RemoveAll(filepath.Join(e.dir, "nodes")); err != nil {
		return e, err
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return e, err
	}
	e.progress("building the driver and provider")
	if e.driverBin, e.providerBin, err = buildBinaries(ctx, opt, filepath.Join(e.dir, "bin")); err != nil {
		return e, err
	}
	e.progress("starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)")
	e.cluster, err = localcluster.Start(ctx, localcluster.Config{ControlPlaneOnly: true, Scheduler: true, RunDir: filepath.Join(e.dir, "cluster"), BinDir: opt.K8sBinDir, Logger: e.log})
	if err != nil {
		return e, err
	}
	e.rc = e.cluster.RESTConfig()
	e.rc.QPS, e.rc.Burst = 1000, 2000
	if e.kube, err = kubernetes.NewForConfig(e.rc); err != nil {
		return e, err
	}
	if e.dyn, err = dynamic.NewForConfig(e.rc); err != nil {
		return e, err
	}
	if e.proxy, err = startAPIProxy(e.cluster.RESTConfig()); err != nil {
		return e, err
	}
	if err := e.startEmulator(ctx); err != nil {
		return e, err
	}
	if err := e.install(ctx); err != nil {
		return e, err
	}
	e.kubeAPI = newAPICounter()
	e.progress(fmt.Sprintf("starting %d nodes (a driver, a provider and a simkubelet each)", opt.Nodes))
	for i := 0; i < opt.Nodes; i++ {
		n, err := e.startNode(ctx, i, opt.cacheTTL())
		if err != nil {
			return e, err
		}
		e.nodes = append(e.nodes, n)
	}
	if err := e.waitNodesReady(ctx); err != nil {
		return e, err
	}
	return e, nil
}

func (e *env) progress(msg string) {
	if e.opt.Progress != nil {
		fmt.Fprintf(e.opt.Progress, "[sim %s] %s\n", time.Now().UTC().Format("15:04:05"), msg)
	}
}

// seed is the emulated world: one vault with classes×objects secrets, and
// identities with a federated credential for their service account each.
func (e *env) seed() *kvemulator.Seed {
	sd := &kvemulator.Seed{Tenants: []kvemulator.Tenant{{ID: tenantID, Name: "sim"}}}
	v := kvemulator.VaultSeed{Name: vaultName, Tenant: tenantID}
	apps := e.opt.apps()
	for a := 0; a < apps; a++ {
		id := identityName(a)
		var fcs []kvemulator.FederatedCredential
		for s := a; s < e.opt.Identities; s += apps {
			fcs = append(fcs, kvemulator.FederatedCredential{Name: saName(s), Subject: "system:serviceaccount:" + namespace + ":" + saName(s)})
		}
		sd.Identities = append(sd.Identities, kvemulator.Identity{
			Name: id, TenantID: tenantID, ClientID: clientID(a), ObjectID: fmt.Sprintf("0b1ec700-0000-4000-8000-%012d", a),
			FederatedCredentials: fcs,
			Secrets:              []string{spSecret(a)},
		})
		v.AccessPolicies = append(v.AccessPolicies, kvemulator.AccessPolicySeed{Identity: id, Secrets: []string{"get"}})
	}
	for c := 0; c < e.opt.Classes; c++ {
		for j := 0; j < e.opt.Objects; j++ {
			name := objectName(c, j)
			v.Secrets = append(v.Secrets, kvemulator.SecretSeed{Name: name, Versions: []kvemulator.SecretVersionSeed{{Value: secretValue(name, 1)}}})
		}
	}
	sd.Vaults = []kvemulator.VaultSeed{v}
	return sd
}

func identityName(i int) string { return fmt.Sprintf("sim-identity-%d", i) }
func clientID(i int) string     { return fmt.Sprintf("c11e0700-0000-4000-8000-%012d", i) }

// spSecret is application a's synthetic client secret (service-principal mode).
func spSecret(a int) string { return fmt.Sprintf("sim-client-secret-%d", a) }

// credsName is the nodePublishSecretRef Secret of application a.
func credsName(a int) string { return fmt.Sprintf("sp-creds-%d", a) }
func saName(i int) string    { return fmt.Sprintf("sa-%d", i) }
func className(c int) string { return fmt.Sprintf("class-%d", c) }
func objectName(c, j int) string {
	return fmt.Sprintf("c%d-s%d", c, j)
}

// secretValue is the synthetic content of an object's version: no real secret.
func secretValue(name string, version int) string { return fmt.Sprintf("%s-version-%d", name, version) }

func (e *env) startEmulator(ctx context.Context) error {
	var err error
	e.emu, err = kvemulator.Start(ctx, kvemulator.Config{
		DNSSuffix: vaultSuffix, LoginHost: loginHost,
		TLSDir:                 filepath.Join(e.dir, "emulator-tls"),
		Seed:                   e.seed(),
		ServiceAccountIssuer:   e.cluster.ServiceAccountIssuer(),
		ServiceAccountKeyFiles: []string{e.cluster.ServiceAccountPublicKeyFile()},
		Logger:                 slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("start the emulator: %w", err)
	}
	lim := kvemulator.DefaultLimits()
	lim.Enabled = true
	if err := e.emu.Admin().SetLimits(lim); err != nil {
		return err
	}
	if e.front, err = startFront(e.emu, e.opt.KVLatency, e.opt.KVJitter); err != nil {
		return err
	}
	e.caFile = filepath.Join(e.dir, "front-ca.pem")
	if err := os.WriteFile(e.caFile, e.front.caPEM, 0o644); err != nil {
		return err
	}
	port := e.front.port()
	env, _ := json.Marshal(map[string]string{
		"name":                    "AzureStackCloud",
		"activeDirectoryEndpoint": "https://" + loginHost + ":" + port + "/",
		"keyVaultEndpoint":        "https://" + vaultSuffix + "/",
		"keyVaultDNSSuffix":       vaultSuffix + ":" + port,
	})
	e.cloudFile = filepath.Join(e.dir, "azurestackcloud.json")
	if err := os.WriteFile(e.cloudFile, env, 0o644); err != nil {
		return err
	}
	e.hostsFile = filepath.Join(e.dir, "hosts")
	hosts := "127.0.0.1 localhost " + loginHost + " " + vaultName + "." + vaultSuffix + "\n"
	return os.WriteFile(e.hostsFile, []byte(hosts), 0o644)
}

// install creates the CSIDriver as the chart renders it, the namespace,
// service accounts and SecretProviderClasses.
func (e *env) install(ctx context.Context) error {
	r, err := charts.Render(charts.Options{Values: map[string]any{"enableSecretRotation": e.opt.Rotation, "syncSecret": map[string]any{"enabled": true}}, KubeVersion: localcluster.KubernetesVersion})
	if err != nil {
		return err
	}
	objs, err := r.Objects()
	if err != nil {
		return err
	}
	var found bool
	for _, o := range objs {
		if o.GetKind() != "CSIDriver" {
			continue
		}
		var d storagev1.CSIDriver
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			return err
		}
		if _, err := e.kube.StorageV1().CSIDrivers().Create(ctx, &d, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create the CSIDriver: %w", err)
		}
		found = true
	}
	if !found {
		return errors.New("the chart rendered no CSIDriver")
	}
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	for i := 0; i < e.opt.Identities; i++ {
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName(i), Namespace: namespace, Annotations: map[string]string{"azure.workload.identity/client-id": clientID(i % e.opt.apps())}}}
		if _, err := e.kube.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	if e.opt.IdentityMode == ServicePrincipal {
		for a := 0; a < e.opt.apps(); a++ {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: credsName(a), Namespace: namespace, Labels: map[string]string{"secrets-store.csi.k8s.io/used": "true"}},
				StringData: map[string]string{"clientid": clientID(a), "clientsecret": spSecret(a)}}
			if _, err := e.kube.CoreV1().Secrets(namespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		}
	}
	for c := 0; c < e.opt.Classes; c++ {
		var objects strings.Builder
		objects.WriteString("array:\n")
		var data []any
		for j := 0; j < e.opt.Objects; j++ {
			fmt.Fprintf(&objects, "  - |\n    objectName: %s\n    objectType: secret\n", objectName(c, j))
			data = append(data, map[string]any{"objectName": objectName(c, j), "key": objectName(c, j)})
		}
		spc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
			"metadata": map[string]any{"name": className(c), "namespace": namespace},
			"spec": map[string]any{
				"provider": "azure",
				"parameters": map[string]any{
					"keyvaultName": vaultName, "tenantID": tenantID, "clientID": clientID(c % e.opt.apps()),
					"cloudName": "AzureStackCloud", "cloudEnvFileName": e.cloudFile, "objects": objects.String(),
				},
				"secretObjects": []any{map[string]any{"secretName": className(c) + "-synced", "type": "Opaque", "data": data}},
			},
		}}
		if e.opt.IdentityMode == ServicePrincipal {
			delete(spc.Object["spec"].(map[string]any)["parameters"].(map[string]any), "clientID")
		}
		if _, err := e.dyn.Resource(spcGVR).Namespace(namespace).Create(ctx, spc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create SecretProviderClass %s: %w", className(c), err)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (e *env) writeKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sim"] = &clientcmdapi.Cluster{Server: e.proxy.url()}
	cfg.AuthInfos["sim"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["sim"] = &clientcmdapi.Context{Cluster: "sim", AuthInfo: "sim"}
	cfg.CurrentContext = "sim"
	return clientcmd.WriteToFile(*cfg, path)
}

func nodeName(i int) string { return fmt.Sprintf("sim-node-%03d", i) }

func (e *env) startNode(ctx context.Context, i int, cacheTTL time.Duration) (*node, error) {
	n := &node{name: nodeName(i), dir: filepath.Join(e.dir, "nodes", nodeName(i))}
	n.root = filepath.Join(n.dir, "kubelet")
	for _, d := range []string{n.root, filepath.Join(n.dir, "providers")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := e.startProviderDriver(n, cacheTTL); err != nil {
		return nil, err
	}
	// The simkubelet's client counts its own apiserver requests.
	rc := rest.CopyConfig(e.rc)
	rc.QPS, rc.Burst = 50, 100 // kubelet's kubeAPIQPS/kubeAPIBurst
	rc.UserAgent = "simkubelet/" + n.name
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{next: rt, counter: e.kubeAPI} })
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	k, err := simkubelet.New(simkubelet.Config{
		NodeName: n.name, NodeIP: fmt.Sprintf("198.18.%d.%d", 2+i/250, 1+i%250), Client: kc, CSIEndpoint: n.socket(), RootDir: n.root,
		DriverName: driverName, SyncPeriod: e.opt.SyncPeriod, MaxPods: e.opt.MaxPodsPerNode, Logger: e.log,
	})
	if err != nil {
		return nil, err
	}
	kctx, cancel := context.WithCancel(ctx)
	n.cancel, n.done = cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		if err := k.Run(kctx); err != nil && kctx.Err() == nil {
			e.log.Error("simkubelet stopped", "node", n.name, "err", err)
			n.err = err
		}
	}()
	return n, nil
}

// startProviderDriver starts the node's provider (in its own mount namespace,
// where /etc/hosts maps the vault and login names to the front) and driver.
func (e *env) startProviderDriver(n *node, cacheTTL time.Duration) error {
	logs := filepath.Join(e.dir, "logs")
	pargs := []string{"-m", "--propagation", "private", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, e.hostsFile,
		e.providerBin, "--endpoint=unix://" + filepath.Join(n.dir, "providers", "azure.sock"),
		"--healthz-port=0", "--prometheus-port=0", "--ca-bundle=" + e.caFile, "--cache-ttl=" + cacheTTL.String(),
	}
	var err error
	if n.provider, err = startProc(logs, n.name+"-provider", "unshare", pargs); err != nil {
		return err
	}
	kcfg := filepath.Join(n.dir, "kubeconfig")
	if err := e.writeKubeconfig(kcfg); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	dargs := []string{
		"--endpoint=unix://" + n.socket(), "--nodeid=" + n.name, "--provider-volume=" + filepath.Join(n.dir, "providers"),
		"--additional-provider-volume-paths=", "--metrics-addr=127.0.0.1:" + strconv.Itoa(port), "--kubeconfig=" + kcfg,
		"--enable-secret-rotation=" + strconv.FormatBool(e.opt.Rotation), "--rotation-poll-interval=" + e.opt.RotationInterval.String(),
	}
	n.driver, err = startProc(logs, n.name+"-driver", e.driverBin, dargs)
	return err
}

// restartProviders replaces every provider with one using cacheTTL.
func (e *env) restartProviders(cacheTTL time.Duration) error {
	for _, n := range e.nodes {
		n.provider.stop(10 * time.Second)
		logs := filepath.Join(e.dir, "logs")
		pargs := []string{"-m", "--propagation", "private", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, e.hostsFile,
			e.providerBin, "--endpoint=unix://" + filepath.Join(n.dir, "providers", "azure.sock"),
			"--healthz-port=0", "--prometheus-port=0", "--ca-bundle=" + e.caFile, "--cache-ttl=" + cacheTTL.String(),
		}
		var err error
		if n.provider, err = startProc(logs, n.name+"-provider-"+cacheTTL.String(), "unshare", pargs); err != nil {
			return err
		}
	}
	// Wait for the sockets.
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range e.nodes {
		for {
			if _, err := os.Stat(filepath.Join(n.dir, "providers", "azure.sock")); err == nil {
				break
			}
			if time.Now().After(deadline) || n.provider.exited() {
				return fmt.Errorf("provider of %s did not come up (see %s/logs)", n.name, e.dir)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func (e *env) waitNodesReady(ctx context.Context) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		l, err := e.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := 0
			for _, n := range l.Items {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			if ready == len(e.nodes) {
				return nil
			}
		}
		for _, n := range e.nodes {
			select {
			case <-n.done:
				return fmt.Errorf("the simkubelet of %s stopped: %v", n.name, n.err)
			default:
			}
			if n.driver.exited() {
				return fmt.Errorf("the driver of %s exited: %v (see %s)", n.name, n.driver.err, filepath.Join(e.dir, "logs", n.name+"-driver.log"))
			}
			if n.provider.exited() {
				return fmt.Errorf("the provider of %s exited: %v (see %s)", n.name, n.provider.err, filepath.Join(e.dir, "logs", n.name+"-provider.log"))
			}
		}
		if time.Now().After(deadline) {
			return errors.New("the simulated nodes did not all become Ready within 3 minutes")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// processStats reads every driver's and provider's /proc numbers.
func (e *env) processStats() map[string]procStat {
	out := map[string]procStat{}
	for _, n := range e.nodes {
		for kind, p := range map[string]*proc{"driver": n.driver, "provider": n.provider} {
			if p == nil || p.exited() {
				continue
			}
			if st, err := readProcStat(p.pid()); err == nil {
				out[n.name+"/"+kind] = st
			}
		}
	}
	return out
}

func (e *env) stop() {
	var wg sync.WaitGroup
	for _, n := range e.nodes {
		if n.cancel != nil {
			n.cancel()
		}
	}
	for _, n := range e.nodes {
		if n.done != nil {
			<-n.done
		}
		wg.Add(1)
		go func(n *node) {
			defer wg.Done()
			if n.driver != nil {
				n.driver.stop(10 * time.Second)
			}
			if n.provider != nil {
				n.provider.stop(10 * time.Second)
			}
		}(n)
	}
	wg.Wait()
	if e.dir != "" {
		if err := unmountAll(e.dir); err != nil && e.log != nil {
			e.log.Warn("unmount", "err", err)
		}
	}
	if e.front != nil {
		e.front.close()
	}
	if e.emu != nil {
		_ = e.emu.Close()
	}
	if e.proxy != nil {
		e.proxy.close()
	}
	if e.cluster != nil {
		_ = e.cluster.Stop()
	}
	if e.dir != "" && len(mountsUnder(e.dir)) == 0 {
		_ = os.RemoveAll(filepath.Join(e.dir, "nodes"))
	}
	if e.lock != nil {
		e.lock.Close()
	}
}
