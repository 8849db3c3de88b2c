// Package podstatus records each mount in a SecretProviderClassPodStatus: the object rotation
// reads to know which pods on this node mount what, and which object versions they hold.
//
// Writes never replace the whole object. A status is created, or patched with a JSON merge patch
// that carries the resourceVersion it was computed from, so a concurrent writer's labels,
// annotations, finalizers or owner references survive and a lost race is retried on a fresh copy.
package podstatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/driver"
)

// Name is the upstream name of the status of one pod's mount of one SecretProviderClass.
func Name(pod, namespace, spc string) string {
	return pod + "-" + namespace + "-" + spc
}

// Mount is what the driver knows about one mounted volume after NodePublishVolume.
type Mount struct {
	PodName    string
	Namespace  string
	PodUID     types.UID
	SPCName    string
	TargetPath string
	// Objects are the provider's object versions; they are stored sorted by ID.
	Objects []ssv1.SecretProviderClassObject
}

func (m Mount) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"pod name", m.PodName}, {"pod namespace", m.Namespace}, {"pod uid", string(m.PodUID)},
		{"secretProviderClass", m.SPCName}, {"target path", m.TargetPath},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cannot record the pod status: %s missing from the mount (kubelet sends pod info only when the CSIDriver has podInfoOnMount: true)", strings.Join(missing, ", "))
	}
	return nil
}

// Client writes SecretProviderClassPodStatus objects for one node.
type Client struct {
	api  *spcclient.Client
	node string
}

// New returns a Client that labels every status with nodeName, so each driver lists only its own.
func New(api *spcclient.Client, nodeName string) (*Client, error) {
	if api == nil {
		return nil, errors.New("podstatus: a secrets-store client is required")
	}
	if nodeName == "" {
		return nil, errors.New("podstatus: the node name is required (--nodeid, usually $(KUBE_NODE_NAME))")
	}
	return &Client{api: api, node: nodeName}, nil
}

