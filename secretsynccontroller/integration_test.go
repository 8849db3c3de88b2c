package secretsynccontroller_test

// Against the real kube-apiserver of the shared local control plane (with its
// garbage collector), the real Azure provider server on a unix socket and the
// Key Vault emulator, which trusts the cluster's service-account tokens: the
// controller's whole path, workload identity included.

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/api/secretsync/crds"
	ssv1alpha1 "github.com/kvcsi/kvcsi/api/secretsync/v1alpha1"
	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/localcluster/localclustertest"
	"github.com/kvcsi/kvcsi/provider/server"
	"github.com/kvcsi/kvcsi/secretsynccontroller"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

func TestMain(m *testing.M) { localclustertest.Main(m) }

const (
	tenant     = "11111111-1111-1111-1111-111111111111"
	workloadID = "aaaaaaaa-0000-0000-0000-000000000004"
	audience   = "api://AzureADTokenExchange"
	saName     = "sync-sa"
)

type world struct {
	rest    *rest.Config
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	ns      string
	emu     *kvemulator.Server
	provDir string
	cloud   string
}

var crdOnce sync.Once

// installCRD creates the SecretSync CRD (once per binary) and waits until it
// is served.
func installCRD(t *testing.T, cfg *rest.Config, dyn dynamic.Interface) {
	t.Helper()
	var err error
	crdOnce.Do(func() {
		var obj map[string]any
		if err = yaml.Unmarshal(crds.SecretSyncs, &obj); err != nil {
			return
		}
		gvr := apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")
		_, err = dyn.Resource(gvr).Create(context.Background(), &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
		if err != nil {
			return
		}
		err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, lerr := dyn.Resource(ssv1alpha1.Resource).List(ctx, metav1.ListOptions{Limit: 1})
			return lerr == nil, nil
		})
	})
	if err != nil {
		t.Fatalf("install the SecretSync CRD: %v", err)
	}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c := localclustertest.Get(t)
	cfg := c.RESTConfig()
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	installCRD(t, cfg, dyn)
	ctx := context.Background()
	ns, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "secretsync-it-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	if _, err := kube.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	seed := fmt.Sprintf(`tenants:
  - id: %s
    name: contoso
identities:
  - name: workload-app
    type: servicePrincipal
    clientId: %s
    objectId: bbbbbbbb-0000-0000-0000-000000000004
    federatedCredentials:
      - name: sync
        subject: system:serviceaccount:%s:%s
        audiences: ["%s"]
vaults:
  - name: kv1
    accessPolicies:
      - identity: workload-app
        secrets: [get]
    secrets:
      - name: db-password
        versions:
          - value: first-password
      - name: api-key
        versions:
          - value: api-key-value
  - name: kv2
    secrets:
      - name: locked
        versions:
          - value: nobody-reads-this
