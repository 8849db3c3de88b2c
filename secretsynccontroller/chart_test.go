package secretsynccontroller_test

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kvcsi/kvcsi/charts"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func renderSync(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	r, err := charts.Render(charts.Options{Values: values, KubeVersion: "v1.33.0"})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := r.Objects()
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestChartSyncControllerOffByDefault(t *testing.T) {
	for _, o := range renderSync(t, nil) {
		if strings.Contains(o.GetName(), "secrets-store-sync-controller") {
			t.Errorf("syncController.enabled defaults to false, yet %s %s is rendered", o.GetKind(), o.GetName())
		}
	}
}

func TestChartSyncControllerDeployment(t *testing.T) {
	objs := renderSync(t, map[string]any{"syncController": map[string]any{"enabled": true, "rotationPollInterval": "10s"}})
	kinds := map[string]int{}
	var dep *unstructured.Unstructured
	for _, o := range objs {
		kinds[o.GetKind()]++
		if o.GetKind() == "Deployment" && o.GetName() == "secrets-store-sync-controller" {
			dep = o
		}
	}
	if dep == nil {
		t.Fatal("no Deployment secrets-store-sync-controller")
	}
	if kinds["ValidatingAdmissionPolicy"] != 7 || kinds["ValidatingAdmissionPolicyBinding"] != 7 {
		t.Errorf("policies %d, bindings %d; want 7 each", kinds["ValidatingAdmissionPolicy"], kinds["ValidatingAdmissionPolicyBinding"])
	}
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if len(cs) != 2 {
		t.Fatalf("containers %d, want the manager and the provider sidecar", len(cs))
	}
	for _, c := range cs {
		ports, _, _ := unstructured.NestedSlice(c.(map[string]any), "ports")
		for _, p := range ports {
			if n, _ := p.(map[string]any)["name"].(string); len(n) > 15 {
				t.Errorf("port name %q is longer than the 15 characters the apiserver accepts", n)
			}
		}
	}
	args := strings.Join(toStrings(cs[0].(map[string]any)["args"]), " ")
	for _, want := range []string{"--provider-volume=/provider", "--token-request-audience=api://AzureADTokenExchange", "--rotation-poll-interval=10s", "--leader-elect"} {
		if !strings.Contains(args, want) {
			t.Errorf("manager args %q lack %s", args, want)
		}
	}
	pargs := strings.Join(toStrings(cs[1].(map[string]any)["args"]), " ")
	if !strings.Contains(pargs, "--endpoint=unix:///provider/azure.sock") {
		t.Errorf("provider args %q: want the socket in the shared /provider", pargs)
	}
	vols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	if _, ok := vols[0].(map[string]any)["emptyDir"]; !ok {
		t.Errorf("providervol %v: want an emptyDir", vols[0])
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestChartSyncControllerDeploymentDryRun: the real kube-apiserver accepts
// the rendered Deployment, with the add-on's CA bundle and host aliases.
func TestChartSyncControllerDeploymentDryRun(t *testing.T) {
	w := newWorld(t)
	objs := renderSync(t, map[string]any{"syncController": map[string]any{"enabled": true},
		"provider": map[string]any{"hostAliases": []any{map[string]any{"ip": "198.18.0.1", "hostnames": []any{"kv.vault.azure.net"}}}}})
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != "secrets-store-sync-controller" {
			continue
		}
		gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
		if _, err := w.dyn.Resource(gvr).Namespace("kube-system").Create(context.Background(), o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatalf("the apiserver refuses the Deployment: %v", err)
		}
		return
	}
	t.Fatal("no Deployment rendered")
}
