package integration

// Secret sync owners and rotation against the real kube-apiserver and garbage collector
// (driver-sync's part of the integration suite).

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	providerv1alpha1 "github.com/kvcsi/kvcsi/api/provider/v1alpha1"
	secretsstorev1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
	"github.com/kvcsi/kvcsi/driver/content"
	"github.com/kvcsi/kvcsi/driver/events"
	"github.com/kvcsi/kvcsi/driver/informers"
	"github.com/kvcsi/kvcsi/driver/metrics"
	"github.com/kvcsi/kvcsi/driver/podstatus"
	"github.com/kvcsi/kvcsi/driver/providerclient"
	"github.com/kvcsi/kvcsi/driver/providertest"
	"github.com/kvcsi/kvcsi/driver/rotation"
	"github.com/kvcsi/kvcsi/driver/secretsync"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// waitFor polls until cond holds; the limit only keeps a broken cluster from hanging the test.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func createPod(t *testing.T, kube kubernetes.Interface, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	if len(pod.Spec.Containers) == 0 {
		pod.Spec.Containers = []corev1.Container{{Name: "c", Image: "registry.k8s.io/e2e-test-images/busybox:1.29-1"}}
	}
	got, err := kube.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func deletePod(t *testing.T, kube kubernetes.Interface, pod *corev1.Pod) {
	t.Helper()
	zero := int64(0)
	if err := kube.CoreV1().Pods(pod.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
}

func syncSPC(ns string) *secretsstorev1.SecretProviderClass {
	return &secretsstorev1.SecretProviderClass{
		ObjectMeta: metav1.ObjectMeta{Name: "azure-sync", Namespace: ns},
		Spec: secretsstorev1.SecretProviderClassSpec{
			Provider:   "fake",
			Parameters: map[string]string{"keyvaultName": "kv1"},
			SecretObjects: []secretsstorev1.SecretObject{{
				SecretName: "foosecret", Type: "Opaque", Labels: map[string]string{"environment": "test"},
				Data: []secretsstorev1.SecretObjectData{{ObjectName: "secretalias", Key: "username"}},
			}},
		},
	}
}

func ownerUIDs(s *corev1.Secret) []types.UID {
	var out []types.UID
	for _, o := range s.OwnerReferences {
		out = append(out, o.UID)
	}
	return out
}

// TestSyncedSecretFollowsItsPods is the upstream e2e "sync with two Deployments", with the fix of
// upstream #1770: every pod that mounts owns the Secret, another writer's metadata survives, one
// pod gone leaves the Secret with the other owner, and the last pod gone deletes it.
func TestSyncedSecretFollowsItsPods(t *testing.T) {
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
	rec := metrics.New()
	syncer, err := secretsync.New(secretsync.Config{Client: kube, Metrics: rec})
	if err != nil {
		t.Fatal(err)
	}
	p1 := createPod(t, kube, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-a"}, Spec: corev1.PodSpec{NodeName: "it-node"}})
	p2 := createPod(t, kube, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-b"}, Spec: corev1.PodSpec{NodeName: "it-node"}})
	if _, err := syncer.Sync(ctx, secretsync.Request{SPC: spc, PodName: p1.Name, PodUID: p1.UID, Provider: "fake", TargetPath: dir}); err != nil {
		t.Fatal(err)
	}
	// Another writer adds metadata with a real resourceVersion-checked update.
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Labels["backup"] = "yes"
	s.Annotations = map[string]string{"reflector": "on"}
	if _, err := kube.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := syncer.Sync(ctx, secretsync.Request{SPC: spc, PodName: p2.Name, PodUID: p2.UID, Provider: "fake", TargetPath: dir}); err != nil {
		t.Fatal(err)
	}
	s, err = kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The order of owner references carries no meaning (the strategic merge patch puts the new
	// one first).
	if u := ownerUIDs(s); len(u) != 2 || !slices.Contains(u, p1.UID) || !slices.Contains(u, p2.UID) {
		t.Fatalf("owners = %v, want both pods", u)
	}
	if s.Labels["backup"] != "yes" || s.Annotations["reflector"] != "on" || s.Labels[secretsstorev1.ManagedLabel] != "true" || string(s.Data["username"]) != "admin" {
		t.Fatalf("Secret lost fields: labels %v annotations %v", s.Labels, s.Annotations)
	}

	deletePod(t, kube, p1)
	waitFor(t, "the garbage collector drops the deleted pod's owner reference and keeps the Secret", func(ctx context.Context) (bool, error) {
		s, err := kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		u := ownerUIDs(s)
		return len(u) == 1 && u[0] == p2.UID, nil
	})
	deletePod(t, kube, p2)
	waitFor(t, "the garbage collector deletes the Secret with its last pod", func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestRotationAgainstRealAPIServer runs one rotation poll with real informers, a real
// TokenRequest bound to the pod, the real pod status and Secret writes and real events.
func TestRotationAgainstRealAPIServer(t *testing.T) {
	kube, ss := clients(t)
	ns := namespace(t, kube)
	ctx := context.Background()
	node := "rot-node-" + ns
	driverName := "rotation-it.csi.k8s.io"
	const aud = "api://AzureADTokenExchange"

	if _, err := kube.StorageV1().CSIDrivers().Create(ctx, &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: driverName},
		Spec:       storagev1.CSIDriverSpec{TokenRequests: []storagev1.TokenRequest{{Audience: aud}}},
	}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	spc, err := ss.SecretProviderClasses(ns).Create(ctx, syncSPC(ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Labels: map[string]string{secretsstorev1.UsedLabel: "true"}},
		StringData: map[string]string{"clientid": "id", "clientsecret": "not-logged"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the service account controller creates the default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	pod := createPod(t, kube, ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "rotating"},
		Spec: corev1.PodSpec{NodeName: node, ServiceAccountName: "default", Volumes: []corev1.Volume{{
			Name: "secrets-store", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
				Driver: driverName, VolumeAttributes: map[string]string{driver.AttrSecretProviderClass: "azure-sync"},
				NodePublishSecretRef: &corev1.LocalObjectReference{Name: "creds"},
			}},
		}}},
	})

	// The fake provider serves version/payload that the test changes, on a real unix socket.
	var mu sync.Mutex
	version, payload := "1", "v1"
	var lastAttrs map[string]string
	var lastSecrets map[string]string
	provDir := t.TempDir()
	providertest.Start(t, provDir, "fake", func(_ context.Context, req *providerv1alpha1.MountRequest) (*providerv1alpha1.MountResponse, error) {
		mu.Lock()
		defer mu.Unlock()
		lastAttrs, lastSecrets = nil, nil
		_ = json.Unmarshal([]byte(req.GetAttributes()), &lastAttrs)
		_ = json.Unmarshal([]byte(req.GetSecrets()), &lastSecrets)
		return &providerv1alpha1.MountResponse{
			ObjectVersion: []*providerv1alpha1.ObjectVersion{{Id: "secret/secretalias", Version: version}},
			Files:         []*providerv1alpha1.File{{Path: "secretalias", Mode: 0o644, Contents: []byte(payload)}},
		}, nil
	})
	pool, err := providerclient.New(providerclient.Config{Dirs: []string{provDir}})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	refresher := &content.Refresher{Providers: pool}
	statuses, err := podstatus.New(ss, node)
	if err != nil {
		t.Fatal(err)
	}
	rec := metrics.New()
	syncer, err := secretsync.New(secretsync.Config{Client: kube, Metrics: rec})
	if err != nil {
		t.Fatal(err)
	}

	// What NodePublishVolume does: write, record, sync.
	target := t.TempDir()
	res, err := refresher.Refresh(ctx, content.Request{Provider: "fake", Attributes: spc.Spec.Parameters, TargetPath: target})
	if err != nil {
		t.Fatal(err)
	}
	info := driver.MountInfo{PodName: pod.Name, PodNamespace: ns, PodUID: pod.UID, NodeName: node, SecretProviderClass: spc, Provider: "fake", TargetPath: target, Objects: res.Objects}
	if err := statuses.Published(ctx, info); err != nil {
		t.Fatal(err)
	}
	if _, err := syncer.Sync(ctx, secretsync.Request{SPC: spc, PodName: pod.Name, PodUID: pod.UID, Provider: "fake", TargetPath: target}); err != nil {
		t.Fatal(err)
	}

	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watches, err := informers.New(kube, ss.Dynamic(), node, informers.Options{Rotation: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := watches.Start(watchCtx, time.Minute); err != nil {
		t.Fatal(err)
	}
	broadcaster := events.New(kube)
	defer broadcaster.Shutdown()
	rot, err := rotation.New(rotation.Config{
		NodeName: node, DriverName: driverName, Kube: kube, SPC: ss, PodStatus: statuses, Refresher: refresher,
		Syncer: syncer, Watches: watches, Recorder: broadcaster.Recorder(events.SourceRotation), Metrics: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the informers see the pod, its status and the used Secret", func(context.Context) (bool, error) {
		sts, _ := watches.PodStatuses.List(labels.Everything())
		_, perr := watches.Pods.Pods(ns).Get(pod.Name)
		_, serr := watches.UsedSecrets.Secrets(ns).Get("creds")
		return len(sts) == 1 && perr == nil && serr == nil, nil
	})

	mu.Lock()
	version, payload = "2", "v2"
	mu.Unlock()
	rot.ReconcileAll(ctx)

	if b, err := os.ReadFile(filepath.Join(target, "secretalias")); err != nil || string(b) != "v2" {
		t.Fatalf("mounted payload after rotation: %q %v", b, err)
	}
	st, err := statuses.Get(ctx, ns, podstatus.Name(pod.Name, ns, "azure-sync"))
	if err != nil || len(st.Status.Objects) != 1 || st.Status.Objects[0].Version != "2" {
		t.Fatalf("pod status after rotation: %+v %v", st, err)
	}
	s, err := kube.CoreV1().Secrets(ns).Get(ctx, "foosecret", metav1.GetOptions{})
	if err != nil || string(s.Data["username"]) != "v2" {
		t.Fatalf("synced Secret after rotation: %v", err)
	}
	mu.Lock()
	var tokens map[string]authenticationv1.TokenRequestStatus
	tokErr := json.Unmarshal([]byte(lastAttrs[driver.AttrServiceAccountToken]), &tokens)
	gotSecret := lastSecrets["clientsecret"]
	podUID := lastAttrs[driver.AttrPodUID]
	mu.Unlock()
	if tokErr != nil || tokens[aud].Token == "" || tokens[aud].ExpirationTimestamp.Time.IsZero() {
		t.Errorf("no real service-account token for %s in the rotation's Mount (%v)", aud, tokErr)
	}
	if gotSecret != "not-logged" || podUID != string(pod.UID) {
		t.Errorf("nodePublishSecretRef data or pod uid missing from the rotation's Mount")
	}
	for _, reason := range []string{rotation.ReasonMountRotationComplete, rotation.ReasonSecretRotationComplete} {
		waitFor(t, "event "+reason, func(ctx context.Context) (bool, error) {
			evs, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fmt.Sprintf("reason=%s", reason)})
			if err != nil {
				return false, err
			}
			for _, e := range evs.Items {
				if e.Source.Component == events.SourceRotation && e.InvolvedObject.UID == pod.UID {
					return true, nil
				}
			}
			return false, nil
		})
	}
}
