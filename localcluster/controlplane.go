package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// controllers are the kube-controller-manager controllers the scenarios
// need: garbage collection, namespaces, service accounts and their tokens,
// the root CA ConfigMap, and the workload controllers.
var controllers = []string{
	"garbagecollector", "namespace", "serviceaccount", "serviceaccount-token",
	"root-ca-cert-publisher", "daemonset", "replicaset", "deployment",
	"statefulset", "job", "podgc", "ttl-after-finished", "clusterrole-aggregation",
	// nodelifecycle lifts the not-ready taint the kubelet registers with.
	"nodelifecycle",
}

// freePort asks the kernel for an unused loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtcd runs etcd on two free loopback ports with data in RunDir/etcd.
func (c *Cluster) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	c.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", client)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peer)
	p, err := c.startProcess("etcd", c.bins["etcd"], []string{
		"--name=default",
		"--data-dir=" + filepath.Join(c.cfg.RunDir, "etcd"),
		"--listen-client-urls=" + c.etcdURL,
		"--advertise-client-urls=" + c.etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=default=" + peerURL,
		// A throwaway test cluster: durability is not worth the fsyncs.
		"--unsafe-no-fsync",
		"--quota-backend-bytes=2147483648",
		"--log-level=warn",
	}, nil)
	if err != nil {
		return err
	}
	return c.poll(ctx, "etcd", p, 60*time.Second, func() error {
		resp, err := http.Get(c.etcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	})
}

// startAPIServer issues the certificates and runs kube-apiserver. A full
// cluster's apiserver listens on the kubernetes Service ClusterIP, port 443
// (an address on the bridge), so pods reach it without kube-proxy; an
// API-only cluster's listens on a free loopback port.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	hosts := []string{"127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	// The apiserver refuses a loopback advertise address; an API-only
	// cluster advertises the (unassigned) node IP and keeps no endpoints.
	bind, advertise, reconciler := "127.0.0.1", c.cfg.NodeIP, "none"
	port, err := freePort()
	if err != nil {
		return err
	}
	if !c.cfg.ControlPlaneOnly {
		bind, port, reconciler = firstIP(c.cfg.ServiceCIDR).String(), 443, "lease"
		hosts = append(hosts, bind, c.cfg.NodeIP)
	}
	c.apiURL = "https://" + net.JoinHostPort(bind, strconv.Itoa(port))
	if err := c.pki.issue("apiserver", "kube-apiserver", nil, hosts); err != nil {
		return err
	}
	for _, cc := range []struct{ name, cn, org string }{
		{"admin", "kvcsi-admin", "system:masters"},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"},
		{"controller-manager", "system:kube-controller-manager", ""},
		{"scheduler", "system:kube-scheduler", ""},
		{"kubelet-client", "system:node:" + c.cfg.NodeName, "system:nodes"},
	} {
		var orgs []string
		if cc.org != "" {
			orgs = []string{cc.org}
		}
		if err := c.pki.issue(cc.name, cc.cn, orgs, nil); err != nil {
			return err
		}
	}
	for _, name := range []string{"admin", "controller-manager", "scheduler", "kubelet-client"} {
		if err := c.writeKubeconfig(name); err != nil {
			return err
		}
	}
	pk := c.pki.path
	p, err := c.startProcess("kube-apiserver", c.bins["kube-apiserver"], []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=" + bind,
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=" + advertise,
		"--endpoint-reconciler-type=" + reconciler,
		"--cert-dir=" + filepath.Join(c.cfg.RunDir, "apiserver-certs"),
		"--tls-cert-file=" + pk("apiserver.crt"),
		"--tls-private-key-file=" + pk("apiserver.key"),
		"--client-ca-file=" + pk("ca.crt"),
		"--service-account-key-file=" + pk("sa.pub"),
		"--service-account-signing-key-file=" + pk("sa.key"),
		"--service-account-issuer=" + c.cfg.ServiceAccountIssuer,
		"--service-cluster-ip-range=" + c.cfg.ServiceCIDR,
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--kubelet-client-certificate=" + pk("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + pk("apiserver-kubelet-client.key"),
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--v=1",
	}, nil)
	if err != nil {
		return err
	}
	if err := c.poll(ctx, "kube-apiserver", p, 120*time.Second, func() error { return c.getOK("/readyz") }); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath())
	if err != nil {
		return fmt.Errorf("load the admin kubeconfig: %w", err)
	}
	// Inline the PEM data: client-go caches transports by file name, and a
	// later cluster in the same run directory and process has new files
	// under the same names.
	if err := rest.LoadTLSFiles(rc); err != nil {
		return fmt.Errorf("load the admin credentials: %w", err)
	}
	rc.TLSClientConfig.CAFile, rc.TLSClientConfig.CertFile, rc.TLSClientConfig.KeyFile = "", "", ""
	c.rest = rc
	return nil
}

