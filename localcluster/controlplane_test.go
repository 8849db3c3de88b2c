package localcluster

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// eventually polls f until it returns nil or limit passes. The limit bounds
// a test that would otherwise hang; it asserts nothing about speed.
func eventually(t *testing.T, limit time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, limit, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func clientset(t *testing.T, c *Cluster) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func testNamespace(t *testing.T, cs kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

func TestFullClusterWithoutRootRefuses(t *testing.T) {
	old := geteuid
	geteuid = func() int { return 1000 }
	defer func() { geteuid = old }()
	dir := t.TempDir()
	_, err := Start(context.Background(), Config{RunDir: dir})
	if !errors.Is(err, ErrNeedsRoot) {
		t.Fatalf("Start without root = %v, want ErrNeedsRoot", err)
	}
	// It stops before doing anything: nothing was written.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("Start without root wrote %d entries into the run directory", len(ents))
	}
}

func TestControlPlaneCRDsServeDryRun(t *testing.T) {
	c := controlPlane(t)
	dc, err := dynamic.NewForConfig(c.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	cs := clientset(t, c)
	ns := testNamespace(t, cs, "dryrun")
	spc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "secrets-store.csi.x-k8s.io/v1",
		"kind":       "SecretProviderClass",
		"metadata":   map[string]any{"name": "azure-kvname"},
		"spec": map[string]any{
			"provider":   "azure",
			"parameters": map[string]any{"keyvaultName": "kv", "tenantId": "t"},
		},
	}}
	gvr := schema.GroupVersionResource{Group: "secrets-store.csi.x-k8s.io", Version: "v1", Resource: "secretproviderclasses"}
	got, err := dc.Resource(gvr).Namespace(ns).Create(context.Background(), spc, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		t.Fatalf("server-side dry-run create of a SecretProviderClass: %v", err)
	}
	if got.GetUID() == "" {
		t.Errorf("dry-run response has no uid: the apiserver did not process it")
	}
	if _, err := dc.Resource(gvr).Namespace(ns).Get(context.Background(), "azure-kvname", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run persisted the object (get = %v)", err)
	}
}

func TestGarbageCollectorDeletesDependent(t *testing.T) {
	c := controlPlane(t)
	ctx := context.Background()
	cs := clientset(t, c)
	ns := testNamespace(t, cs, "gc")
	owner, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:            "dependent",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "garbage collection of the dependent", func() error {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "dependent", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("dependent still exists (err=%v)", err)
	})
}

func TestTokenRequestSignedWithPublishedKey(t *testing.T) {
	c := controlPlane(t)
	ctx := context.Background()
	cs := clientset(t, c)
	ns := testNamespace(t, cs, "token")
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "workload"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const aud = "api://AzureADTokenExchange"
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "workload", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{aud}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	pemBytes, err := os.ReadFile(c.ServiceAccountPublicKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("%s is not a PEM public key", c.ServiceAccountPublicKeyFile())
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tr.Status.Token, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithIssuer(c.ServiceAccountIssuer()), jwt.WithAudience(aud), jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		t.Fatalf("token does not verify with the published key, issuer and audience: %v", err)
	}
	if sub, _ := claims.GetSubject(); sub != "system:serviceaccount:"+ns+":workload" {
		t.Errorf("sub = %q, want the service account", sub)
	}
}

func TestNamespaceControllerFinalizesDeletion(t *testing.T) {
	c := controlPlane(t)
	ctx := context.Background()
	cs := clientset(t, c)
	ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "nsdel-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns.Name).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The serviceaccount and root-ca-cert-publisher controllers fill new
	// namespaces.
	eventually(t, time.Minute, "kube-root-ca.crt and the default ServiceAccount", func() error {
		if _, err := cs.CoreV1().ConfigMaps(ns.Name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
			return err
		}
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "namespace deletion", func() error {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("namespace still there (err=%v)", err)
	})
}
