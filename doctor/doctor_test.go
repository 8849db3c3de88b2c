package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

const node = "n1"

func ptr[T any](v T) *T { return &v }

func spc(ns, name, objects string, secretObjects ...ssv1.SecretObject) *ssv1.SecretProviderClass {
	return &ssv1.SecretProviderClass{
		TypeMeta:   metav1.TypeMeta{APIVersion: "secrets-store.csi.x-k8s.io/v1", Kind: "SecretProviderClass"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: ssv1.SecretProviderClassSpec{
			Provider: "azure",
			Parameters: map[string]string{
				"useVMManagedIdentity":   "true",
				"userAssignedIdentityID": "11111111-2222-3333-4444-555555555555",
				"keyvaultName":           "kv-demo",
				"tenantId":               "tenant-1",
				"objects":                objects,
			},
			SecretObjects: secretObjects,
		},
	}
}

const goodObjects = "array:\n  - |\n    objectName: foo\n    objectType: secret\n"

func appPod(ns, name, class string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: "pod-uid"},
		Spec: corev1.PodSpec{
			NodeName: node,
			Volumes: []corev1.Volume{{Name: "secrets", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
				Driver: DriverName, VolumeAttributes: map[string]string{"secretProviderClass": class},
			}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func addonPod(name, app string, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name, Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: DriverContainer, Args: args}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: DriverContainer, Ready: true}}},
	}
}

// healthyCluster is a pod in ns "app" mounting class "kv" with everything in place.
func healthyCluster() ([]runtime.Object, []runtime.Object) {
	kube := []runtime.Object{
		appPod("app", "web", "kv"),
		addonPod("driver-x", "secrets-store-csi-driver", "--enable-secret-rotation=true", "--rotation-poll-interval=30s"),
		addonPod("provider-x", "secrets-store-provider-azure"),
		&storagev1.CSIDriver{ObjectMeta: metav1.ObjectMeta{Name: DriverName}, Spec: storagev1.CSIDriverSpec{
			PodInfoOnMount: ptr(true), RequiresRepublish: ptr(true),
			TokenRequests: []storagev1.TokenRequest{{Audience: "api://AzureADTokenExchange"}},
		}},
		&storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: node}, Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{Name: DriverName, NodeID: node}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "foosecret", Labels: map[string]string{ssv1.ManagedLabel: "true"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Pod", Name: "web", UID: "pod-uid"}}}, Data: map[string][]byte{"username": []byte("x")}},
	}
	ss := []runtime.Object{
		spc("app", "kv", goodObjects, ssv1.SecretObject{SecretName: "foosecret", Type: "Opaque", Data: []ssv1.SecretObjectData{{ObjectName: "foo", Key: "username"}}}),
		&ssv1.SecretProviderClassPodStatus{
			TypeMeta:   metav1.TypeMeta{APIVersion: "secrets-store.csi.x-k8s.io/v1", Kind: "SecretProviderClassPodStatus"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web-app-kv", Labels: map[string]string{ssv1.NodeNameLabel: node}},
			Status: ssv1.SecretProviderClassPodStatusStatus{PodName: "web", SecretProviderClassName: "kv", Mounted: true,
				Objects: []ssv1.SecretProviderClassObject{{ID: "secret/foo", Version: "abc"}}},
		},
	}
	return kube, ss
}

func clients(t *testing.T, kube, ss []runtime.Object) (Clients, *fake.Clientset) {
	t.Helper()
	var us []runtime.Object
	for _, o := range ss {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		us = append(us, &unstructured.Unstructured{Object: m})
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		ssv1.SecretProviderClassesResource:          "SecretProviderClassList",
		ssv1.SecretProviderClassPodStatusesResource: "SecretProviderClassPodStatusList",
	}, us...)
	kc := fake.NewClientset(kube...)
	return Clients{Kube: kc, SPC: spcclient.New(dyn)}, kc
}

