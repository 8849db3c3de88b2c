package addon

import (
	"slices"
	"strings"
	"testing"
)

// --cloud-name reaches the provider's arguments; an unknown cloud is refused
// naming the flag.
func TestCloudNameReachesTheProvider(t *testing.T) {
	c := DefaultConfig("v1.0.0")
	c.CloudName = "AzureUSGovernmentCloud"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(c, "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() != "DaemonSet" || o.GetName() != ProviderName {
			continue
		}
		cs, _, _ := unstructuredContainers(o.Object)
		for _, ct := range cs {
			args, _ := ct.(map[string]any)["args"].([]any)
			var ss []string
			for _, a := range args {
				ss = append(ss, a.(string))
			}
			found = slices.Contains(ss, "--cloud-name=AzureUSGovernmentCloud")
		}
	}
	if !found {
		t.Error("the provider DaemonSet does not run with --cloud-name=AzureUSGovernmentCloud")
	}
	c.CloudName = "AzureMoonCloud"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--cloud-name") {
		t.Errorf("unknown cloud: err = %v", err)
	}
}

func unstructuredContainers(obj map[string]any) ([]any, bool, error) {
	spec, _ := obj["spec"].(map[string]any)
	tpl, _ := spec["template"].(map[string]any)
	ps, _ := tpl["spec"].(map[string]any)
	cs, ok := ps["containers"].([]any)
	return cs, ok, nil
}