// SortObjects sorts by ID, the order upstream stores and compares versions in.
func SortObjects(objs []ssv1.SecretProviderClassObject) []ssv1.SecretProviderClassObject {
	out := slices.Clone(objs)
	slices.SortFunc(out, func(a, b ssv1.SecretProviderClassObject) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Record creates or updates the status of m, owned by the pod so the garbage collector removes it
// with the pod. It is idempotent: recording the same mount again writes nothing.
func (c *Client) Record(ctx context.Context, m Mount) (*ssv1.SecretProviderClassPodStatus, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	name := Name(m.PodName, m.Namespace, m.SPCName)
	status := ssv1.SecretProviderClassPodStatusStatus{
		PodName:                 m.PodName,
		SecretProviderClassName: m.SPCName,
		Mounted:                 true,
		TargetPath:              m.TargetPath,
		Objects:                 SortObjects(m.Objects),
	}
	owner := podOwner(m.PodName, m.PodUID)
	desired := &ssv1.SecretProviderClassPodStatus{
		TypeMeta: metav1.TypeMeta{APIVersion: ssv1.SchemeGroupVersion.String(), Kind: "SecretProviderClassPodStatus"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       m.Namespace,
			Labels:          map[string]string{ssv1.NodeNameLabel: c.node},
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Status: status,
	}
	var out *ssv1.SecretProviderClassPodStatus
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := c.Get(ctx, m.Namespace, name)
		if apierrors.IsNotFound(err) {
			out, err = c.create(ctx, desired)
			if apierrors.IsAlreadyExists(err) {
				// Someone created it between our Get and Create: retry as an update.
				return apierrors.NewConflict(ssv1.SecretProviderClassPodStatusesResource.GroupResource(), name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		patch := map[string]any{}
		meta := map[string]any{}
		if cur.Labels[ssv1.NodeNameLabel] != c.node {
			meta["labels"] = map[string]any{ssv1.NodeNameLabel: c.node}
		}
		if refs, changed := withPodOwner(cur.OwnerReferences, owner); changed {
			meta["ownerReferences"] = refs
		}
		if !statusEqual(cur.Status, status) {
			patch["status"] = statusPatch(status)
		}
		if len(meta) == 0 && len(patch) == 0 {
			out = cur
			return nil
		}
		out, err = c.patch(ctx, cur, meta, patch)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("recording SecretProviderClassPodStatus %s/%s: %w", m.Namespace, name, err)
	}
	return out, nil
}

// SetObjects replaces the recorded object versions after a rotation, leaving everything else.
func (c *Client) SetObjects(ctx context.Context, namespace, name string, objects []ssv1.SecretProviderClassObject) error {
	objects = SortObjects(objects)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cur, err := c.Get(ctx, namespace, name)
		if err != nil {
			return err
		}
		if objectsEqual(cur.Status.Objects, objects) {
			return nil
		}
		_, err = c.patch(ctx, cur, map[string]any{}, map[string]any{"status": map[string]any{"objects": objectsPatch(objects)}})
		return err
	})
	if err != nil {
		return fmt.Errorf("updating object versions of SecretProviderClassPodStatus %s/%s: %w", namespace, name, err)
	}
	return nil
}

// Get reads one status through the API server.
func (c *Client) Get(ctx context.Context, namespace, name string) (*ssv1.SecretProviderClassPodStatus, error) {
	return c.api.PodStatuses(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (c *Client) create(ctx context.Context, s *ssv1.SecretProviderClassPodStatus) (*ssv1.SecretProviderClassPodStatus, error) {
	return c.api.PodStatuses(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
}

// patch sends a merge patch pinned to cur's resourceVersion: the API server answers Conflict if
// anyone wrote in between, instead of us overwriting what they wrote.
func (c *Client) patch(ctx context.Context, cur *ssv1.SecretProviderClassPodStatus, meta, body map[string]any) (*ssv1.SecretProviderClassPodStatus, error) {
	meta["resourceVersion"] = cur.ResourceVersion
	body["metadata"] = meta
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return c.api.PodStatuses(cur.Namespace).Patch(ctx, cur.Name, types.MergePatchType, data, metav1.PatchOptions{})
}

func podOwner(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: uid}
}

// withPodOwner adds the pod's owner reference, dropping a reference to an earlier pod of the same
// name (a StatefulSet pod recreated before the garbage collector removed the old status).
func withPodOwner(refs []metav1.OwnerReference, owner metav1.OwnerReference) ([]metav1.OwnerReference, bool) {
	out := make([]metav1.OwnerReference, 0, len(refs)+1)
	found, changed := false, false
	for _, r := range refs {
		isPod := r.Kind == "Pod" && (r.APIVersion == "v1" || r.APIVersion == "")
		switch {
		case r.UID == owner.UID:
			found = true
			out = append(out, r)
		case isPod && r.Name == owner.Name:
			changed = true
		default:
			out = append(out, r)
		}
	}
	if !found {
		out = append(out, owner)
		changed = true
	}
	return out, changed
}

func statusEqual(a, b ssv1.SecretProviderClassPodStatusStatus) bool {
	return a.PodName == b.PodName && a.SecretProviderClassName == b.SecretProviderClassName &&
		a.Mounted == b.Mounted && a.TargetPath == b.TargetPath && objectsEqual(a.Objects, b.Objects)
}

func objectsEqual(a, b []ssv1.SecretProviderClassObject) bool {
	return slices.Equal(SortObjects(a), SortObjects(b))
}

// statusPatch spells out every field, because the typed struct's omitempty would leave a stale
// mounted: true or a stale object list in place.
func statusPatch(s ssv1.SecretProviderClassPodStatusStatus) map[string]any {
	return map[string]any{
		"podName":                 s.PodName,
		"secretProviderClassName": s.SecretProviderClassName,
		"mounted":                 s.Mounted,
		"targetPath":              s.TargetPath,
		"objects":                 objectsPatch(s.Objects),
	}
}

func objectsPatch(objs []ssv1.SecretProviderClassObject) []ssv1.SecretProviderClassObject {
	if objs == nil {
		return []ssv1.SecretProviderClassObject{}
	}
	return objs
}

// Published records the mount after NodePublishVolume. Its error fails the publish so kubelet
// retries: without the status, rotation would never see this mount.
func (c *Client) Published(ctx context.Context, m driver.MountInfo) error {
	spc := ""
	if m.SecretProviderClass != nil {
		spc = m.SecretProviderClass.Name
	}
	_, err := c.Record(ctx, Mount{
		PodName: m.PodName, Namespace: m.PodNamespace, PodUID: m.PodUID, SPCName: spc,
		TargetPath: m.TargetPath, Objects: driver.ToPodStatusObjects(m.Objects),
	})
	return err
}

var _ driver.PublishHook = (*Client)(nil)
