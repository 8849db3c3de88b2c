package rotation

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient/spcclienttest"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/informers"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/podstatus"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"github.com/kvcsi/kvcsi/driver/secretsync"
)

const (
	node         = "node-1"
	token        = "eyJ-service-account-token-never-logged"
	clientSecret = "client-secret-never-logged"
	audience     = "api://AzureADTokenExchange"
)

// env is one pod with one mounted volume, wired to a fake provider on a real unix socket, the
// real refresher and atomic writer, and fake API clients.
type env struct {
	t          testing.TB
	kube       *fake.Clientset
	dyn        *dynamicfake.FakeDynamicClient
	spc        *spcclient.Client
	statuses   cache.Indexer
	pods       cache.Indexer
	used       cache.Indexer
	provider   *providertest.Provider
	refresher  *content.Refresher
	podStatus  *podstatus.Client
	syncer     *secretsync.Syncer
	recorder   *record.FakeRecorder
	metrics    *metrics.Recorder
	rotator    *Rotator
	target     string
	pod        *corev1.Pod
	version    string
	content    string
	providerOK bool
	baseCalls  int
}

func newEnv(t testing.TB) *env { return newEnvWith(t, nil) }

// newEnvWith lets prepare set up the target directory (a tmpfs) before the first publish.
func newEnvWith(t testing.TB, prepare func(target string)) *env {
	t.Helper()
	e := &env{t: t, version: "1", content: "v1", providerOK: true}
	e.pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "apps", UID: "uid-1"},
		Spec: corev1.PodSpec{
			NodeName:           node,
			ServiceAccountName: "app-sa",
			Volumes: []corev1.Volume{{Name: "secrets-store", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
				Driver:               driver.Name,
				ReadOnly:             ptr(true),
				VolumeAttributes:     map[string]string{driver.AttrSecretProviderClass: "azure-sync"},
				NodePublishSecretRef: &corev1.LocalObjectReference{Name: "creds"},
			}}}},
		},
	}
	spc := &ssv1.SecretProviderClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: "secrets-store.csi.x-k8s.io/v1", Kind: "SecretProviderClass"},
		ObjectMeta: metav1.ObjectMeta{Name: "azure-sync", Namespace: "apps"},
		Spec: ssv1.SecretProviderClassSpec{
			Provider:   "fake",
			Parameters: map[string]string{"keyvaultName": "kv1"},
			SecretObjects: []ssv1.SecretObject{{SecretName: "foosecret", Type: "Opaque",
				Data: []ssv1.SecretObjectData{{ObjectName: "db-password", Key: "password"}}}},
		},
	}
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "apps", Labels: map[string]string{ssv1.UsedLabel: "true"}},
		Data:       map[string][]byte{"clientid": []byte("id"), "clientsecret": []byte(clientSecret)},
	}
	csiDriver := &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: driver.Name},
		Spec:       storagev1.CSIDriverSpec{TokenRequests: []storagev1.TokenRequest{{Audience: audience}}},
	}
	e.kube = fake.NewClientset(e.pod, creds, csiDriver)
	e.kube.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		tr.Status.Token = token
		return true, tr, nil
	})
	var err error
	e.spc, e.dyn, err = spcclienttest.NewFake(spc)
	if err != nil {
		t.Fatal(err)
	}
	e.statuses = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	e.pods = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	e.used = cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	must(t, e.pods.Add(e.pod))
	must(t, e.used.Add(creds))

	e.provider = providertest.Start(t, t.TempDir(), "fake", e.answer)
	pool, err := providerclient.New(providerclient.Config{Dirs: []string{e.provider.Dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	e.refresher = &content.Refresher{Providers: pool}
	e.podStatus, err = podstatus.New(e.spc, node)
	if err != nil {
		t.Fatal(err)
	}
	e.recorder = record.NewFakeRecorder(100)
	e.metrics = metrics.New()
	e.syncer, err = secretsync.New(secretsync.Config{Client: e.kube, Metrics: e.metrics})
	if err != nil {
		t.Fatal(err)
	}
	e.rotator, err = New(Config{
		NodeName: node, Kube: e.kube, SPC: e.spc, PodStatus: e.podStatus, Refresher: e.refresher,
		Syncer: e.syncer, Recorder: e.recorder, Metrics: e.metrics,
		Watches: &informers.Informers{
			Pods:        corelisters.NewPodLister(e.pods),
			PodStatuses: cache.NewGenericLister(e.statuses, ssv1.SecretProviderClassPodStatusesResource.GroupResource()),
			UsedSecrets: corelisters.NewSecretLister(e.used),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.target = t.TempDir()
	if prepare != nil {
		prepare(e.target)
	}
	e.publish(spc)
	e.baseCalls = len(e.provider.Requests())
	return e
}

// requests are the provider's Mount calls since the initial publish.
func (e *env) requests() []*providerv1alpha1.MountRequest {
	return e.provider.Requests()[e.baseCalls:]
}

func ptr[T any](v T) *T { return &v }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// answer is the fake provider: one object, whose version and content the test sets.
func (e *env) answer(_ context.Context, _ *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
	if !e.providerOK {
		return &providerv1alpha1.MountResponse{Error: &providerv1alpha1.Error{Code: "Throttled"}}, nil
	}
	return &providerv1alpha1.MountResponse{
		ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "secret/db-password", Version: e.version}},
		Files:         []*providerv1alpha1.File{{Path: "db-password", Mode: 0o644, Contents: []byte(e.content)}},
	}, nil
}

// publish does what NodePublishVolume does for the test's pod: mount, record, sync.
func (e *env) publish(spc *ssv1.SecretProviderClass) {
	e.t.Helper()
	ctx := context.Background()
	res, err := e.refresher.Refresh(ctx, content.Request{Provider: "fake", Attributes: spc.Spec.Parameters, TargetPath: e.target})
	must(e.t, err)
	info := driver.MountInfo{PodName: "web-1", PodNamespace: "apps", PodUID: "uid-1", NodeName: node, SecretProviderClass: spc,
		Provider: "fake", TargetPath: e.target, Objects: res.Objects}
	must(e.t, e.podStatus.Published(ctx, info))
	must(e.t, e.syncer.Published(ctx, info))
	e.refreshInformers()
}

// refreshInformers copies the API state into the listers, as the informers would.
func (e *env) refreshInformers() {
	e.t.Helper()
	list, err := e.dyn.Resource(ssv1.SecretProviderClassPodStatusesResource).Namespace("").List(context.Background(), metav1.ListOptions{})
	must(e.t, err)
	items := make([]any, 0, len(list.Items))
	for i := range list.Items {
		items = append(items, &list.Items[i])
	}
	must(e.t, e.statuses.Replace(items, ""))
}

func (e *env) poll() {
	e.t.Helper()
	e.rotator.ReconcileAll(context.Background())
	e.refreshInformers()
}

func (e *env) mounted() string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.target, "db-password"))
	must(e.t, err)
	return string(b)
}

