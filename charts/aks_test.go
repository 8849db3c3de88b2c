package charts

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// daemonSets returns every DaemonSet of a rendering with Linux and Windows on.
func daemonSets(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range render(t, map[string]any{"windows": map[string]any{"enabled": true}}) {
		if o.GetKind() == "DaemonSet" {
			out = append(out, o)
		}
	}
	if len(out) != 4 {
		t.Fatalf("rendered %d DaemonSets, want 4 (driver and provider, Linux and Windows)", len(out))
	}
	return out
}

// Upstream's charts keep every DaemonSet off ACI virtual nodes (label
// type=virtual-kubelet): tolerating every taint without it would schedule
// privileged hostPath pods there, where they never run.
func TestEveryDaemonSetAvoidsVirtualNodes(t *testing.T) {
	want := []any{map[string]any{"matchExpressions": []any{map[string]any{
		"key": "type", "operator": "NotIn", "values": []any{"virtual-kubelet"},
	}}}}
	for _, ds := range daemonSets(t) {
		got, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "affinity", "nodeAffinity",
			"requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DaemonSet %s: nodeSelectorTerms = %v, want %v", ds.GetName(), got, want)
		}
	}
}

// The provider never reads the pods' volumes (the driver writes the files), so
// neither provider DaemonSet mounts the kubelet's pods directory.
func TestProviderDoesNotMountThePodsDirectory(t *testing.T) {
	for _, ds := range daemonSets(t) {
		if ds.GetLabels()["app"] != "secrets-store-provider-azure" {
			continue
		}
		vols, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "volumes")
		for _, v := range vols {
			hp, _, _ := unstructured.NestedString(v.(map[string]any), "hostPath", "path")
			if strings.Contains(strings.ReplaceAll(hp, `\`, "/"), "kubelet/pods") {
				t.Errorf("DaemonSet %s mounts %s", ds.GetName(), hp)
			}
		}
	}
}

// The Windows driver does not use csi-proxy: no named pipe is mounted.
func TestWindowsDriverMountsNoCSIProxyPipe(t *testing.T) {
	for _, ds := range daemonSets(t) {
		vols, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "volumes")
		for _, v := range vols {
			hp, _, _ := unstructured.NestedString(v.(map[string]any), "hostPath", "path")
			if strings.Contains(hp, "pipe") {
				t.Errorf("DaemonSet %s mounts %s", ds.GetName(), hp)
			}
		}
	}
}