func mustCheck(t *testing.T, r *Report, prefix string, want Status) Check {
	t.Helper()
	c, ok := r.Find(prefix)
	if !ok {
		t.Fatalf("no check %q in\n%s", prefix, table(r))
	}
	if c.Status != want {
		t.Fatalf("check %q is %s, want %s:\n%s", prefix, c.Status, want, table(r))
	}
	return c
}

func table(r *Report) string {
	var b bytes.Buffer
	_ = r.WriteTable(&b)
	return b.String()
}

func TestHealthyPodPassesEveryCheck(t *testing.T) {
	kube, ss := healthyCluster()
	c, _ := clients(t, kube, ss)
	r := Pod(context.Background(), c, "app", "web")
	if r.Failed() {
		t.Fatalf("healthy pod failed:\n%s", table(r))
	}
	for _, prefix := range []string{"secrets-store volumes", "SecretProviderClass app/kv", "CSIDriver", "driver pod on node", "CSINode", "provider pod on node", "SecretProviderClassPodStatus", "events of pod", "synced Secret app/foosecret", "rotation on node"} {
		mustCheck(t, r, prefix, OK)
	}
	if c := mustCheck(t, r, "rotation on node", OK); !strings.Contains(c.Detail, "30s") {
		t.Errorf("rotation detail %q lacks the interval", c.Detail)
	}
	if c := mustCheck(t, r, "SecretProviderClass app/kv", OK); !strings.Contains(c.Detail, "user-assigned managed identity 11111111") || !strings.Contains(c.Detail, "kv-demo") {
		t.Errorf("class detail %q lacks identity or vault", c.Detail)
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Checks) != len(r.Checks) {
		t.Errorf("JSON round trip: %v, %d checks", err, len(back.Checks))
	}
}

func TestClassMissingAndWrongNamespace(t *testing.T) {
	kube, ss := healthyCluster()
	kube[0] = appPod("app", "web", "nope")
	c, _ := clients(t, kube, ss)
	chk := mustCheck(t, Pod(context.Background(), c, "app", "web"), "SecretProviderClass app/nope", Fail)
	if !strings.Contains(chk.Fix, "create SecretProviderClass nope in namespace app") {
		t.Errorf("fix %q", chk.Fix)
	}
	// The class exists, but in another namespace.
	kube[0] = appPod("other", "web", "kv")
	c, _ = clients(t, kube, ss)
	chk = mustCheck(t, Pod(context.Background(), c, "other", "web"), "SecretProviderClass other/kv", Fail)
	if !strings.Contains(chk.Cause, "exists in namespace app, not in the pod's namespace other") {
		t.Errorf("cause %q does not name the namespace it is in", chk.Cause)
	}
}

func TestBadObjectsYAMLNamesTheField(t *testing.T) {
	kube, ss := healthyCluster()
	ss[0] = spc("app", "kv", "array:\n  - |\n    objectName: foo\n   objectType: [", ss[0].(*ssv1.SecretProviderClass).Spec.SecretObjects...)
	c, _ := clients(t, kube, ss)
	chk := mustCheck(t, Pod(context.Background(), c, "app", "web"), "SecretProviderClass app/kv", Fail)
	if !strings.Contains(chk.Cause, "invalid parameter objects") || !strings.Contains(chk.Fix, "parameters.objects") {
		t.Errorf("cause %q fix %q", chk.Cause, chk.Fix)
	}
}

