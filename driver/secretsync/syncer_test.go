package secretsync

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/prometheus/client_golang/prometheus/testutil"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/metrics"
)

const secretValue = "s3cr3t-value-never-logged"

// writeMount writes files as a provider's mount would hold them.
func writeMount(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func opaqueSPC() *ssv1.SecretProviderClass {
	return &ssv1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "azure-sync", Namespace: "apps"},
		Spec: ssv1.SecretProviderClassSpec{
			Provider: "azure",
			SecretObjects: []ssv1.SecretObject{{
				SecretName:  "foosecret",
				Type:        "Opaque",
				Labels:      map[string]string{"environment": "test"},
				Annotations: map[string]string{"team": "blue"},
				Data: []ssv1.SecretObjectData{
					{ObjectName: "secretalias", Key: "username"},
					{ObjectName: "nested/key1", Key: "key1"},
				},
			}},
		},
	}
}

func opaqueMount(t *testing.T) string {
	return writeMount(t, map[string][]byte{"secretalias": []byte(secretValue), "nested/key1": []byte("k1")})
}

type fixture struct {
	client   *fake.Clientset
	recorder *record.FakeRecorder
	metrics  *metrics.Recorder
	syncer   *Syncer
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{client: fake.NewClientset(objs...), recorder: record.NewFakeRecorder(100), metrics: metrics.New()}
	var err error
	f.syncer, err = New(Config{Client: f.client, Recorder: f.recorder, Metrics: f.metrics, RetryBase: 1, RetryMax: 1})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) secret(t *testing.T, name string) *corev1.Secret {
	t.Helper()
	s, err := f.client.CoreV1().Secrets("apps").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
			out = append(out, v+" "+a.GetResource().Resource)
		}
	}
	return out
}

func req(spc *ssv1.SecretProviderClass, pod string, uid types.UID, dir string) Request {
	return Request{SPC: spc, PodName: pod, PodUID: uid, Provider: "azure", TargetPath: dir}
}

func TestSyncCreatesOpaque(t *testing.T) {
	f := newFixture(t)
	res, err := f.syncer.Sync(context.Background(), req(opaqueSPC(), "web-1", "uid-1", opaqueMount(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 1 || res.Changed[0] != "foosecret" {
		t.Errorf("changed = %v", res.Changed)
	}
	s := f.secret(t, "foosecret")
	if s.Type != corev1.SecretTypeOpaque || string(s.Data["username"]) != secretValue || string(s.Data["key1"]) != "k1" || len(s.Data) != 2 {
		t.Errorf("secret = %v %v", s.Type, s.Data)
	}
	if s.Labels[ssv1.ManagedLabel] != "true" || s.Labels["environment"] != "test" || s.Annotations["team"] != "blue" {
		t.Errorf("labels %v annotations %v", s.Labels, s.Annotations)
	}
	if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Kind != "Pod" || s.OwnerReferences[0].Name != "web-1" || s.OwnerReferences[0].UID != "uid-1" {
		t.Errorf("owners = %+v", s.OwnerReferences)
	}
	if got := counterValue(t, f.metrics, metrics.SyncK8sSecret); got != 1 {
		t.Errorf("total_sync_k8s_secret = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(f.metrics.Registry(), metrics.SyncK8sSecretDuration); n != 1 {
		t.Errorf("sync_k8s_secret_duration_sec series = %d, want 1", n)
	}
}

// counterValue reads a counter through the registry, summed over its series, as Prometheus would.
func counterValue(t *testing.T, m *metrics.Recorder, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, s := range mf.GetMetric() {
				v += s.GetCounter().GetValue()
			}
		}
	}
	return v
}

func TestSyncTLS(t *testing.T) {
	p := newTestPKI(t)
	bundle := join(pkcs8(t, p.rsaKey), certsPEM(t, p.rsaLeaf, p.ca))
	dir := writeMount(t, map[string][]byte{"ingress-cert": bundle})
	spc := &ssv1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "apps"},
		Spec: ssv1.SecretProviderClassSpec{SecretObjects: []ssv1.SecretObject{{
			SecretName: "ingress-tls", Type: "kubernetes.io/tls",
			Data: []ssv1.SecretObjectData{
				{ObjectName: "ingress-cert", Key: "tls.key"},
				{ObjectName: "ingress-cert", Key: "tls.crt"},
				{ObjectName: "ingress-cert", Key: "ca.crt"},
			},
		}}},
	}
	f := newFixture(t)
	if _, err := f.syncer.Sync(context.Background(), req(spc, "web-1", "uid-1", dir)); err != nil {
		t.Fatal(err)
	}
	s := f.secret(t, "ingress-tls")
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("type = %s", s.Type)
	}
	if !bytes.Equal(s.Data["tls.crt"], certsPEM(t, p.rsaLeaf, p.ca)) || !bytes.Equal(s.Data["ca.crt"], certsPEM(t, p.ca)) || !bytes.HasPrefix(s.Data["tls.key"], []byte("-----BEGIN RSA PRIVATE KEY-----")) {
		t.Errorf("tls data not split as expected: keys %d", len(s.Data))
	}
}