`, tenant, workloadID, ns.Name, saName, audience)
	seedFile := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(seedFile, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	emu, err := kvemulator.Start(ctx, kvemulator.Config{
		SeedFile:               seedFile,
		ServiceAccountIssuer:   c.ServiceAccountIssuer(),
		ServiceAccountKeyFiles: []string{c.ServiceAccountPublicKeyFile()},
		NMIAddr:                "127.0.0.1:0",
		DisableThrottling:      true,
	})
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { emu.Close() })

	srv, err := server.New(server.Config{CACertPEM: emu.CACertPEM(), DialContext: emu.DialContext, NMIEndpoint: emu.NMIURL(), RetryDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	provDir := t.TempDir()
	lis, err := server.Listen(filepath.Join(provDir, "azure.sock"))
	if err != nil {
		t.Fatal(err)
	}
	g := srv.GRPCServer()
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return &world{rest: cfg, kube: kube, dyn: dyn, ns: ns.Name, emu: emu, provDir: provDir, cloud: cloudEnvFile(t, emu)}
}

// cloudEnvFile points the provider at the emulator as a private cloud.
func cloudEnvFile(t *testing.T, emu *kvemulator.Server) string {
	t.Helper()
	u := emu.VaultURL("x")
	suffix := strings.TrimSuffix(strings.TrimPrefix(u, "https://x."), "/")
	host := suffix
	if h, _, err := net.SplitHostPort(suffix); err == nil {
		host = h
	}
	b, _ := json.Marshal(map[string]string{
		"name": "AzureStackCloud", "activeDirectoryEndpoint": emu.AuthorityHost(),
		"keyVaultEndpoint": "https://" + host + "/", "keyVaultDNSSuffix": suffix,
	})
	p := filepath.Join(t.TempDir(), "cloud.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// start runs the controller until the test ends.
func (w *world) start(t *testing.T, poll time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- secretsynccontroller.Run(ctx, secretsynccontroller.Config{
			REST: w.rest, TokenRequestAudiences: []string{audience}, ProviderVolume: w.provDir,
			RotationPollInterval: poll, PodName: "sync-controller-0", PodUID: "00000000-0000-0000-0000-00000000c0de",
			Log: logr.Discard(),
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
}

func (w *world) class(t *testing.T, name, vault, objects string) {
	t.Helper()
	spc := &secretsstorev1.SecretProviderClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: "secrets-store.csi.x-k8s.io/v1", Kind: "SecretProviderClass"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: secretsstorev1.SecretProviderClassSpec{Provider: "azure", Parameters: map[string]string{
			"keyvaultName": vault, "tenantID": tenant, "clientID": workloadID,
			"cloudName": "AzureStackCloud", "cloudEnvFileName": w.cloud, "objects": objects,
		}},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(spc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.dyn.Resource(secretsstorev1.SecretProviderClassesResource).Namespace(w.ns).Create(context.Background(), &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (w *world) createSync(t *testing.T, manifest string) {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(manifest), &obj); err != nil {
		t.Fatal(err)
	}
	if _, err := w.dyn.Resource(ssv1alpha1.Resource).Namespace(w.ns).Create(context.Background(), &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (w *world) getSync(t *testing.T, name string) *ssv1alpha1.SecretSync {
	t.Helper()
	u, err := w.dyn.Resource(ssv1alpha1.Resource).Namespace(w.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ss := &ssv1alpha1.SecretSync{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, ss); err != nil {
		t.Fatal(err)
	}
	return ss
}

// waitFor polls cond until it holds; the deadline only bounds a hung test.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (w *world) waitCondition(t *testing.T, name, typ, reason string) metav1.Condition {
	t.Helper()
	var got metav1.Condition
	waitFor(t, fmt.Sprintf("SecretSync %s condition %s=%s", name, typ, reason), func(ctx context.Context) (bool, error) {
		c := meta.FindStatusCondition(w.getSync(t, name).Status.Conditions, typ)
		if c != nil && c.Reason == reason {
			got = *c
			return true, nil
		}
		return false, nil
	})
	return got
}

func (w *world) waitSecretValue(t *testing.T, name, key, want string) *corev1.Secret {
	t.Helper()
	var s *corev1.Secret
	waitFor(t, fmt.Sprintf("Secret %s key %s to hold the expected value", name, key), func(ctx context.Context) (bool, error) {
		got, err := w.kube.CoreV1().Secrets(w.ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		s = got
		return string(got.Data[key]) == want, nil
	})
	return s
}

const objectsKV1 = `array:
  - |
    objectName: db-password
    objectType: secret
  - |
    objectName: api-key
    objectType: secret
`

func syncManifest(name, class, extra string) string {
	return fmt.Sprintf(`apiVersion: secret-sync.x-k8s.io/v1alpha1
kind: SecretSync
metadata:
  name: %s
spec:
  serviceAccountName: %s
  secretProviderClassName: %s
  secretObject:
    type: Opaque
    labels:
      app: demo
    annotations:
      team: a
    data:
      - sourcePath: db-password
        targetKey: password
      - sourcePath: api-key
        targetKey: key
