package addon

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// AKSManagedLabel marks objects AKS's own add-on manager reconciles (AKS puts
// them back when they are changed or deleted).
const AKSManagedLabel = "addonmanager.kubernetes.io/mode"

// ErrForeignObjects is returned (wrapped) by Enable and Update when objects of
// the add-on's names exist that kvcsi did not install.
var ErrForeignObjects = fmt.Errorf("objects of the add-on's names exist that kvcsi did not install")

// foreignObjects returns, for the live objects of the names kvcsi is about to
// apply, a line for each that kvcsi must not take over: anything AKS manages,
// and anything without kvcsi's add-on label except CRDs (a cluster may
// install the CRDs itself, as the local cluster does; they are the same API).
func foreignObjects(live []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range live {
		if o == nil {
			continue
		}
		name := o.GetKind() + " " + o.GetName()
		if o.GetNamespace() != "" {
			name = o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
		}
		l := o.GetLabels()
		switch {
		case l[AKSManagedLabel] != "":
			out = append(out, fmt.Sprintf("%s (managed by AKS: %s=%s)", name, AKSManagedLabel, l[AKSManagedLabel]))
		case o.GetKind() == "CustomResourceDefinition":
		case l[AddonLabel] != Name:
			by := l["app.kubernetes.io/managed-by"]
			if by == "" {
				by = "unknown"
			}
			out = append(out, fmt.Sprintf("%s (not installed by kvcsi; managed-by: %s)", name, by))
		}
	}
	sort.Strings(out)
	return out
}

// foreignError explains why kvcsi refuses to take over the objects found.
func foreignError(found []string) error {
	return fmt.Errorf("cannot enable the add-on %s: %w:\n  %s\n"+
		"kvcsi replaces AKS's azure-keyvault-secrets-provider add-on, it does not run beside it (same DaemonSet names in %s, same host ports 8898/8989, and AKS reconciles its objects back). "+
		"Disable AKS's add-on first (az aks disable-addons --addons azure-keyvault-secrets-provider -g <group> -n <cluster>) or remove the other installation, then run `kvcsi addon enable` again. "+
		"The azurekeyvaultsecretsprovider-<cluster> identity is deleted with AKS's add-on: give the vault access to an identity you control (the kubelet identity, a user-assigned identity on the node pools, or workload identity); see docs/deploy.md#on-a-real-aks-cluster",
		Name, ErrForeignObjects, strings.Join(found, "\n  "), Namespace)
}

// windowsPlan decides the Windows DaemonSets from the number of Windows nodes
// and the configured Windows image tag; msg is what enable prints ("" when
// there is nothing to say).
func windowsPlan(windowsNodes int, tag string) (enable bool, msg string) {
	switch {
	case windowsNodes == 0:
		return false, ""
	case tag == "":
		return false, fmt.Sprintf("%d Windows node(s) found but no Windows image is configured: skipping the Windows DaemonSets (pods on Windows nodes cannot mount secrets); build and push the Windows images and pass --windows-image-tag (docs/deploy.md#windows-images)", windowsNodes)
	default:
		return true, fmt.Sprintf("%d Windows node(s) found: installing the Windows DaemonSets with image tag %s", windowsNodes, tag)
	}
}
