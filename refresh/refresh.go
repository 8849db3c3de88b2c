// Package refresh asks the driver to re-fetch mounted content now instead of
// at the next --rotation-poll-interval: it sets the annotation Annotation on a
// SecretProviderClass (every volume using it, on every node) or on a pod
// (that pod's volumes). The driver's rotator watches the annotation and
// refreshes each affected volume once per change of its value, bypassing the
// provider's cache. `kvcsi refresh` (cmd/kvcsi) calls Class and Pod.
package refresh

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// Annotation requests a refresh when its value changes. Any new value works;
// kvcsi refresh writes the current time (RFC 3339). The driver only compares
// values, so clock skew does not matter.
const Annotation = "secrets-store.csi.x-k8s.io/refresh-requested-at"

// Trigger names what requested a refresh, in events and the refresh metric.
const (
	TriggerClass = "class"
	TriggerPod   = "pod"
)

func patch(now time.Time) (string, []byte) {
	v := now.UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{Annotation: v}}})
	return v, b
}

// Class sets the annotation on SecretProviderClass ns/name and returns the
// value set. It needs patch on secretproviderclasses in ns.
func Class(ctx context.Context, dyn dynamic.Interface, ns, name string, now time.Time) (string, error) {
	v, p := patch(now)
	if _, err := dyn.Resource(ssv1.SecretProviderClassesResource).Namespace(ns).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{}); err != nil {
		return "", fmt.Errorf("refresh class %s/%s: %w", ns, name, err)
	}
	return v, nil
}

// Pod sets the annotation on pod ns/name and returns the value set. It needs
// patch on pods in ns.
func Pod(ctx context.Context, kube kubernetes.Interface, ns, name string, now time.Time) (string, error) {
	v, p := patch(now)
	if _, err := kube.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{}); err != nil {
		return "", fmt.Errorf("refresh pod %s/%s: %w", ns, name, err)
	}
	return v, nil
}

// Event reasons of the driver's rotator (source csi-secrets-store-rotation);
// a refresh's events name the annotation value they answer.
const (
	ReasonDone   = "MountRotationComplete"
	ReasonFailed = "MountRotationFailed"
)

// PodsUsing lists the pods of ns with a secrets-store volume of class.
func PodsUsing(ctx context.Context, kube kubernetes.Interface, ns, class string) ([]string, error) {
	list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil || p.Spec.NodeName == "" {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.CSI != nil && v.CSI.Driver == "secrets-store.csi.k8s.io" && v.CSI.VolumeAttributes["secretProviderClass"] == class {
				out = append(out, p.Name)
				break
			}
		}
	}
	return out, nil
}

// Wait polls until every pod has an event answering the refresh with value
// (MountRotationComplete, or MountRotationFailed, which is returned as an
// error), or ctx ends.
func Wait(ctx context.Context, kube kubernetes.Interface, ns string, pods []string, value string) error {
	pending := map[string]bool{}
	for _, p := range pods {
		pending[p] = true
	}
	var failed []string
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for len(pending) > 0 {
		evs, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if !pending[e.InvolvedObject.Name] || e.InvolvedObject.Kind != "Pod" || !strings.Contains(e.Message, value) {
				continue
			}
			switch e.Reason {
			case ReasonDone:
				delete(pending, e.InvolvedObject.Name)
			case ReasonFailed:
				delete(pending, e.InvolvedObject.Name)
				failed = append(failed, e.InvolvedObject.Name+": "+e.Message)
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			var left []string
			for p := range pending {
				left = append(left, p)
			}
			sort.Strings(left)
			return fmt.Errorf("no refresh event yet for pod(s) %s: is rotation enabled on the add-on (kvcsi addon update --enable-secret-rotation)? %w", strings.Join(left, ", "), ctx.Err())
		case <-t.C:
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("refresh failed: %s", strings.Join(failed, "; "))
	}
	return nil
}
