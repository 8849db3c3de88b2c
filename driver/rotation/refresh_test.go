package rotation

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/refresh"
)

// annotateClass sets the refresh annotation on azure-sync and waits until the
// rotator's informer has seen it.
func (e *env) annotateClass(value string) {
	e.t.Helper()
	p := `{"metadata":{"annotations":{"` + refresh.Annotation + `":"` + value + `"}}}`
	_, err := e.dyn.Resource(ssv1.SecretProviderClassesResource).Namespace("apps").Patch(context.Background(), "azure-sync", types.MergePatchType, []byte(p), metav1.PatchOptions{})
	must(e.t, err)
	ok := cache.WaitForCacheSync(waitFor(e.t, 30*time.Second), func() bool {
		obj, exists, _ := e.rotator.refresh.spcs.GetStore().GetByKey("apps/azure-sync")
		return exists && obj.(*unstructured.Unstructured).GetAnnotations()[refresh.Annotation] == value
	})
	if !ok {
		e.t.Fatalf("the informer never saw %s=%s", refresh.Annotation, value)
	}
}

// waitFor is a stop channel closed after d (a bound on waiting for the
// informer, not an assertion on speed).
func waitFor(t testing.TB, d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	tm := time.AfterFunc(d, func() { close(ch) })
	t.Cleanup(func() { tm.Stop() })
	return ch
}

func TestRefreshOnDemandOncePerValueBypassingTheCache(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, stop := e.rotator.startRefresh(ctx)
	defer stop()
	if !cache.WaitForCacheSync(waitFor(t, 30*time.Second), e.rotator.refresh.spcs.HasSynced) {
		t.Fatal("class informer did not sync")
	}
	// First sight only remembers the values.
	e.rotator.refreshDue(ctx)
	if n := len(e.requests()); n != 0 {
		t.Fatalf("first check called the provider %d times", n)
	}

	e.version, e.content = "2", "v2"
	e.annotateClass("2026-01-01T00:00:00Z")
	e.rotator.refreshDue(ctx)
	reqs := e.requests()
	if len(reqs) != 1 {
		t.Fatalf("after the class annotation changed: %d provider calls, want 1", len(reqs))
	}
	if cv := reqs[0].GetCurrentObjectVersion(); len(cv) != 0 {
		t.Errorf("a refresh sent current_object_version %v: the provider would answer from its cache", cv)
	}
	if got := e.mounted(); got != "v2" {
		t.Errorf("mounted = %q after refresh, want v2", got)
	}
	e.refreshInformers()
	if got := string(e.secret().Data["password"]); got != "v2" {
		t.Errorf("synced Secret = %q after refresh, want v2", got)
	}
	evs := strings.Join(e.events(), "\n")
	if !strings.Contains(evs, "Normal MountRotationComplete") || !strings.Contains(evs, "SecretProviderClass apps/azure-sync") || !strings.Contains(evs, "2026-01-01T00:00:00Z") {
		t.Errorf("events do not name the class trigger:\n%s", evs)
	}
	if v := e.counter(RefreshMetric, "trigger", refresh.TriggerClass); v != 1 {
		t.Errorf("%s{trigger=class} = %v, want 1", RefreshMetric, v)
	}

	// The same value again: nothing.
	e.rotator.refreshDue(ctx)
	if n := len(e.requests()); n != 1 {
		t.Errorf("an unchanged annotation refreshed again (%d calls)", n)
	}

	// Per pod: the annotation on the pod refreshes that pod's volumes, and
	// says so also when nothing changed.
	pod := e.pod.DeepCopy()
	pod.Annotations = map[string]string{refresh.Annotation: "pod-1"}
	must(t, e.pods.Update(pod))
	e.rotator.refreshDue(ctx)
	if n := len(e.requests()); n != 2 {
		t.Fatalf("after the pod annotation changed: %d provider calls, want 2", n)
	}
	evs = strings.Join(e.events(), "\n")
	if !strings.Contains(evs, "pod apps/web-1") || !strings.Contains(evs, "content unchanged") {
		t.Errorf("events do not name the pod trigger:\n%s", evs)
	}
	if v := e.counter(RefreshMetric, "trigger", refresh.TriggerPod); v != 1 {
		t.Errorf("%s{trigger=pod} = %v, want 1", RefreshMetric, v)
	}

	// A failing refresh is an error event naming the trigger, and counted.
	e.providerOK = false
	e.annotateClass("again")
	e.rotator.refreshDue(ctx)
	evs = strings.Join(e.events(), "\n")
	if !strings.Contains(evs, "Warning MountRotationFailed") || !strings.Contains(evs, "again") {
		t.Errorf("failed refresh events:\n%s", evs)
	}
	if v := e.counter(RefreshMetric, "result", "error"); v != 1 {
		t.Errorf("%s{result=error} = %v, want 1", RefreshMetric, v)
	}
	if got := e.mounted(); got != "v2" {
		t.Errorf("a failed refresh changed the mount to %q", got)
	}
}

func TestRefreshRequestedAfterTheMountIsNotLostOnFirstSight(t *testing.T) {
	mounted := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for value, want := range map[string]bool{
		"2026-01-01T00:00:01Z":   true,
		"2026-01-01T00:00:00.5Z": true,
		"2025-12-31T23:59:59Z":   false,
		"not-a-time":             false,
		"":                       false,
	} {
		if got := requestedAfter(value, mounted); got != want {
			t.Errorf("requestedAfter(%q) = %v, want %v", value, got, want)
		}
	}
}