// startControllerManager runs kube-controller-manager with the controllers
// listed above; CRDs must be installed before, or its garbage collector
// takes about 30 s to notice them.
func (c *Cluster) startControllerManager(ctx context.Context) error {
	pk := c.pki.path
	p, err := c.startProcess("kube-controller-manager", c.bins["kube-controller-manager"], []string{
		"--kubeconfig=" + c.kubeconfigFile("controller-manager"),
		"--authentication-kubeconfig=" + c.kubeconfigFile("controller-manager"),
		"--authorization-kubeconfig=" + c.kubeconfigFile("controller-manager"),
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--controllers=" + strings.Join(controllers, ","),
		"--service-account-private-key-file=" + pk("sa.key"),
		"--root-ca-file=" + pk("ca.crt"),
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--service-cluster-ip-range=" + c.cfg.ServiceCIDR,
		"--concurrent-gc-syncs=5",
		"--v=1",
	}, nil)
	if err != nil {
		return err
	}
	// Ready once the token controller has given "default" in
	// kube-system its token-less ServiceAccount; the controllers all start
	// together, so this shows they are running.
	return c.poll(ctx, "kube-controller-manager", p, 90*time.Second, func() error {
		return c.getOK("/api/v1/namespaces/kube-system/serviceaccounts/default")
	})
}

// startScheduler runs kube-scheduler, which DaemonSet and Deployment pods
// need to be bound to the node.
func (c *Cluster) startScheduler(ctx context.Context) error {
	p, err := c.startProcess("kube-scheduler", c.bins["kube-scheduler"], []string{
		"--kubeconfig=" + c.kubeconfigFile("scheduler"),
		"--authentication-kubeconfig=" + c.kubeconfigFile("scheduler"),
		"--authorization-kubeconfig=" + c.kubeconfigFile("scheduler"),
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--v=1",
	}, nil)
	if err != nil {
		return err
	}
	// The scheduler has no readiness endpoint with --secure-port=0; a quick
	// check that it did not exit on its flags is what can be known here.
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.exited()
}

func (c *Cluster) kubeconfigFile(name string) string {
	return filepath.Join(c.cfg.RunDir, "kubeconfig", name+".kubeconfig")
}

// writeKubeconfig writes a kubeconfig for the client certificate name.
func (c *Cluster) writeKubeconfig(name string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: c.apiURL, CertificateAuthority: c.pki.path("ca.crt")}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificate: c.pki.path(name + ".crt"), ClientKey: c.pki.path(name + ".key")}
	cfg.Contexts["kvcsi-local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: name}
	cfg.CurrentContext = "kvcsi-local"
	path := c.kubeconfigFile(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// httpClient is an admin client for readiness polls.
func (c *Cluster) httpClient() (*http.Client, error) {
	if c.http != nil {
		return c.http, nil
	}
	cert, err := tls.LoadX509KeyPair(c.pki.path("admin.crt"), c.pki.path("admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(c.pki.caCert)
	c.http = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}
	return c.http, nil
}

// getOK GETs an apiserver path and wants 200.
func (c *Cluster) getOK(path string) error {
	hc, err := c.httpClient()
	if err != nil {
		return err
	}
	resp, err := hc.Get(c.apiURL + path)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}

// poll calls check until it succeeds, the process exits, ctx ends or limit
// passes; the error names the component and carries its log's tail.
func (c *Cluster) poll(ctx context.Context, what string, p *process, limit time.Duration, check func() error) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		if last = check(); last == nil {
			c.cfg.Logger.Info("ready", "component", what)
			return nil
		}
		if p != nil {
			if err := p.exited(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			if p != nil {
				b, _ := os.ReadFile(p.logPath)
				return fmt.Errorf("%s not ready after %s: %v; last log lines (%s):\n%s", what, limit, last, p.logPath, lastLines(b, 15))
			}
			return fmt.Errorf("%s not ready after %s: %v", what, limit, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