func TestProviderDownAndEvents(t *testing.T) {
	kube, ss := healthyCluster()
	kube = append(kube[:2], kube[3:]...) // no provider pod
	ss = ss[:1]                          // no mount recorded
	kube = append(kube, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "app", Name: "web.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: "app", UID: "pod-uid"},
		Type:           corev1.EventTypeWarning, Reason: "FailedMount", Count: 3,
		Message: `MountVolume.SetUp failed for volume "secrets" : rpc error: code = PermissionDenied desc = failed to get objectType:secret, objectName:foo, objectVersion:: the identity may not read it from key vault "kv-demo" (HTTP 403 Forbidden/AccessDenied)`,
	})
	kube[0].(*corev1.Pod).Status.Phase = corev1.PodPending
	c, _ := clients(t, kube, ss)
	r := Pod(context.Background(), c, "app", "web")
	if !r.Failed() {
		t.Fatal("not failed")
	}
	chk := mustCheck(t, r, "provider pod on node", Fail)
	if !strings.Contains(chk.Fix, "describe daemonset") {
		t.Errorf("provider fix %q", chk.Fix)
	}
	mustCheck(t, r, "SecretProviderClassPodStatus", Fail)
	ev := mustCheck(t, r, "events of pod", Fail)
	if !strings.Contains(ev.Detail, "permission denied") || !strings.Contains(ev.Fix, "user-assigned managed identity 11111111-2222-3333-4444-555555555555") {
		t.Errorf("events: detail %q fix %q", ev.Detail, ev.Fix)
	}
}

func TestClassifyKinds(t *testing.T) {
	for msg, kind := range map[string]string{
		`rpc error: code = NotFound desc = not found in key vault "kv" (HTTP 404 SecretNotFound)`:                                                  "not found",
		`code = ResourceExhausted desc = key vault "kv" throttled the requests after retries (HTTP 429 Throttled)`:                                 "throttled",
		`code = Unauthenticated desc = Entra ID refused to issue a token (HTTP 400): invalid_client: AADSTS700213: No matching federated identity`: "token exchange failed (AADSTS700213)",
		`code = InvalidArgument desc = objects[0]: invalid objectType "blob": use secret, key or cert`:                                             "invalid parameter objectType",
		`failed to get secretproviderclass app/nope, error: secretproviderclasses "nope" not found`:                                                "class not found",
		`code = FailedPrecondition desc = provider not found: no socket for provider "azure" at [/provider/azure.sock]`:                            "provider unreachable",
	} {
		if got := Classify(msg, nil).Kind; got != kind {
			t.Errorf("Classify(%q) = %q, want %q", msg, got, kind)
		}
	}
}

func TestForbiddenReadsDegrade(t *testing.T) {
	kube, ss := healthyCluster()
	c, kc := clients(t, kube, ss)
	kc.PrependReactor("get", "csidrivers", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "storage.k8s.io", Resource: "csidrivers"}, DriverName, nil)
	})
	kc.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "foosecret", nil)
	})
	r := Pod(context.Background(), c, "app", "web")
	if r.Failed() {
		t.Fatalf("forbidden reads failed the report:\n%s", table(r))
	}
	if chk := mustCheck(t, r, "CSIDriver", Unknown); !strings.Contains(chk.Detail, "cannot check: needs get csidrivers") {
		t.Errorf("detail %q", chk.Detail)
	}
	mustCheck(t, r, "synced Secret", Unknown)
}

func TestNodeAndClassReports(t *testing.T) {
	kube, ss := healthyCluster()
	kube = append(kube, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	c, _ := clients(t, kube, ss)
	if r := Node(context.Background(), c, node); r.Failed() {
		t.Errorf("node report failed:\n%s", table(r))
	}
	r := Class(context.Background(), c, "app", "kv")
	if r.Failed() {
		t.Errorf("class report failed:\n%s", table(r))
	}
	if chk := mustCheck(t, r, "pods using the class", OK); !strings.Contains(chk.Detail, "web") {
		t.Errorf("pods using: %q", chk.Detail)
	}
}

func TestNotRunningNamesTheWaitingReason(t *testing.T) {
	p := addonPod("driver-x", "secrets-store-csi-driver")
	p.Status.Phase = corev1.PodPending
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "secrets-store", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
	if got := notRunning(p); !strings.Contains(got, "Pending") || !strings.Contains(got, "secrets-store ImagePullBackOff") {
		t.Errorf("notRunning = %q", got)
	}
}
