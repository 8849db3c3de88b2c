package secretsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
)

// desiredSecrets reads the mounted files below targetPath and returns the Secrets spc asks for,
// without owner references. Files are read through os.Root, so an objectName can never make the
// driver read outside the mount, whatever symlinks a provider wrote.
func desiredSecrets(spc *ssv1.SecretProviderClass, targetPath string) ([]*corev1.Secret, error) {
	root, err := os.OpenRoot(targetPath)
	if err != nil {
		return nil, fmt.Errorf("opening the mount %s of SecretProviderClass %s/%s: %w", targetPath, spc.Namespace, spc.Name, err)
	}
	defer root.Close()
	out := make([]*corev1.Secret, 0, len(spc.Spec.SecretObjects))
	for i, so := range spc.Spec.SecretObjects {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:        so.SecretName,
				Namespace:   spc.Namespace,
				Labels:      map[string]string{},
				Annotations: maps.Clone(so.Annotations),
			},
			Type: corev1.SecretType(so.Type),
			Data: make(map[string][]byte, len(so.Data)),
		}
		maps.Copy(s.Labels, so.Labels)
		s.Labels[ssv1.ManagedLabel] = "true"
		for j, d := range so.Data {
			content, err := root.ReadFile(d.ObjectName)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, permanent(fmt.Errorf("spec.secretObjects[%d].data[%d]: object %q is not in the mount of SecretProviderClass %s/%s: objectName must be the file name of a mounted object (its objectAlias if set) listed in spec.parameters", i, j, d.ObjectName, spc.Namespace, spc.Name))
				}
				return nil, fmt.Errorf("spec.secretObjects[%d].data[%d]: reading object %q of SecretProviderClass %s/%s: %w", i, j, d.ObjectName, spc.Namespace, spc.Name, err)
			}
			if so.Type == secretTypeTLS {
				part, err := tlsPart(content, d.Key)
				if err != nil {
					return nil, permanent(fmt.Errorf("spec.secretObjects[%d].data[%d]: object %q of SecretProviderClass %s/%s for key %s of kubernetes.io/tls Secret %q %w", i, j, d.ObjectName, spc.Namespace, spc.Name, d.Key, so.SecretName, err))
				}
				content = part
			}
			s.Data[d.Key] = content
		}
		out = append(out, s)
	}
	return out, nil
}

// podOwner is the owner reference that makes the garbage collector delete a synced Secret once
// the last pod that mounts it is gone. It names the pod itself, not the pod's controller, as the
// AKS documentation promises (upstream's ReplicaSet owner, issue #1770, keeps the Secret after a
// Deployment scales to zero).
func podOwner(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: uid}
}

func hasOwner(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// upsert creates want, or patches the existing Secret towards it. It reports whether the Secret's
// data was created or changed.
//
// Many pods of one Deployment sync one Secret at once, so the writes are built to compose instead
// of colliding (issue 20; docs/driver.md, "Concurrent syncs"): the patch is a strategic merge
// patch with no resourceVersion. Owner references merge by uid (the patch strategy Kubernetes
// declares for metadata.ownerReferences), so the patch adds exactly this pod's reference, once,
// and never drops a reference another pod or the garbage collector added or removed meanwhile;
// labels and annotations merge key by key (keys others added stay); data keys the
// SecretProviderClass no longer lists are deleted by name, because the Secret's content belongs
// to the sync. The API server applies such a patch to the latest object and retries internally,
// so it never answers 409. The only race left is two first creates: the loser's AlreadyExists
// becomes a re-read and a patch, logged at V(4) and counted, never an event.
func (s *Syncer) upsert(ctx context.Context, want *corev1.Secret, owner metav1.OwnerReference) (changed bool, err error) {
	client := s.client.CoreV1().Secrets(want.Namespace)
	var cur *corev1.Secret
	if s.lister != nil {
		// The informer's copy lets the common case, nothing to do, cost no API call, and any
		// other case cost one patch.
		if c, err := s.lister.Secrets(want.Namespace).Get(want.Name); err == nil {
			if upToDate(c, want, owner.UID) {
				return false, nil
			}
			cur = c
		}
	}
	if cur == nil {
		c, err := client.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			create := want.DeepCopy()
			create.OwnerReferences = []metav1.OwnerReference{owner}
			_, err = client.Create(ctx, create, metav1.CreateOptions{})
			if err == nil {
				return true, nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return false, err
			}
			// Another pod created it first: patch what it created.
			s.metrics.SecretSyncConflict()
			klog.V(4).InfoS("synced Secret created concurrently; patching it", "secret", klog.KObj(want))
			if c, err = client.Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
				return false, err
			}
		case err != nil:
			return false, err
		}
		cur = c
	}
	if cur.Labels[ssv1.ManagedLabel] != "true" {
		return false, permanent(fmt.Errorf("the Secret %s/%s exists and is not managed by the driver (no label %s=true); it is left alone: rename spec.secretObjects secretName or delete the Secret", want.Namespace, want.Name, ssv1.ManagedLabel))
	}
	if cur.Type != want.Type {
		return false, permanent(fmt.Errorf("the Secret %s/%s has type %s but the SecretProviderClass asks for %s; a Secret's type cannot change: delete the Secret and the driver recreates it", want.Namespace, want.Name, cur.Type, want.Type))
	}
	patch, dataChanged := mergePatch(cur, want, owner)
	if patch == nil {
		return false, nil
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return false, err
	}
	if _, err := client.Patch(ctx, want.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{}); err != nil {
		return false, err
	}
	return dataChanged, nil
}

// upToDate says whether cur already has everything want has.
func upToDate(cur, want *corev1.Secret, owner types.UID) bool {
	if cur.Type != want.Type || !hasOwner(cur.OwnerReferences, owner) || !dataEqual(cur.Data, want.Data) {
		return false
	}
	return containsAll(cur.Labels, want.Labels) && containsAll(cur.Annotations, want.Annotations)
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

func dataEqual(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

// mergePatch returns the strategic merge patch from cur to want (no resourceVersion: it applies
// to whatever the Secret is by then), or nil when there is nothing to change.
func mergePatch(cur, want *corev1.Secret, owner metav1.OwnerReference) (patch map[string]any, dataChanged bool) {
	meta := map[string]any{}
	if !containsAll(cur.Labels, want.Labels) {
		meta["labels"] = want.Labels
	}
	if !containsAll(cur.Annotations, want.Annotations) {
		meta["annotations"] = want.Annotations
	}
	if !hasOwner(cur.OwnerReferences, owner.UID) {
		// Merged by uid: this reference only, the others stay whatever they are by then.
		meta["ownerReferences"] = []metav1.OwnerReference{owner}
	}
	body := map[string]any{}
	if !dataEqual(cur.Data, want.Data) {
		data := map[string]any{}
		for k := range cur.Data {
			if _, keep := want.Data[k]; !keep {
				data[k] = nil
			}
		}
		for k, v := range want.Data {
			data[k] = v
		}
		body["data"] = data
		dataChanged = true
	}
	if len(meta) == 0 && len(body) == 0 {
		return nil, false
	}
	if len(meta) > 0 {
		body["metadata"] = meta
	}
	return body, dataChanged
}

// permanentError marks failures that retrying cannot fix until the user changes something
// (the SecretProviderClass, the provider's objects, or a conflicting Secret).
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err needs a user's change rather than a retry.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || apierrors.IsInvalid(err)
}