func TestSecondPodAddsOwnerByPatch(t *testing.T) {
	dir := opaqueMount(t)
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.syncer.Sync(ctx, req(opaqueSPC(), "web-1", "uid-1", dir)); err != nil {
		t.Fatal(err)
	}
	// Another writer adds its own metadata; the sync must keep it.
	s := f.secret(t, "foosecret")
	s.Labels["other"] = "x"
	s.Annotations["other"] = "y"
	s.Finalizers = []string{"example.com/f"}
	if _, err := f.client.CoreV1().Secrets("apps").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	res, err := f.syncer.Sync(ctx, req(opaqueSPC(), "web-2", "uid-2", dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 0 {
		t.Errorf("data did not change, but changed = %v", res.Changed)
	}
	s = f.secret(t, "foosecret")
	if len(s.OwnerReferences) != 2 || !hasOwner(s.OwnerReferences, "uid-1") || !hasOwner(s.OwnerReferences, "uid-2") {
		t.Errorf("owners = %+v", s.OwnerReferences)
	}
	if s.Labels["other"] != "x" || s.Annotations["other"] != "y" || len(s.Finalizers) != 1 {
		t.Errorf("fields dropped: labels %v annotations %v finalizers %v", s.Labels, s.Annotations, s.Finalizers)
	}
	if w := f.writes(); len(w) != 1 || w[0] != "patch secrets" {
		t.Errorf("writes = %v, want one patch", w)
	}
	for _, a := range f.client.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			// A strategic merge patch with no resourceVersion naming only this pod's owner: it
			// composes with concurrent writers instead of failing with 409 (issue 20).
			if p.GetPatchType() != types.StrategicMergePatchType || strings.Contains(string(p.GetPatch()), `"resourceVersion"`) ||
				strings.Contains(string(p.GetPatch()), "uid-1") || !strings.Contains(string(p.GetPatch()), "uid-2") {
				t.Errorf("patch %s %s: want a strategic merge patch without resourceVersion adding only uid-2", p.GetPatchType(), p.GetPatch())
			}
			if strings.Contains(string(p.GetPatch()), `"data"`) {
				t.Errorf("owner-only patch rewrote data")
			}
		}
	}
	// Same pod again: nothing to write.
	f.client.ClearActions()
	if _, err := f.syncer.Sync(ctx, req(opaqueSPC(), "web-2", "uid-2", dir)); err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("idempotent sync wrote %v", w)
	}
}

func TestDataChangeReplacesData(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	dir := opaqueMount(t)
	if _, err := f.syncer.Sync(ctx, req(opaqueSPC(), "web-1", "uid-1", dir)); err != nil {
		t.Fatal(err)
	}
	s := f.secret(t, "foosecret")
	s.Data["stale"] = []byte("x")
	if _, err := f.client.CoreV1().Secrets("apps").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secretalias"), []byte("rotated"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := f.syncer.Sync(ctx, req(opaqueSPC(), "web-1", "uid-1", dir))
	if err != nil {
		t.Fatal(err)
	}
	s = f.secret(t, "foosecret")
	if len(res.Changed) != 1 || string(s.Data["username"]) != "rotated" {
		t.Errorf("changed %v data username=%q", res.Changed, s.Data["username"])
	}
	if _, ok := s.Data["stale"]; ok {
		t.Error("a key the SecretProviderClass no longer lists was kept")
	}
}

func TestListerSkipsNoopWrites(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	dir := opaqueMount(t)
	if _, err := f.syncer.Sync(ctx, req(opaqueSPC(), "web-1", "uid-1", dir)); err != nil {
		t.Fatal(err)
	}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := indexer.Add(f.secret(t, "foosecret")); err != nil {
		t.Fatal(err)
	}
	f.syncer.lister = corelisters.NewSecretLister(indexer)
	f.client.ClearActions()
	if _, err := f.syncer.Sync(ctx, req(opaqueSPC(), "web-1", "uid-1", dir)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.client.Actions()); n != 0 {
		t.Errorf("up-to-date Secret cost %d API calls, want 0", n)
	}
}

