package secretsynccontroller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	ssv1alpha1 "github.com/kvcsi/kvcsi/api/secretsync/v1alpha1"
	"github.com/kvcsi/kvcsi/charts"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const controllerUser = "system:serviceaccount:kube-system:secrets-store-sync-controller"

// installPolicies renders the chart with the sync controller on and creates
// its ClusterRole, ClusterRoleBinding, policies and bindings; they are
// removed when the test ends.
func installPolicies(t *testing.T, w *world) {
	t.Helper()
	r, err := charts.Render(charts.Options{Values: map[string]any{"syncController": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := r.Objects()
	if err != nil {
		t.Fatal(err)
	}
	gvrs := map[string]schema.GroupVersionResource{
		"ClusterRole":                      {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		"ClusterRoleBinding":               {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		"ValidatingAdmissionPolicy":        {Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"},
		"ValidatingAdmissionPolicyBinding": {Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"},
	}
	n := 0
	for _, o := range objs {
		gvr, ok := gvrs[o.GetKind()]
		if !ok || (strings.HasPrefix(o.GetKind(), "Cluster") && !strings.HasPrefix(o.GetName(), "secrets-store-sync-controller")) {
			continue
		}
		if _, err := w.dyn.Resource(gvr).Create(context.Background(), o, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		n++
		name := o.GetName()
		t.Cleanup(func() { _ = w.dyn.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
	if n != 16 {
		t.Fatalf("installed %d objects, want the ClusterRole, its binding, 7 policies and 7 bindings", n)
	}
}

// refusedWith retries op until the apiserver's policies are loaded and it is
// refused, and returns the refusal; the deadline only bounds a hung test.
func refusedWith(t *testing.T, what string, op func(ctx context.Context) error) error {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		last = op(ctx)
		return last != nil && strings.Contains(last.Error(), "ValidatingAdmissionPolicy"), nil
	})
	if err != nil {
		t.Fatalf("%s: never refused by a policy (last: %v)", what, last)
	}
	return last
}

func TestValidatingAdmissionPolicies(t *testing.T) {
	w := newWorld(t)
	installPolicies(t, w)
	ctx := context.Background()

	cfg := rest.CopyConfig(w.rest)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: controllerUser}
	ctl, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// A real SecretSync to own the Secrets (the garbage collector would
	// delete a Secret whose owner does not exist).
	w.createSync(t, syncManifest("owned", "azure-sync", ""))
	ss := w.getSync(t, "owned")
	owner := []metav1.OwnerReference{{APIVersion: "secret-sync.x-k8s.io/v1alpha1", Kind: "SecretSync", Name: "owned", UID: ss.UID}}

	// A denied type: the deny policy's message.
	err = refusedWith(t, "a service-account-token Secret", func(ctx context.Context) error {
		_, err := ctl.CoreV1().Secrets(w.ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "owned", OwnerReferences: owner, Labels: map[string]string{ssv1alpha1.ControllerLabel: ""},
				Annotations: map[string]string{"kubernetes.io/service-account.name": "default"}},
			Type: corev1.SecretTypeServiceAccountToken,
		}, metav1.CreateOptions{})
		return err
	})
	if !strings.Contains(err.Error(), "kubernetes.io/service-account-token type") {
		t.Errorf("refusal %q does not name the type", err)
	}

	// No SecretSync owner: refused.
	err = refusedWith(t, "a Secret without a SecretSync owner", func(ctx context.Context) error {
		_, err := ctl.CoreV1().Secrets(w.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "orphan"}, Type: corev1.SecretTypeOpaque}, metav1.CreateOptions{})
		return err
	})
	if !strings.Contains(err.Error(), "single secretsync owner") {
		t.Errorf("refusal %q does not give the policy's message", err)
	}

	// What the controller does is allowed: an Opaque Secret owned by its
	// SecretSync, created and then updated.
	sec, err := ctl.CoreV1().Secrets(w.ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "owned", OwnerReferences: owner, Labels: map[string]string{ssv1alpha1.ControllerLabel: ""}},
		Type:       corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the controller's own Secret refused: %v", err)
	}
	if _, err := ctl.CoreV1().Secrets(w.ns).Patch(ctx, sec.Name, types.MergePatchType, []byte(`{"data":{"k":"djI="}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("updating the controller's own Secret refused: %v", err)
	}

	// A forbidden update: a Secret someone else made (no owner, no label)
	// may not be taken over, whatever the new object says.
	if _, err := w.kube.CoreV1().Secrets(w.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users"}, Type: corev1.SecretTypeOpaque}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"metadata":{"labels":{"secrets-store.sync.x-k8s.io":""},"ownerReferences":[{"apiVersion":"secret-sync.x-k8s.io/v1alpha1","kind":"SecretSync","name":"users","uid":"` + string(ss.UID) + `"}]}}`)
	err = refusedWith(t, "taking over a user's Secret", func(ctx context.Context) error {
		_, err := ctl.CoreV1().Secrets(w.ns).Patch(ctx, "users", types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	if !strings.Contains(err.Error(), "can only update secrets with a single secrets-store-sync-controller owner") {
		t.Errorf("refusal %q does not give the policy's message", err)
	}

	// Tokens: only the configured audience, 600s, one audience.
	exp := int64(600)
	err = refusedWith(t, "a token for another audience", func(ctx context.Context) error {
		_, err := ctl.CoreV1().ServiceAccounts(w.ns).CreateToken(ctx, saName, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{"api://SomethingElse"}, ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		return err
	})
	if !strings.Contains(err.Error(), "token in the "+w.ns+" namespace") {
		t.Errorf("refusal %q does not give the policy's message", err)
	}
	if _, err := ctl.CoreV1().ServiceAccounts(w.ns).CreateToken(ctx, saName, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{audience}, ExpirationSeconds: &exp}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("a token the controller asks for was refused: %v", err)
	}

	// SecretSync label and annotation formats, for every user: upstream's
	// invalid examples are refused with the policies' messages.
	for name, u := range upstreamExamples(t) {
		if !strings.HasPrefix(name, "invalid_") {
			continue
		}
		err := refusedWith(t, name, func(ctx context.Context) error {
			_, err := w.dyn.Resource(ssv1alpha1.Resource).Namespace(w.ns).Create(ctx, u.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		})
		want := "labels applied on the secret has an invalid format"
		if strings.Contains(name, "annotation") {
			want = "annotations applied on the secret has an invalid format"
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: refusal %q lacks %q", name, err, want)
		}
	}
	if err := w.dyn.Resource(ssv1alpha1.Resource).Namespace(w.ns).Delete(ctx, "owned", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Error(err)
	}
}