func (e *env) status() *ssv1.SecretProviderClassPodStatus {
	e.t.Helper()
	st, err := e.podStatus.Get(context.Background(), "apps", "web-1-apps-azure-sync")
	must(e.t, err)
	return st
}

func (e *env) secret() *corev1.Secret {
	e.t.Helper()
	s, err := e.kube.CoreV1().Secrets("apps").Get(context.Background(), "foosecret", metav1.GetOptions{})
	must(e.t, err)
	return s
}

func (e *env) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.recorder.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func (e *env) counter(name, label, value string) float64 {
	e.t.Helper()
	mfs, err := e.metrics.Registry().Gather()
	must(e.t, err)
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					v += m.GetCounter().GetValue()
				}
			}
		}
	}
	return v
}

func TestRotationRotatesMountStatusAndSecret(t *testing.T) {
	e := newEnv(t)
	e.version, e.content = "2", "v2"
	e.poll()

	if got := e.mounted(); got != "v2" {
		t.Errorf("mounted = %q, want v2", got)
	}
	if objs := e.status().Status.Objects; len(objs) != 1 || objs[0].Version != "2" {
		t.Errorf("status objects = %+v", objs)
	}
	if got := string(e.secret().Data["password"]); got != "v2" {
		t.Errorf("synced Secret = %q, want v2", got)
	}
	evs := e.events()
	if len(evs) != 2 || !strings.HasPrefix(evs[0], "Normal MountRotationComplete") || !strings.HasPrefix(evs[1], "Normal SecretRotationComplete") {
		t.Errorf("events = %q", evs)
	}
	if v := e.counter(metrics.RotationReconcile, "rotated", "true"); v != 1 {
		t.Errorf("total_rotation_reconcile{rotated=true} = %v", v)
	}

	// What the provider was sent: current versions, pod info, fresh token, nodePublishSecretRef.
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("provider calls = %d", len(reqs))
	}
	r := reqs[0]
	if cv := r.GetCurrentObjectVersion(); len(cv) != 1 || cv[0].GetId() != "secret/db-password" || cv[0].GetVersion() != "1" {
		t.Errorf("current_object_version = %v", cv)
	}
	var attrs map[string]string
	must(t, json.Unmarshal([]byte(r.GetAttributes()), &attrs))
	for k, want := range map[string]string{
		"keyvaultName": "kv1", driver.AttrPodName: "web-1", driver.AttrPodNamespace: "apps", driver.AttrPodUID: "uid-1",
		driver.AttrServiceAccountName: "app-sa", driver.AttrSecretProviderClass: "azure-sync", driver.AttrEphemeral: "true",
	} {
		if attrs[k] != want {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], want)
		}
	}
	var tokens map[string]authenticationv1.TokenRequestStatus
	must(t, json.Unmarshal([]byte(attrs[driver.AttrServiceAccountToken]), &tokens))
	if tokens[audience].Token != token {
		t.Errorf("tokens attribute has no token for %s", audience)
	}
	var secrets map[string]string
	must(t, json.Unmarshal([]byte(r.GetSecrets()), &secrets))
	if secrets["clientsecret"] != clientSecret {
		t.Error("nodePublishSecretRef data not sent")
	}
	// The token was bound to the pod.
	for _, a := range e.kube.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetSubresource() == "token" {
			tr := c.GetObject().(*authenticationv1.TokenRequest)
			if tr.Spec.BoundObjectRef == nil || tr.Spec.BoundObjectRef.UID != "uid-1" || len(tr.Spec.Audiences) != 1 || tr.Spec.Audiences[0] != audience {
				t.Errorf("token request = %+v", tr.Spec)
			}
		}
	}
}