func TestSyncErrors(t *testing.T) {
	ctx := context.Background()
	unmanaged := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "foosecret", Namespace: "apps"}, Data: map[string][]byte{"mine": []byte("keep")}}
	typed := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "foosecret", Namespace: "apps", Labels: map[string]string{ssv1.ManagedLabel: "true"}}, Type: corev1.SecretTypeBasicAuth}
	missing := opaqueSPC()
	missing.Spec.SecretObjects = append([]ssv1.SecretObject{{SecretName: "first", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "secretalias", Key: "a"}}}}, missing.Spec.SecretObjects...)
	missing.Spec.SecretObjects[1].Data[1].ObjectName = "nope"
	tests := []struct {
		name     string
		existing []runtime.Object
		spc      *ssv1.SecretProviderClass
		want     []string
	}{
		{name: "missing object names object and SPC", spc: missing, want: []string{`object "nope" is not in the mount of SecretProviderClass apps/azure-sync`, "objectAlias"}},
		{name: "unmanaged Secret left alone", existing: []runtime.Object{unmanaged}, spc: opaqueSPC(), want: []string{"not managed by the driver", ssv1.ManagedLabel}},
		{name: "type change refused", existing: []runtime.Object{typed}, spc: opaqueSPC(), want: []string{"cannot change", "delete the Secret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.existing...)
			_, err := f.syncer.Sync(ctx, req(tc.spc, "web-1", "uid-1", opaqueMount(t)))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !IsPermanent(err) {
				t.Errorf("error is not permanent: %v", err)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Error("error contains the secret value")
			}
			if len(tc.existing) == 0 {
				if w := f.writes(); len(w) != 0 {
					t.Errorf("a failed sync wrote %v", w)
				}
			}
			if tc.name == "unmanaged Secret left alone" {
				if s := f.secret(t, "foosecret"); string(s.Data["mine"]) != "keep" || len(s.Data) != 1 {
					t.Errorf("unmanaged Secret changed: %v", s.Data)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		so   ssv1.SecretObject
		want string
	}{
		{name: "ok", so: ssv1.SecretObject{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "k"}}}},
		{name: "tls ok with ca.crt", so: ssv1.SecretObject{SecretName: "a", Type: "kubernetes.io/tls", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "tls.crt"}, {ObjectName: "o", Key: "tls.key"}, {ObjectName: "c", Key: "ca.crt"}}}},
		{name: "no secretName", so: ssv1.SecretObject{Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "k"}}}, want: "spec.secretObjects[0].secretName is empty"},
		{name: "bad secretName", so: ssv1.SecretObject{SecretName: "Bad_Name", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "k"}}}, want: `secretName "Bad_Name" is not a valid Secret name`},
		{name: "no type", so: ssv1.SecretObject{SecretName: "a", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "k"}}}, want: "spec.secretObjects[0].type is empty"},
		{name: "no data", so: ssv1.SecretObject{SecretName: "a", Type: "Opaque"}, want: "spec.secretObjects[0].data is empty"},
		{name: "no objectName", so: ssv1.SecretObject{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{Key: "k"}}}, want: "spec.secretObjects[0].data[0].objectName is empty"},
		{name: "escaping objectName", so: ssv1.SecretObject{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "../etc/passwd", Key: "k"}}}, want: "not a clean relative path"},
		{name: "absolute objectName", so: ssv1.SecretObject{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "/etc/passwd", Key: "k"}}}, want: "absolute path"},
		{name: "no key", so: ssv1.SecretObject{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "o"}}}, want: `data[0].key is empty: name the key in Secret "a"`},
		{name: "bad key", so: ssv1.SecretObject{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "a b"}}}, want: `key "a b" is not a valid Secret key`},
		{name: "duplicate key", so: ssv1.SecretObject{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "k"}, {ObjectName: "p", Key: "k"}}}, want: `data[1].key "k" is also spec.secretObjects[0].data[0].key`},
		{name: "tls bad key", so: ssv1.SecretObject{SecretName: "a", Type: "kubernetes.io/tls", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "tls.crt"}, {ObjectName: "o", Key: "tls.key"}, {ObjectName: "o", Key: "cert.pem"}}}, want: `key "cert.pem" is not allowed in a kubernetes.io/tls Secret`},
		{name: "tls without key", so: ssv1.SecretObject{SecretName: "a", Type: "kubernetes.io/tls", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "tls.crt"}}}, want: "needs both tls.crt and tls.key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spc := &ssv1.SecretProviderClass{ObjectMeta: metav1.ObjectMeta{Name: "spc", Namespace: "ns"}, Spec: ssv1.SecretProviderClassSpec{SecretObjects: []ssv1.SecretObject{tc.so}}}
			err := Validate(spc)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "SecretProviderClass ns/spc") {
				t.Fatalf("error = %v, want %q naming the SPC", err, tc.want)
			}
		})
	}
	dup := &ssv1.SecretProviderClass{Spec: ssv1.SecretProviderClassSpec{SecretObjects: []ssv1.SecretObject{
		{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "k"}}},
		{SecretName: "a", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "o", Key: "k"}}},
	}}}
	if err := Validate(dup); err == nil || !strings.Contains(err.Error(), `spec.secretObjects[1].secretName "a" is also spec.secretObjects[0].secretName`) {
		t.Errorf("duplicate secretName: %v", err)
	}
}

