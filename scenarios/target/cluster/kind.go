package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kvcsi/kvcsi/images"
	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target"
	"github.com/kvcsi/kvcsi/scenarios/target/azvault"
)

// EmulatorNamespace holds the in-cluster emulator and the IMDS/NMI relay.
const EmulatorNamespace = "kvcsi-emulator"

// Ports of the in-cluster emulator.
const (
	// 443: the provider reaches the emulator pod's IP through host
	// aliases, with the documentation's port-less vault URLs. The pod runs
	// as non-root and may bind it through the namespaced sysctl
	// net.ipv4.ip_unprivileged_port_start (a "safe" sysctl).
	emulatorHTTPSPort = 443
	emulatorMSIPort   = 8081
	// The admin API (request counters) on the pod's loopback only, reached
	// by the harness's port-forward.
	emulatorAdminPort = 8444
)

// StartKind connects to the kubeconfig's cluster (kind, or any cluster whose
// nodes run kvcsi's images, such as the local cluster), deploys the emulator
// there, and makes the provider reach it as the public cloud:
//
//   - the emulator pod answers as <vault>.vault.azure.net and
//     login.microsoftonline.com; the add-on is enabled with host aliases of
//     those names to the emulator pod's IP (pod IPs are routed on every
//     node, with or without kube-proxy) and the emulator's CA, which the
//     harness generates;
//   - a hostNetwork relay DaemonSet puts 169.254.169.254 on each node's
//     loopback and forwards :80 (IMDS) and :2579 (NMI) to the emulator's
//     managed-identity port;
//   - workload identity assertions are verified with the cluster's own
//     service-account issuer and JWKS, read from the apiserver.
//
// The harness reaches the emulator through a port-forward, with the real SDK
// clients. The images must already be on the nodes (kind load image-archive).
func StartKind(ctx context.Context, o Options) (_ *target.Base, err error) {
	b, cfg, err := connect("kind", o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = b.Close()
		}
	}()
	k := b.KubeClient
	tag := o.ImageTag
	if tag == "" {
		tag = target.DefaultImageTag()
	}
	issuer, saKeysPEM, err := serviceAccountKeys(ctx, k)
	if err != nil {
		return nil, err
	}
	seed, ids, err := target.NewSeed(issuer)
	if err != nil {
		return nil, err
	}
	seedYAML, err := yaml.Marshal(seed)
	if err != nil {
		return nil, err
	}
	caPEM, caKeyPEM, caPool, err := newCA()
	if err != nil {
		return nil, err
	}
	emuImage, err := images.Ref("kvemulator", tag)
	if err != nil {
		return nil, err
	}
	o.logf("[kind] deploying the emulator (%s) in namespace %s", emuImage, EmulatorNamespace)
	b.Closers = append(b.Closers, func() error {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		return k.Delete(dctx, "", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+EmulatorNamespace+"\n")
	})
	if err := k.Apply(ctx, EmulatorNamespace, emulatorYAML(emuImage, issuer, string(seedYAML), saKeysPEM, caPEM, caKeyPEM)); err != nil {
		return nil, fmt.Errorf("deploy the emulator: %w", err)
	}
	pod, err := waitRunningPod(ctx, k, EmulatorNamespace, "app=kvemulator")
	if err != nil {
		return nil, fmt.Errorf("the emulator did not start: %w", err)
	}
	busybox, _ := images.Ref("busybox", tag)
	if err := k.Apply(ctx, EmulatorNamespace, relayYAML(busybox, pod.Status.PodIP)); err != nil {
		return nil, fmt.Errorf("deploy the IMDS/NMI relay: %w", err)
	}
	if err := waitDaemonSet(ctx, k, EmulatorNamespace, "kvcsi-imds-relay"); err != nil {
		return nil, err
	}

	pf, err := PortForward(ctx, cfg, k, EmulatorNamespace, pod.Name, emulatorHTTPSPort)
	if err != nil {
		return nil, fmt.Errorf("port-forward to the emulator: %w", err)
	}
	b.Closers = append(b.Closers, pf.Close)
	// Every name (the vault, the login host) goes to the forwarded port; TLS
	// still checks the name against the emulator's certificate.
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, pf.Addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12},
	}
	opts := azcore.ClientOptions{Transport: &http.Client{Transport: transport}}
	cred, err := azidentity.NewClientSecretCredential(ids.TenantID, ids.AdminClientID, ids.AdminSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		return nil, err
	}
	v, err := azvault.New(target.VaultName, ids.TenantID, "https://"+target.VaultName+".vault.azure.net/", cred, opts)
	if err != nil {
		return nil, err
	}
	// The admin API listens on the pod's loopback, which a port-forward
	// reaches; the harness reads the request counters through it.
	adminPF, err := PortForward(ctx, cfg, k, EmulatorNamespace, pod.Name, emulatorAdminPort)
	if err != nil {
		return nil, fmt.Errorf("port-forward to the emulator's admin API: %w", err)
	}
	b.Closers = append(b.Closers, adminPF.Close)
	b.VaultImpl = &target.EmulatorVault{Vault: v, Admin: kvemulator.NewAdminClient("http://" + adminPF.Addr)}
	b.IDs = ids.Placeholders()
	b.AddonConfig = target.EmulatorAddonConfig(tag, string(caPEM), pod.Status.PodIP)
	o.logf("[kind] emulator pod %s at %s; harness port-forward %s", pod.Name, pod.Status.PodIP, pf.Addr)
	return b, nil
}

