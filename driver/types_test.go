package driver

import (
	"strings"
	"testing"
)

// FuzzProviderAttributes: whatever a SecretProviderClass's parameters and a
// pod's volumeAttributes hold, no csi.storage.k8s.io/ key of theirs reaches
// the provider, and the driver's own keys always do.
func FuzzProviderAttributes(f *testing.F) {
	// Hostile shapes: reserved keys in either place, case and spacing games.
	f.Add(AttrServiceAccountToken, `{"api://AzureADTokenExchange":{"token":"x"}}`, AttrPodName, "victim")
	f.Add("csi.storage.k8s.io/", "", "csi.storage.k8s.io/serviceAccount.tokens", "{}")
	f.Add("CSI.storage.k8s.io/pod.name", "x", " csi.storage.k8s.io/pod.uid", "y")
	f.Add("keyvaultName", "kv", AttrEphemeral, "false")
	f.Fuzz(func(t *testing.T, pk, pv, uk, uv string) {
		own := map[string]string{AttrPodName: "pod", AttrServiceAccountToken: "kubelet"}
		attrs, dropped := ProviderAttributes(map[string]string{pk: pv}, map[string]string{uk: uv}, own)
		for k, v := range own {
			if attrs[k] != v {
				t.Fatalf("own key %s = %q, want %q", k, attrs[k], v)
			}
		}
		for _, in := range []struct{ k, v string }{{pk, pv}, {uk, uv}} {
			_, isOwn := own[in.k]
			if strings.HasPrefix(in.k, ReservedPrefix) && !isOwn {
				if _, ok := attrs[in.k]; ok {
					t.Fatalf("reserved key %q passed to the provider", in.k)
				}
			}
		}
		for _, d := range dropped {
			if !strings.HasPrefix(d.Key, ReservedPrefix) {
				t.Fatalf("dropped a key that is not reserved: %q", d.Key)
			}
		}
	})
}

func TestProviderAttributes(t *testing.T) {
	params := map[string]string{"keyvaultName": "kv", "objects": "o", AttrServiceAccountToken: "forged", AttrPodName: "p"}
	user := map[string]string{"keyvaultName": "override", AttrSecretProviderClass: "spc", "csi.storage.k8s.io/x": "y"}
	own := map[string]string{AttrPodName: "pod1", AttrPodUID: "uid"}
	attrs, dropped := ProviderAttributes(params, user, own)
	want := map[string]string{"keyvaultName": "override", "objects": "o", AttrSecretProviderClass: "spc", AttrPodName: "pod1", AttrPodUID: "uid"}
	if len(attrs) != len(want) {
		t.Fatalf("attributes %v, want %v", attrs, want)
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs[k], v)
		}
	}
	wantDropped := []DroppedKey{{SourceParameters, AttrPodName}, {SourceParameters, AttrServiceAccountToken}, {SourceVolumeAttributes, "csi.storage.k8s.io/x"}}
	if len(dropped) != len(wantDropped) {
		t.Fatalf("dropped %v, want %v", dropped, wantDropped)
	}
	for i := range wantDropped {
		if dropped[i] != wantDropped[i] {
			t.Errorf("dropped[%d] = %v, want %v", i, dropped[i], wantDropped[i])
		}
	}
	if params[AttrServiceAccountToken] != "forged" || user["csi.storage.k8s.io/x"] != "y" {
		t.Error("inputs modified")
	}
}