func mountInfo(spc *ssv1.SecretProviderClass, dir string) driver.MountInfo {
	return driver.MountInfo{PodName: "web-1", PodNamespace: "apps", PodUID: "uid-1", SecretProviderClass: spc, Provider: "azure", TargetPath: dir}
}

func TestPublishedReportsAndRetries(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "apps", UID: "uid-1"}}
	f := newFixture(t, pod)
	failures := 0
	f.client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures < 2 {
			failures++
			return true, nil, apierrors.NewServiceUnavailable("etcd is down")
		}
		return false, nil, nil
	})
	dir := opaqueMount(t)
	if err := f.syncer.Published(ctx, mountInfo(opaqueSPC(), dir)); err != nil {
		t.Fatalf("Published returned %v; a sync failure must not fail the mount", err)
	}
	ev := <-f.recorder.Events
	if !strings.HasPrefix(ev, "Warning FailedToCreateSecret") || !strings.Contains(ev, "azure-sync") || strings.Contains(ev, secretValue) {
		t.Errorf("event = %q", ev)
	}
	// First retry fails again and is requeued with a longer delay; the second succeeds.
	f.syncer.processNext(ctx)
	if f.syncer.pending.len() != 1 || f.syncer.queue.NumRequeues(retryKey{"apps", "web-1", "azure-sync", "uid-1"}) != 2 {
		t.Fatalf("after a failed retry: pending=%d", f.syncer.pending.len())
	}
	f.syncer.processNext(ctx)
	if s := f.secret(t, "foosecret"); string(s.Data["username"]) != secretValue {
		t.Errorf("retried sync did not write the Secret")
	}
	if f.syncer.pending.len() != 0 || f.syncer.queue.Len() != 0 {
		t.Errorf("retry state left behind: pending=%d queue=%d", f.syncer.pending.len(), f.syncer.queue.Len())
	}
}

func TestRetryStopsWhenPodGone(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t) // no pod
	f.client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("down")
	})
	if err := f.syncer.Published(ctx, mountInfo(opaqueSPC(), opaqueMount(t))); err != nil {
		t.Fatal(err)
	}
	f.syncer.processNext(ctx)
	if f.syncer.pending.len() != 0 || f.syncer.queue.Len() != 0 {
		t.Errorf("retry kept for a deleted pod")
	}
	if w := f.writes(); len(w) != 1 {
		t.Errorf("writes = %v, want only the first failed create", w)
	}
}

func TestPermanentFailureNotRetried(t *testing.T) {
	f := newFixture(t)
	spc := opaqueSPC()
	spc.Spec.SecretObjects[0].Data[0].ObjectName = "nope"
	if err := f.syncer.Published(context.Background(), mountInfo(spc, opaqueMount(t))); err != nil {
		t.Fatal(err)
	}
	if ev := <-f.recorder.Events; !strings.Contains(ev, `object "nope" is not in the mount`) {
		t.Errorf("event = %q", ev)
	}
	if f.syncer.pending.len() != 0 || f.syncer.queue.Len() != 0 {
		t.Error("a permanent failure was queued for retry")
	}
}

