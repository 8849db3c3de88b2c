package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"software.sslmate.com/src/go-pkcs12"
)

func fakeAddonDS(app string, desired int32) appsv1.DaemonSet {
	return appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: app, Labels: map[string]string{"app": app}, Generation: 1},
		Status:     appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: desired},
	}
}

func fakeAddonPod(app string, i, containers int) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", app, i), Labels: map[string]string{"app": app}}}
	p.Status.Phase = corev1.PodRunning
	for c := 0; c < containers; c++ {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprint(c)})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Ready: true})
	}
	return p
}

// Three nodes, one of them an ACI virtual node (or a Windows node) the
// DaemonSets do not select: two pods each is complete; the node count is not
// what addon/enable waits for.
func TestAddonPodsCountAgainstDesiredNumberScheduled(t *testing.T) {
	dss := []appsv1.DaemonSet{fakeAddonDS("secrets-store-csi-driver", 2), fakeAddonDS("secrets-store-provider-azure", 2)}
	pods := []corev1.Pod{
		fakeAddonPod("secrets-store-csi-driver", 0, 3), fakeAddonPod("secrets-store-csi-driver", 1, 3),
		fakeAddonPod("secrets-store-provider-azure", 0, 1), fakeAddonPod("secrets-store-provider-azure", 1, 1),
	}
	if err := addonPodsReady(dss, pods, ""); err != nil {
		t.Fatalf("2 of 2 desired pods each: %v", err)
	}
	if err := addonPodsReady(dss, pods[:3], ""); err == nil || !strings.Contains(err.Error(), "1 of 2 wanted secrets-store-provider-azure") {
		t.Errorf("one provider pod missing: err = %v", err)
	}
	extra := append(append([]corev1.Pod{}, pods...), fakeAddonPod("secrets-store-csi-driver", 2, 3))
	extra[4].Status.Phase = corev1.PodPending
	if err := addonPodsReady(dss, extra, ""); err == nil || !strings.Contains(err.Error(), "rollout is still going on") {
		t.Errorf("an extra driver pod (rollout): err = %v", err)
	}
	stale := append([]appsv1.DaemonSet{}, dss...)
	stale[0].Generation = 2
	if err := addonPodsReady(stale, pods, ""); err == nil || !strings.Contains(err.Error(), "not yet observed") {
		t.Errorf("unobserved generation: err = %v", err)
	}
	// Windows DaemonSets add to the same app's count.
	win := append(append([]appsv1.DaemonSet{}, dss...), fakeAddonDS("secrets-store-csi-driver", 1))
	if err := addonPodsReady(win, pods, ""); err == nil {
		t.Error("a Windows driver DaemonSet wanting a pod that does not exist passed")
	}
}

func TestRolloutTimeoutScalesWithNodes(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 3 * time.Minute, 3: 3 * time.Minute, 10: 6*time.Minute + 30*time.Second, 50: 26*time.Minute + 30*time.Second} {
		if got := rolloutTimeout(n); got != want {
			t.Errorf("rolloutTimeout(%d) = %v, want %v", n, got, want)
		}
	}
}

// Scenario pods go to Linux nodes only, unless they select an OS themselves.
func TestScenarioPodsSelectLinux(t *testing.T) {
	pod := &unstructured.Unstructured{Object: map[string]any{"kind": "Pod", "spec": map[string]any{}}}
	linuxOnly(pod)
	if got, _, _ := unstructured.NestedString(pod.Object, "spec", "nodeSelector", "kubernetes.io/os"); got != "linux" {
		t.Errorf("Pod nodeSelector kubernetes.io/os = %q", got)
	}
	dep := &unstructured.Unstructured{Object: map[string]any{"kind": "Deployment", "spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"nodeSelector": map[string]any{"pool": "a"}}}}}}
	linuxOnly(dep)
	sel, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "template", "spec", "nodeSelector")
	if sel["kubernetes.io/os"] != "linux" || sel["pool"] != "a" {
		t.Errorf("Deployment nodeSelector = %v", sel)
	}
	win := &unstructured.Unstructured{Object: map[string]any{"kind": "Pod", "spec": map[string]any{"nodeSelector": map[string]any{"kubernetes.io/os": "windows"}}}}
	linuxOnly(win)
	if got, _, _ := unstructured.NestedString(win.Object, "spec", "nodeSelector", "kubernetes.io/os"); got != "windows" {
		t.Errorf("an explicit OS was overridden: %q", got)
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"kind": "ConfigMap"}}
	linuxOnly(cm)
	if _, ok := cm.Object["spec"]; ok {
		t.Error("a ConfigMap got a spec")
	}
}

type prereqTarget struct {
	Target
	missing map[string]string
}

func (p prereqTarget) MissingPrerequisite(s string) string { return p.missing[s] }

// A scenario whose prerequisite is missing is reported SKIP with the reason,
// never PASS, and does not count as failed.
func TestMissingPrerequisiteIsReportedAsSkipped(t *testing.T) {
	ran := false
	sc := Scenario{Name: "identity/pod-identity", Run: func(context.Context, *Env) error { ran = true; return nil }}
	var progress strings.Builder
	res := Run(context.Background(), prereqTarget{missing: map[string]string{sc.Name: "aks target: set KVCSI_AKS_POD_IDENTITY"}},
		Options{Scenarios: []Scenario{sc}, Progress: &progress})
	if ran {
		t.Fatal("the scenario ran although its prerequisite is missing")
	}
	if len(res) != 1 || !res[0].Skipped() || res[0].Err.Error() != "skipped: aks target: set KVCSI_AKS_POD_IDENTITY" {
		t.Fatalf("result = %+v", res)
	}
	if Failed(res) != 0 || Skipped(res) != 1 {
		t.Errorf("Failed = %d, Skipped = %d", Failed(res), Skipped(res))
	}
	if !strings.Contains(progress.String(), "--- SKIP  identity/pod-identity") {
		t.Errorf("progress:\n%s", progress.String())
	}
	var table strings.Builder
	if err := WriteTable(&table, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "SKIP (aks target: set KVCSI_AKS_POD_IDENTITY)") || !strings.Contains(table.String(), "0/1 passed, 1 skipped") {
		t.Errorf("table:\n%s", table.String())
	}
}

// The PKCS#12 files the harness imports (into the emulator and a real Key
// Vault alike) use legacy-compatible encryption: 3DES-encrypted key bags
// (OID 1.2.840.113549.1.12.1.3), not PBES2/AES.
func TestImportedPFXUsesLegacyEncryption(t *testing.T) {
	ch, err := newChain("legacy.example")
	if err != nil {
		t.Fatal(err)
	}
	pbeSHA1And3DES := []byte{0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03}
	pbes2 := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d}
	if !bytes.Contains(ch.PFX, pbeSHA1And3DES) || bytes.Contains(ch.PFX, pbes2) {
		t.Error("the PFX is not 3DES-encrypted (or uses PBES2)")
	}
	if _, _, _, err := pkcs12.DecodeChain(ch.PFX, ch.Password); err != nil {
		t.Errorf("decode: %v", err)
	}
}