// serviceAccountKeys reads the cluster's service-account issuer and the
// public keys of its JWKS (service-account issuer discovery), as PEM.
func serviceAccountKeys(ctx context.Context, k *scenarios.Kube) (string, string, error) {
	rc := k.Clientset.Discovery().RESTClient()
	raw, err := rc.Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil {
		return "", "", fmt.Errorf("read the service-account issuer (/.well-known/openid-configuration): %w", err)
	}
	var oidc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(raw, &oidc); err != nil || oidc.Issuer == "" {
		return "", "", fmt.Errorf("the apiserver's openid-configuration has no issuer (%v)", err)
	}
	raw, err = rc.Get().AbsPath("/openid/v1/jwks").DoRaw(ctx)
	if err != nil {
		return "", "", fmt.Errorf("read the service-account keys (/openid/v1/jwks): %w", err)
	}
	pemKeys, err := JWKSToPEM(raw)
	if err != nil {
		return "", "", err
	}
	return oidc.Issuer, pemKeys, nil
}

// JWKSToPEM converts the RSA and EC keys of a JWK set to PEM public keys.
func JWKSToPEM(raw []byte) (string, error) {
	var set struct {
		Keys []struct {
			Kty, N, E, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return "", fmt.Errorf("JWKS: %w", err)
	}
	num := func(s string) (*big.Int, error) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		return new(big.Int).SetBytes(b), err
	}
	var out strings.Builder
	for i, jk := range set.Keys {
		var pub any
		switch jk.Kty {
		case "RSA":
			n, err1 := num(jk.N)
			e, err2 := num(jk.E)
			if err1 != nil || err2 != nil || !e.IsInt64() {
				return "", fmt.Errorf("JWKS key %d: bad RSA n/e", i)
			}
			pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		case "EC":
			curves := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}
			c, ok := curves[jk.Crv]
			x, err1 := num(jk.X)
			y, err2 := num(jk.Y)
			if !ok || err1 != nil || err2 != nil || max(len(x.Bytes()), len(y.Bytes())) > (c.Params().BitSize+7)/8 {
				return "", fmt.Errorf("JWKS key %d: bad EC key (crv %q)", i, jk.Crv)
			}
			size := (c.Params().BitSize + 7) / 8
			point := append([]byte{4}, x.FillBytes(make([]byte, size))...)
			k, err := ecdsa.ParseUncompressedPublicKey(c, append(point, y.FillBytes(make([]byte, size))...))
			if err != nil {
				return "", fmt.Errorf("JWKS key %d: bad EC key (crv %q): %v", i, jk.Crv, err)
			}
			pub = k
		default:
			return "", fmt.Errorf("JWKS key %d: key type %q is neither RSA nor EC", i, jk.Kty)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", fmt.Errorf("JWKS key %d: %w", i, err)
		}
		_ = pem.Encode(&out, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	if out.Len() == 0 {
		return "", fmt.Errorf("JWKS holds no key")
	}
	return out.String(), nil
}

// newCA makes the emulator's CA (ECDSA, as the emulator requires); the
// emulator issues its serving certificate from it.
func newCA() (certPEM, keyPEM []byte, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "kvcsi scenarios emulator CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool, nil
}

func indentBlock(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

// emulatorYAML is the emulator as deploy/emulator.yaml runs it, plus what the
// scenarios need: the seed, the harness's CA, the cluster's service-account
// keys, and the managed-identity port for the relay.
func emulatorYAML(image, issuer, seed, saKeys string, caPEM, caKeyPEM []byte) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: Secret
metadata:
  name: kvemulator-tls
type: Opaque
stringData:
  ca.crt: |
%[2]s
  ca.key: |
%[3]s
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: kvemulator-seed
data:
  seed.yaml: |
%[4]s
  service-account.pem: |
%[5]s
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kvemulator
  labels: {app: kvemulator}
spec:
  replicas: 1
  selector:
    matchLabels: {app: kvemulator}
  template:
    metadata:
      labels: {app: kvemulator}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]
      containers:
        - name: kvemulator
          image: %[6]s
          imagePullPolicy: IfNotPresent
          args:
            - --addr=:%[8]d
            - --azure-names=true
            - --tls-dir=/etc/kvemulator/tls
            - --seed=/etc/kvemulator/seed/seed.yaml
            - --msi-addr=:%[9]d
            - --admin-addr=127.0.0.1:%[10]d
            - --service-account-issuer=%[7]s
            - --service-account-key-file=/etc/kvemulator/seed/service-account.pem
            - --disable-throttling=true
          ports:
            - {name: https, containerPort: %[8]d}
            - {name: msi, containerPort: %[9]d}
          readinessProbe:
            tcpSocket: {port: https}
            periodSeconds: 2
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          volumeMounts:
            - {name: tls, mountPath: /etc/kvemulator/tls, readOnly: true}
            - {name: seed, mountPath: /etc/kvemulator/seed, readOnly: true}
      volumes:
        - name: tls
          secret: {secretName: kvemulator-tls}
        - name: seed
          configMap: {name: kvemulator-seed}
`, EmulatorNamespace, indentBlock(string(caPEM), 4), indentBlock(string(caKeyPEM), 4), indentBlock(seed, 4),
		indentBlock(saKeys, 4), image, issuer, emulatorHTTPSPort, emulatorMSIPort, emulatorAdminPort)
}

// relayYAML is a hostNetwork DaemonSet that makes 169.254.169.254:80 (IMDS)
// and :2579 (NMI) on every node reach the emulator's managed-identity port,
// as the metadata service and aad-pod-identity's NMI are node-local on AKS.
// On exit it removes the address it added.
func relayYAML(busybox, emulatorIP string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kvcsi-imds-relay
  labels: {app: kvcsi-imds-relay}
spec:
  selector:
    matchLabels: {app: kvcsi-imds-relay}
  template:
    metadata:
      labels: {app: kvcsi-imds-relay}
    spec:
      hostNetwork: true
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 5
      tolerations: [{operator: Exists}]
      containers:
        - name: imds
          image: %[1]s
          imagePullPolicy: IfNotPresent
          securityContext: {privileged: true}
          command:
            - /bin/sh
            - -c
            - |
              ip addr add 169.254.169.254/32 dev lo 2>/dev/null
              trap 'ip addr del 169.254.169.254/32 dev lo; exit 0' TERM INT
              nc -ll -p 80 -e nc %[2]s %[3]d &
              wait
        - name: nmi
          image: %[1]s
          imagePullPolicy: IfNotPresent
          command: ["/bin/sh", "-c", "trap 'exit 0' TERM INT; nc -ll -p 2579 -e nc %[2]s %[3]d & wait"]
`, busybox, emulatorIP, emulatorMSIPort)
}