// BenchmarkSyncUpToDate is a rotation poll's re-sync of a Secret that did not change: the
// objects are read from the mount and compared with the informer's copy, with no API call.
func BenchmarkSyncUpToDate(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secretalias"), []byte(secretValue), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "nested"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nested", "key1"), []byte("k1"), 0o644); err != nil {
		b.Fatal(err)
	}
	client := fake.NewClientset()
	s, err := New(Config{Client: client})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	r := Request{SPC: opaqueSPC(), PodName: "web-1", PodUID: "uid-1", Provider: "azure", TargetPath: dir}
	if _, err := s.Sync(ctx, r); err != nil {
		b.Fatal(err)
	}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	cur, err := client.CoreV1().Secrets("apps").Get(ctx, "foosecret", metav1.GetOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := indexer.Add(cur); err != nil {
		b.Fatal(err)
	}
	s.lister = corelisters.NewSecretLister(indexer)
	client.ClearActions()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sync(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(client.Actions()); n != 0 {
		b.Fatalf("%d API calls", n)
	}
}

func TestSuccessfulRepublishCancelsRetry(t *testing.T) {
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "apps", UID: "uid-1"}}
	f := newFixture(t, pod)
	fail := true
	f.client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fail {
			return true, nil, apierrors.NewServiceUnavailable("down")
		}
		return false, nil, nil
	})
	dir := opaqueMount(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.syncer.Published(ctx, mountInfo(opaqueSPC(), dir)))
	if f.syncer.pending.len() != 1 {
		t.Fatal("failed sync not queued")
	}
	fail = false
	must(f.syncer.Published(ctx, mountInfo(opaqueSPC(), dir)))
	if f.syncer.pending.len() != 0 {
		t.Error("retry still pending after a successful republish")
	}
	// The queued key is then dropped without another sync.
	f.client.ClearActions()
	f.syncer.processNext(ctx)
	if w := f.writes(); len(w) != 0 {
		t.Errorf("cancelled retry wrote %v", w)
	}
}

func TestForbiddenNamesTheRBAC(t *testing.T) {
	f := newFixture(t)
	f.client.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("secrets"), "foosecret", nil)
	})
	_, err := f.syncer.Sync(context.Background(), req(opaqueSPC(), "web-1", "uid-1", opaqueMount(t)))
	if err == nil || !strings.Contains(err.Error(), "syncSecret.enabled=true") {
		t.Errorf("err = %v", err)
	}
}

// TestLenientLikeUpstream: what upstream's driver v1.6 syncs, kvcsi syncs the same way, with a
// SecretProviderClassWarning event per setting that it handled leniently: spaces around names
// and keys are trimmed, a key listed twice keeps its last object, and a second entry for one
// secretName is ignored.
func TestLenientLikeUpstream(t *testing.T) {
	f := newFixture(t)
	spc := opaqueSPC()
	spc.Spec.SecretObjects[0].SecretName = " foosecret "
	spc.Spec.SecretObjects[0].Data = []ssv1.SecretObjectData{
		{ObjectName: "secretalias", Key: "username"},
		{ObjectName: " nested/key1", Key: "username "},
	}
	spc.Spec.SecretObjects = append(spc.Spec.SecretObjects, ssv1.SecretObject{SecretName: "foosecret", Type: "Opaque",
		Data: []ssv1.SecretObjectData{{ObjectName: "secretalias", Key: "other"}}})
	if err := f.syncer.Published(context.Background(), driver.MountInfo{PodName: "web-1", PodNamespace: "apps", PodUID: "uid-1",
		SecretProviderClass: spc, Provider: "azure", TargetPath: opaqueMount(t)}); err != nil {
		t.Fatal(err)
	}
	s := f.secret(t, "foosecret")
	if len(s.Data) != 1 || string(s.Data["username"]) != "k1" {
		t.Errorf("data %v: want username from the last entry (k1) only", s.Data)
	}
	close(f.recorder.Events)
	var evs []string
	for ev := range f.recorder.Events {
		if !strings.HasPrefix(ev, "Warning "+ReasonSecretProviderClassWarning+" ") {
			t.Errorf("event %q", ev)
		}
		evs = append(evs, ev)
	}
	for i, want := range []string{"spec.secretObjects[0].secretName", "spec.secretObjects[0].data[1].objectName", "spec.secretObjects[0].data[1].key", "last one wins", "spec.secretObjects[1].secretName"} {
		if i >= len(evs) || !strings.Contains(evs[i], want) {
			t.Errorf("events %q: want event %d to name %s", evs, i, want)
		}
	}
	if spc.Spec.SecretObjects[0].SecretName != " foosecret " || len(spc.Spec.SecretObjects) != 2 {
		t.Error("the SecretProviderClass given was modified")
	}
}