func TestRotationNothingChanged(t *testing.T) {
	e := newEnv(t)
	e.kube.ClearActions()
	e.dyn.ClearActions()
	e.poll()
	if n := len(e.requests()); n != 1 {
		t.Fatalf("provider calls = %d", n)
	}
	if evs := e.events(); len(evs) != 0 {
		t.Errorf("events = %q", evs)
	}
	for _, a := range append(e.kube.Actions(), e.dyn.Actions()...) {
		if v := a.GetVerb(); v == "patch" || v == "update" || (v == "create" && a.GetSubresource() != "token") {
			t.Errorf("unchanged content wrote %s %s", v, a.GetResource().Resource)
		}
	}
	if v := e.counter(metrics.RotationReconcile, "rotated", "false"); v != 1 {
		t.Errorf("total_rotation_reconcile{rotated=false} = %v", v)
	}
}

func TestRotationProviderFailureKeepsContentAndBacksOff(t *testing.T) {
	e := newEnv(t)
	e.providerOK = false
	calls := func() int { return len(e.requests()) }
	// Failure n skips 2^(n-1)-1 polls: calls happen on polls 1, 2, 4, 8.
	var callPolls []int
	for poll := 1; poll <= 8; poll++ {
		before := calls()
		e.poll()
		if calls() > before {
			callPolls = append(callPolls, poll)
		}
	}
	if want := []int{1, 2, 4, 8}; !equalInts(callPolls, want) {
		t.Errorf("provider called on polls %v, want %v", callPolls, want)
	}
	if got := e.mounted(); got != "v1" {
		t.Errorf("mounted = %q after failures, want the old v1 kept", got)
	}
	if objs := e.status().Status.Objects; objs[0].Version != "1" {
		t.Errorf("status changed on failure: %+v", objs)
	}
	evs := e.events()
	if len(evs) != 4 || !strings.HasPrefix(evs[0], "Warning MountRotationFailed") || !strings.Contains(evs[0], "Throttled") {
		t.Errorf("events = %q", evs)
	}
	if v := e.counter(metrics.RotationReconcileError, "error_type", "Throttled"); v != 4 {
		t.Errorf("total_rotation_reconcile_error{error_type=Throttled} = %v, want 4", v)
	}
	// Recovery resets the backoff: the next due poll rotates and the one after runs again.
	e.providerOK, e.version, e.content = true, "2", "v2"
	for i := 0; i < 8 && e.mounted() != "v2"; i++ {
		e.poll()
	}
	if e.mounted() != "v2" {
		t.Fatal("never recovered")
	}
	before := calls()
	e.poll()
	if calls() != before+1 {
		t.Error("backoff not reset after a success")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRotationErrors(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(e *env)
		errType string
		event   []string
	}{
		{
			name:    "nodePublishSecretRef without used label",
			mutate:  func(e *env) { must(e.t, e.used.Replace(nil, "")) },
			errType: ErrNodePublishSecretRefNotFound,
			event:   []string{"Warning MountRotationFailed", "NodePublishSecretRefNotFound", "kubectl label secret creds -n apps secrets-store.csi.k8s.io/used=true"},
		},
		{
			name: "SecretProviderClass deleted",
			mutate: func(e *env) {
				must(e.t, e.spc.SecretProviderClasses("apps").Delete(context.Background(), "azure-sync", metav1.DeleteOptions{}))
			},
			errType: ErrSecretProviderClassNotFound,
			event:   []string{"Warning MountRotationFailed", "failed to get secretproviderclass apps/azure-sync"},
		},
		{
			name: "token request refused",
			mutate: func(e *env) {
				e.kube.PrependReactor("create", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(corev1.Resource("serviceaccounts/token"), "app-sa", nil)
				})
			},
			errType: ErrTokenRequest,
			event:   []string{"Warning MountRotationFailed", `audience "api://AzureADTokenExchange"`},
		},
		{
			name: "CSIDriver not readable",
			mutate: func(e *env) {
				e.kube.PrependReactor("get", "csidrivers", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(storagev1.Resource("csidrivers"), driver.Name, nil)
				})
			},
			errType: ErrTokenRequest,
			event:   []string{"Warning MountRotationFailed", "get on storage.k8s.io csidrivers"},
		},
		{
			name: "synced Secret taken over by someone else",
			mutate: func(e *env) {
				s := e.secret()
				delete(s.Labels, ssv1.ManagedLabel)
				_, err := e.kube.CoreV1().Secrets("apps").Update(context.Background(), s, metav1.UpdateOptions{})
				must(e.t, err)
			},
			errType: ErrSecretSync,
			event:   []string{"Warning SecretRotationFailed", "not managed by the driver"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.mutate(e)
			e.poll()
			if v := e.counter(metrics.RotationReconcileError, "error_type", tc.errType); v != 1 {
				t.Errorf("total_rotation_reconcile_error{error_type=%s} = %v", tc.errType, v)
			}
			evs := e.events()
			if len(evs) != 1 {
				t.Fatalf("events = %q", evs)
			}
			for _, w := range tc.event {
				if !strings.Contains(evs[0], w) {
					t.Errorf("event %q does not contain %q", evs[0], w)
				}
			}
			if strings.Contains(evs[0], token) || strings.Contains(evs[0], clientSecret) {
				t.Error("event leaks a token or secret")
			}
		})
	}
}