%s`, name, saName, class, extra)
}

func TestSecretSyncWithoutAPod(t *testing.T) {
	w := newWorld(t)
	w.start(t, 0) // no polling: only create, spec changes and force
	w.class(t, "azure-sync", "kv1", objectsKV1)
	w.createSync(t, syncManifest("db-creds", "azure-sync", ""))

	s := w.waitSecretValue(t, "db-creds", "password", "first-password")
	if string(s.Data["key"]) != "api-key-value" {
		t.Errorf("key = %d bytes, want api-key-value", len(s.Data["key"]))
	}
	ss := w.getSync(t, "db-creds")
	if v, ok := s.Labels[ssv1alpha1.ControllerLabel]; !ok || v != "" || s.Labels["app"] != "demo" || s.Annotations["team"] != "a" {
		t.Errorf("labels %v annotations %v: want the controller label (empty value), app=demo and team=a", s.Labels, s.Annotations)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "SecretSync" || s.OwnerReferences[0].UID != ss.UID ||
		s.OwnerReferences[0].APIVersion != "secret-sync.x-k8s.io/v1alpha1" {
		t.Errorf("owner references %+v, want the SecretSync alone", s.OwnerReferences)
	}
	if s.Type != corev1.SecretTypeOpaque {
		t.Errorf("type %s", s.Type)
	}
	c := w.waitCondition(t, "db-creds", ssv1alpha1.ConditionTypeCreate, ssv1alpha1.ReasonCreateSucceeded)
	if c.Status != metav1.ConditionTrue {
		t.Errorf("Create condition %+v", c)
	}
	ss = w.getSync(t, "db-creds")
	if ss.Status.SyncHash == "" || ss.Status.LastSuccessfulSyncTime == nil {
		t.Fatalf("status %+v: want a sync hash and a last sync time", ss.Status)
	}
	for _, v := range []string{"first-password", "api-key-value"} {
		a, b := sha256.Sum256([]byte(v)), sha512.Sum512([]byte(v))
		if strings.Contains(ss.Status.SyncHash, v) || ss.Status.SyncHash == hex.EncodeToString(a[:]) || ss.Status.SyncHash == hex.EncodeToString(b[:]) {
			t.Errorf("syncHash reveals a value or is its plain hash")
		}
	}
	firstHash := ss.Status.SyncHash

	// A new version in the vault: with polling off nothing asks for it until
	// forceSynchronization changes, which syncs at once.
	if _, err := w.emu.Admin().SetSecret("kv1", "db-password", "second-password"); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"spec":{"forceSynchronization":"now-1"}}`)
	if _, err := w.dyn.Resource(ssv1alpha1.Resource).Namespace(w.ns).Patch(context.Background(), "db-creds", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitSecretValue(t, "db-creds", "password", "second-password")
	w.waitCondition(t, "db-creds", ssv1alpha1.ConditionTypeUpdate, ssv1alpha1.ReasonValueChangeOrForceUpdateDetected)
	if h := w.getSync(t, "db-creds").Status.SyncHash; h == firstHash {
		t.Errorf("sync hash unchanged after a new value and a force")
	}

	// Deleting the SecretSync deletes the Secret (owner reference, real
	// garbage collector).
	if err := w.dyn.Resource(ssv1alpha1.Resource).Namespace(w.ns).Delete(context.Background(), "db-creds", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the garbage collector to delete Secret db-creds", func(ctx context.Context) (bool, error) {
		_, err := w.kube.CoreV1().Secrets(w.ns).Get(ctx, "db-creds", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

func TestSecretSyncRotationPoll(t *testing.T) {
	w := newWorld(t)
	w.start(t, time.Second)
	w.class(t, "azure-sync", "kv1", objectsKV1)
	w.createSync(t, syncManifest("rotating", "azure-sync", ""))
	w.waitSecretValue(t, "rotating", "password", "first-password")
	if _, err := w.emu.Admin().SetSecret("kv1", "db-password", "rotated-password"); err != nil {
		t.Fatal(err)
	}
	w.waitSecretValue(t, "rotating", "password", "rotated-password")
	w.waitCondition(t, "rotating", ssv1alpha1.ConditionTypeUpdate, ssv1alpha1.ReasonValueChangeOrForceUpdateDetected)
	// The next polls see no change.
	w.waitCondition(t, "rotating", ssv1alpha1.ConditionTypeUpdate, ssv1alpha1.ReasonNoValueChange)
}

func TestSecretSyncFailures(t *testing.T) {
	w := newWorld(t)
	w.start(t, 0)
	w.class(t, "locked", "kv2", "array:\n  - |\n    objectName: locked\n    objectType: secret\n")

	// No access to the object: ProviderError naming the object and the
	// denied access; no Secret.
	w.createSync(t, fmt.Sprintf(`apiVersion: secret-sync.x-k8s.io/v1alpha1
kind: SecretSync
metadata:
  name: denied
spec:
  serviceAccountName: %s
  secretProviderClassName: locked
  secretObject:
    data:
      - sourcePath: locked
        targetKey: v
`, saName))
	c := w.waitCondition(t, "denied", ssv1alpha1.ConditionTypeCreate, ssv1alpha1.ReasonProviderError)
	if c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "locked") || !strings.Contains(strings.ToLower(c.Message), "forbidden") {
		t.Errorf("ProviderError condition %+v: want status False and a message naming the object and the denied access", c)
	}
	if strings.Contains(c.Message, "nobody-reads-this") {
		t.Errorf("condition message holds the secret value")
	}
	if _, err := w.kube.CoreV1().Secrets(w.ns).Get(context.Background(), "denied", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Secret denied: %v, want NotFound", err)
	}
	if got := w.getSync(t, "denied").Spec.SecretObject.Type; got != "Opaque" {
		t.Errorf("secretObject.type defaulted to %q, want Opaque", got)
	}

	// A missing class: ControllerSPCError.
	w.createSync(t, syncManifest("no-class", "does-not-exist", ""))
	c = w.waitCondition(t, "no-class", ssv1alpha1.ConditionTypeCreate, ssv1alpha1.ReasonControllerSPCError)
	if !strings.Contains(c.Message, "does-not-exist") {
		t.Errorf("ControllerSPCError message %q does not name the class", c.Message)
	}

	// A sourcePath the class does not mount: UserInputValidationFailed.
	w.class(t, "azure-sync", "kv1", objectsKV1)
	w.createSync(t, strings.Replace(syncManifest("wrong-path", "azure-sync", ""), "sourcePath: api-key", "sourcePath: not-mounted", 1))
	c = w.waitCondition(t, "wrong-path", ssv1alpha1.ConditionTypeCreate, ssv1alpha1.ReasonUserInputValidationFailed)
	if !strings.Contains(c.Message, "not-mounted") {
		t.Errorf("UserInputValidationFailed message %q does not name the sourcePath", c.Message)
	}
}
