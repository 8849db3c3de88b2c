package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/secretsync"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
)

// secretRequests counts the API requests on Secrets, per verb.
type secretRequests struct {
	mu    sync.Mutex
	verbs map[string]int
	total atomic.Int64
}

func (c *secretRequests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.Contains(r.URL.Path, "/secrets") {
			c.total.Add(1)
			c.mu.Lock()
			c.verbs[r.Method]++
			c.mu.Unlock()
		}
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// countingKube is a client of the shared control plane whose Secret requests are counted.
func countingKube(t *testing.T) (kubernetes.Interface, *secretRequests) {
	t.Helper()
	cfg := controlPlaneB(t).RESTConfig()
	c := &secretRequests{verbs: map[string]int{}}
	cfg.Wrap(c.wrap)
	cfg.QPS, cfg.Burst = 1000, 1000
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube, c
}

// TestConcurrentPublishesOfOneClassCompose is issue 20: N pods of one Deployment publish at
// once and each syncs the same Secret. A 409 between them is expected, not a failure: no
// FailedToCreateSecret event (nothing retried in the background either), exactly one owner
// reference per pod, and the right data.
func TestConcurrentPublishesOfOneClassCompose(t *testing.T) {
	const n = 30
	kube, ss := clients(t)
	ns := namespace(t, kube)
	ctx := context.Background()
	spc, err := ss.SecretProviderClasses(ns).Create(ctx, syncSPC(ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secretalias"), []byte("admin"), 0o644); err != nil {
		t.Fatal(err)
	}
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		pods[i] = createPod(t, kube, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%02d", i)}, Spec: corev1.PodSpec{NodeName: "it-node"}})
	}

	counted, reqs := countingKube(t)
	recorder := record.NewFakeRecorder(10 * n)
	syncer, err := secretsync.New(secretsync.Config{Client: counted, Recorder: recorder})
	if err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_ = syncer.Published(ctx, driver.MountInfo{PodName: p.Name, PodNamespace: ns, PodUID: p.UID, SecretProviderClass: spc, Provider: "fake", TargetPath: dir})
		}()
	}
	close(start)
	wg.Wait()

	close(recorder.Events)
	for ev := range recorder.Events {
		t.Errorf("event on a healthy publish: %s", ev)
	}
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertOwners(t, s, pods)
	if string(s.Data["username"]) != "admin" || len(s.Data) != 1 || s.Labels["environment"] != "test" || s.Labels["secrets-store.csi.k8s.io/managed"] != "true" {
		t.Errorf("Secret data keys %d, labels %v", len(s.Data), s.Labels)
	}
	t.Logf("API requests on Secrets per synced pod: %.2f (%d publishes: %v)", float64(reqs.total.Load())/n, n, reqs.verbs)
}

// TestConcurrentOwnerAddAndRemove: pods come while others go (the garbage collector removes a
// gone pod's reference with a strategic-merge delete of that uid, as it does for built-in
// kinds); no add drops a removal's neighbour and no removal drops a new pod's reference.
func TestConcurrentOwnerAddAndRemove(t *testing.T) {
	const old, added = 15, 30
	kube, ss := clients(t)
	ns := namespace(t, kube)
	ctx := context.Background()
	spc, err := ss.SecretProviderClasses(ns).Create(ctx, syncSPC(ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secretalias"), []byte("admin"), 0o644); err != nil {
		t.Fatal(err)
	}
	recorder := record.NewFakeRecorder(10 * (old + added))
	syncer, err := secretsync.New(secretsync.Config{Client: kube, Recorder: recorder})
	if err != nil {
		t.Fatal(err)
	}
	var gone, stay []*corev1.Pod
	for i := 0; i < old+added; i++ {
		p := createPod(t, kube, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%02d", i)}, Spec: corev1.PodSpec{NodeName: "it-node"}})
		if i < old {
			gone = append(gone, p)
			if _, err := syncer.Sync(ctx, secretsync.Request{SPC: spc, PodName: p.Name, PodUID: p.UID, Provider: "fake", TargetPath: dir}); err != nil {
				t.Fatal(err)
			}
		} else {
			stay = append(stay, p)
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, old+added)
	for _, p := range stay {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_ = syncer.Published(ctx, driver.MountInfo{PodName: p.Name, PodNamespace: ns, PodUID: p.UID, SecretProviderClass: spc, Provider: "fake", TargetPath: dir})
		}()
	}
	for _, p := range gone {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
				"ownerReferences": []map[string]any{{"$patch": "delete", "uid": p.UID}}}})
			if _, err := kube.CoreV1().Secrets(ns).Patch(ctx, "foosecret", types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("garbage-collector-style removal: %v", err)
	}
	close(recorder.Events)
	for ev := range recorder.Events {
		t.Errorf("event: %s", ev)
	}
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertOwners(t, s, stay)
}

// assertOwners checks s is owned by exactly pods, each once.
func assertOwners(t *testing.T, s *corev1.Secret, pods []*corev1.Pod) {
	t.Helper()
	want := map[types.UID]string{}
	for _, p := range pods {
		want[p.UID] = p.Name
	}
	seen := map[types.UID]int{}
	for _, o := range s.OwnerReferences {
		seen[o.UID]++
		if want[o.UID] != o.Name || o.Kind != "Pod" {
			t.Errorf("owner reference %s %s (%s) is not one of the pods", o.Kind, o.Name, o.UID)
		}
	}
	for uid, name := range want {
		if seen[uid] != 1 {
			t.Errorf("pod %s is an owner %d times, want once", name, seen[uid])
		}
	}
	if len(s.OwnerReferences) != len(pods) {
		t.Errorf("%d owner references, want %d", len(s.OwnerReferences), len(pods))
	}
}