func TestRotationSkips(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *env)
	}{
		{name: "pod gone", mutate: func(e *env) { must(e.t, e.pods.Delete(e.pod)) }},
		{name: "pod terminating", mutate: func(e *env) {
			p := e.pod.DeepCopy()
			p.DeletionTimestamp = &metav1.Time{}
			must(e.t, e.pods.Update(p))
		}},
		{name: "status of an earlier pod of the same name", mutate: func(e *env) {
			p := e.pod.DeepCopy()
			p.UID = "uid-2"
			must(e.t, e.pods.Update(p))
		}},
		{name: "volume unmounted", mutate: func(e *env) { must(e.t, os.RemoveAll(filepath.Join(e.target, "..data"))) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.mutate(e)
			e.version, e.content = "2", "v2"
			e.poll()
			if n := len(e.requests()); n != 0 {
				t.Errorf("provider called %d times", n)
			}
			if evs := e.events(); len(evs) != 0 {
				t.Errorf("events = %q", evs)
			}
			if v := e.counter(metrics.RotationReconcile, "rotated", "false") + e.counter(metrics.RotationReconcile, "rotated", "true"); v != 0 {
				t.Errorf("skipped volume counted as a reconcile: %v", v)
			}
		})
	}
}

func TestNewChecksConfig(t *testing.T) {
	_, err := New(Config{})
	if err == nil || !strings.Contains(err.Error(), "NodeName (--nodeid)") || !strings.Contains(err.Error(), "Refresher") {
		t.Errorf("err = %v", err)
	}
}

// TestRotationDropsReservedVolumeAttributes: a csi.storage.k8s.io/ key in the pod's
// volumeAttributes or the class's parameters never reaches the provider from rotation either,
// also when the CSIDriver has no tokenRequests (so the driver mints no token over it).
func TestRotationDropsReservedVolumeAttributes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d, err := e.kube.StorageV1().CSIDrivers().Get(ctx, driver.Name, metav1.GetOptions{})
	must(t, err)
	d.Spec.TokenRequests = nil
	_, err = e.kube.StorageV1().CSIDrivers().Update(ctx, d, metav1.UpdateOptions{})
	must(t, err)
	e.pod.Spec.Volumes[0].CSI.VolumeAttributes[driver.AttrServiceAccountToken] = `{"api://AzureADTokenExchange":{"token":"forged.victim.token"}}`
	e.pod.Spec.Volumes[0].CSI.VolumeAttributes[driver.AttrPodName] = "victim"
	e.version, e.content = "2", "v2"
	e.poll()
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("provider calls = %d", len(reqs))
	}
	var attrs map[string]string
	must(t, json.Unmarshal([]byte(reqs[0].GetAttributes()), &attrs))
	if _, ok := attrs[driver.AttrServiceAccountToken]; ok {
		t.Error("the pod's own serviceAccount.tokens reached the provider")
	}
	if attrs[driver.AttrPodName] != "web-1" {
		t.Errorf("pod.name = %q, want the pod's", attrs[driver.AttrPodName])
	}
}