func waitRunningPod(ctx context.Context, k *scenarios.Kube, ns, selector string) (*corev1.Pod, error) {
	var found *corev1.Pod
	err := k.Eventually(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		pods, err := k.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		for i, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						found = &pods.Items[i]
						return true, nil
					}
				}
			}
		}
		return false, fmt.Errorf("no ready pod with %s in %s yet", selector, ns)
	})
	if err != nil {
		evs, _ := k.Events(ctx, ns, "")
		return nil, fmt.Errorf("%w; events: %s", err, scenarios.FormatEvents(evs))
	}
	return found, nil
}

func waitDaemonSet(ctx context.Context, k *scenarios.Kube, ns, name string) error {
	err := k.Eventually(ctx, 3*time.Minute, func(ctx context.Context) (bool, error) {
		ds, err := k.Clientset.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if ds.Status.DesiredNumberScheduled == 0 || ds.Status.NumberReady != ds.Status.DesiredNumberScheduled {
			return false, fmt.Errorf("DaemonSet %s/%s: %d of %d ready", ns, name, ds.Status.NumberReady, ds.Status.DesiredNumberScheduled)
		}
		return true, nil
	})
	if err != nil {
		evs, _ := k.Events(ctx, ns, "")
		return fmt.Errorf("%w; events: %s", err, scenarios.FormatEvents(evs))
	}
	return nil
}
