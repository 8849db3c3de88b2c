package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	"github.com/kvcsi/kvcsi/doctor"
)

// doctorScenarios is this file's group of the catalogue (see catalogue.go):
// each creates one broken state and checks kvcsi doctor's verdict and fix.
var doctorScenarios = []Scenario{
	doctorClassMissing,
	doctorWrongNamespace,
	doctorNoAccess,
	doctorProviderDown,
	doctorBadObjectsYAML,
	doctorHealthy,
}

// doctorWait bounds how long a broken state takes to show in the cluster
// (kubelet's first mount attempt and its event).
const doctorWait = 2 * time.Minute

func doctorClients(env *Env) doctor.Clients {
	k := env.Target.Kube()
	return doctor.Clients{Kube: k.Clientset, SPC: spcclient.New(k.Dynamic)}
}

// expectDiagnosis runs `kvcsi doctor pod` until the check named by prefix
// fails with a cause and a fix containing the given texts (the pod's events
// arrive asynchronously), and returns the report.
func expectDiagnosis(ctx context.Context, env *Env, pod, prefix, cause, fix string) (*doctor.Report, error) {
	var r *doctor.Report
	err := env.Target.Kube().Eventually(ctx, doctorWait, func(ctx context.Context) (bool, error) {
		r = doctor.Pod(ctx, doctorClients(env), env.Namespace, pod)
		c, ok := r.Find(prefix)
		if !ok {
			return false, errorf("no check %q:\n%s", prefix, doctorTable(r))
		}
		if c.Status != doctor.Fail || !strings.Contains(c.Cause, cause) || !strings.Contains(c.Fix, fix) {
			return false, errorf("check %q is %s with cause %q and fix %q; want a failure with cause containing %q and fix containing %q:\n%s", prefix, c.Status, c.Cause, c.Fix, cause, fix, doctorTable(r))
		}
		return true, nil
	})
	if err != nil {
		return r, err
	}
	if !r.Failed() {
		return r, errorf("the report has a failed check but Failed() is false (exit code 0)")
	}
	env.Logf("doctor: %s", strings.ReplaceAll(strings.TrimSpace(doctorTable(r)), "\n", "\n    "))
	return r, nil
}

func doctorTable(r *doctor.Report) string {
	var b strings.Builder
	_ = r.WriteTable(&b)
	return b.String()
}

var doctorClassMissing = Scenario{
	Name:    "doctor/class-missing",
	Section: "Troubleshooting",
	Summary: "a pod naming a SecretProviderClass that does not exist: ✗ on the class with \"create SecretProviderClass … in namespace …\"",
	Code:    []string{"doctor.Pod", "doctor.Classify"},
	Run: func(ctx context.Context, env *Env) error {
		if err := env.apply(ctx, busyboxPod("doctor", "azure-missing")); err != nil {
			return err
		}
		if _, err := env.Target.Kube().WaitEvent(ctx, env.Namespace, "doctor", "FailedMount", "azure-missing", doctorWait); err != nil {
			return err
		}
		if _, err := expectDiagnosis(ctx, env, "doctor", "SecretProviderClass "+env.Namespace+"/azure-missing",
			"no SecretProviderClass azure-missing in namespace "+env.Namespace,
			"create SecretProviderClass azure-missing in namespace "+env.Namespace); err != nil {
			return err
		}
		_, err := expectDiagnosis(ctx, env, "doctor", "events of pod", "could not read the SecretProviderClass", "create the class in the pod's namespace")
		return err
	},
}

var doctorWrongNamespace = Scenario{
	Name:    "doctor/wrong-namespace",
	Section: "Troubleshooting",
	Summary: "the class exists in another namespace: ✗ names the namespace it is in and says a pod uses only its own namespace's classes",
	Code:    []string{"doctor.Pod"},
	Run: func(ctx context.Context, env *Env) error {
		other := env.Namespace + "-other"
		k := env.Target.Kube()
		nsYAML := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", other)
		if err := k.Apply(ctx, "", nsYAML); err != nil {
			return err
		}
		defer func() { _ = k.Delete(context.WithoutCancel(ctx), "", nsYAML) }()
		class := userMSIClass("azure-elsewhere", objects(object("objectName", "ExampleSecret", "objectType", "secret")), "")
		if err := k.Apply(ctx, other, env.Render(class)); err != nil {
			return err
		}
		if err := env.apply(ctx, busyboxPod("doctor", "azure-elsewhere")); err != nil {
			return err
		}
		if _, err := k.WaitEvent(ctx, env.Namespace, "doctor", "FailedMount", "azure-elsewhere", doctorWait); err != nil {
			return err
		}
		_, err := expectDiagnosis(ctx, env, "doctor", "SecretProviderClass "+env.Namespace+"/azure-elsewhere",
			"exists in namespace "+other+", not in the pod's namespace "+env.Namespace, "create the class in namespace "+env.Namespace)
		return err
	},
}

var doctorNoAccess = Scenario{
	Name:    "doctor/no-access",
	Section: "Troubleshooting",
	Summary: "an identity without access: the FailedMount is classified permission denied and the fix names the identity and the vault",
	Code:    []string{"doctor.Classify"},
	Run: func(ctx context.Context, env *Env) error {
		if _, err := env.Target.Vault().SetSecret(ctx, "ExampleSecret", uniqueValue("denied")); err != nil {
			return err
		}
		yaml := identityClass("azure-no-access", `    usePodIdentity: "false"
    useVMManagedIdentity: "true"
    userAssignedIdentityID: <no-access-client-id>`) + "---" + busyboxPod("doctor", "azure-no-access")
		if err := env.apply(ctx, yaml); err != nil {
			return err
		}
		id := env.Target.Identities()[IdentityNoAccessClientID]
		r, err := expectDiagnosis(ctx, env, "doctor", "events of pod",
			"user-assigned managed identity "+id+" may not read from key vault "+env.Target.Vault().Name(),
			"grant user-assigned managed identity "+id+" get")
		if err != nil {
			return err
		}
		if c, _ := r.Find("events of pod"); !strings.Contains(c.Detail, "permission denied") {
			return errorf("the event is not classified permission denied: %s", c.Detail)
		}
		// Everything before the vault is fine.
		for _, prefix := range []string{"SecretProviderClass", "CSIDriver", "driver pod on node", "provider pod on node"} {
			if c, ok := r.Find(prefix); !ok || c.Status != doctor.OK {
				return errorf("check %q is not ✓ although it works:\n%s", prefix, doctorTable(r))
			}
		}
		return nil
	},
}

// providerDownLabel is the node label the provider DaemonSet is pinned to
// while doctor/provider-down runs; no node has it.
const providerDownLabel = "kvcsi.io/doctor-provider-down"

var doctorProviderDown = Scenario{
	Name:    "doctor/provider-down",
	Section: "Troubleshooting",
	Summary: "no provider pod on the node (DaemonSet pinned to no node, restored after): ✗ on the provider with the DaemonSet to inspect",
	Code:    []string{"doctor.Pod"},
	Run: func(ctx context.Context, env *Env) (err error) {
		k := env.Target.Kube()
		dss, err := k.Clientset.AppsV1().DaemonSets(doctor.Namespace).List(ctx, metav1.ListOptions{LabelSelector: doctor.ProviderLabel})
		if err != nil {
			return err
		}
		if len(dss.Items) != 1 {
			return errorf("want one provider DaemonSet labelled %s in %s, found %d", doctor.ProviderLabel, doctor.Namespace, len(dss.Items))
		}
		ds := dss.Items[0].Name
		pin := fmt.Sprintf(`{"spec":{"template":{"spec":{"nodeSelector":{%q:"true"}}}}}`, providerDownLabel)
		if _, err := k.Clientset.AppsV1().DaemonSets(doctor.Namespace).Patch(ctx, ds, types.StrategicMergePatchType, []byte(pin), metav1.PatchOptions{}); err != nil {
			return err
		}
		defer func() {
			rctx := context.WithoutCancel(ctx)
			unpin := fmt.Sprintf(`{"spec":{"template":{"spec":{"nodeSelector":{%q:null}}}}}`, providerDownLabel)
			_, perr := k.Clientset.AppsV1().DaemonSets(doctor.Namespace).Patch(rctx, ds, types.StrategicMergePatchType, []byte(unpin), metav1.PatchOptions{})
			if perr == nil {
				perr = WaitDaemonSetRolled(rctx, k, doctor.Namespace, ds)
			}
			if perr == nil {
				perr = waitAddonPods(rctx, k, "")
			}
			if perr != nil && err == nil {
				err = errorf("restore the provider DaemonSet %s: %v", ds, perr)
			}
		}()
		if err := k.Eventually(ctx, doctorWait, func(ctx context.Context) (bool, error) {
			pods, err := k.Clientset.CoreV1().Pods(doctor.Namespace).List(ctx, metav1.ListOptions{LabelSelector: doctor.ProviderLabel})
			if err != nil {
				return false, err
			}
			if n := len(pods.Items); n > 0 {
				return false, errorf("%d provider pods still exist", n)
			}
			return true, nil
		}); err != nil {
			return err
		}
		class := userMSIClass("azure-provider-down", objects(object("objectName", "ExampleSecret", "objectType", "secret")), "")
		if err := env.apply(ctx, class+"---"+busyboxPod("doctor", "azure-provider-down")); err != nil {
			return err
		}
		if _, err := k.WaitEvent(ctx, env.Namespace, "doctor", "FailedMount", "", doctorWait); err != nil {
			return err
		}
		if _, err := expectDiagnosis(ctx, env, "doctor", "provider pod on node", "no secrets-store-provider-azure pod runs on", "describe daemonset -l "+doctor.ProviderLabel); err != nil {
			return err
		}
		if c, ok := doctor.Pod(ctx, doctorClients(env), env.Namespace, "doctor").Find("driver pod on node"); !ok || c.Status != doctor.OK {
			return errorf("the driver check is not ✓ although the driver runs: %+v", c)
		}
		return nil
	},
}

var doctorBadObjectsYAML = Scenario{
	Name:    "doctor/bad-objects-yaml",
	Section: "Troubleshooting",
	Summary: "a class whose objects YAML does not parse: ✗ on the class naming parameter objects and how to write it",
	Code:    []string{"doctor.Pod", "provider/params.Parse"},
	Run: func(ctx context.Context, env *Env) error {
		// objectType is indented less than objectName: not YAML.
		class := userMSIClass("azure-bad-objects", "        - |\n          objectName: ExampleSecret\n         objectType: [secret", "")
		if err := env.apply(ctx, class+"---"+busyboxPod("doctor", "azure-bad-objects")); err != nil {
			return err
		}
		if _, err := expectDiagnosis(ctx, env, "doctor", "SecretProviderClass "+env.Namespace+"/azure-bad-objects",
			"invalid parameter objects", "fix parameters.objects"); err != nil {
			return err
		}
		_, err := expectDiagnosis(ctx, env, "doctor", "events of pod", "objects is invalid", "fix parameters.objects")
		return err
	},
}

var doctorHealthy = Scenario{
	Name:    "doctor/healthy",
	Section: "Troubleshooting",
	Summary: "a pod mounting and syncing azure-sync: every check ✓ (class, CSIDriver, driver, CSINode, provider, pod status, events, synced Secret, rotation)",
	Code:    []string{"doctor.Pod", "doctor.Class", "doctor.Node"},
	Run: func(ctx context.Context, env *Env) error {
		if err := startRotating(ctx, env, uniqueValue("healthy")); err != nil {
			return err
		}
		k := env.Target.Kube()
		want := []string{"secrets-store volumes", "SecretProviderClass", "CSIDriver", "driver pod on node", "CSINode", "provider pod on node",
			"SecretProviderClassPodStatus", "events of pod", "synced Secret " + env.Namespace + "/foosecret", "rotation on node"}
		var r *doctor.Report
		err := k.Eventually(ctx, doctorWait, func(ctx context.Context) (bool, error) {
			r = doctor.Pod(ctx, doctorClients(env), env.Namespace, "rotating")
			for _, prefix := range want {
				c, ok := r.Find(prefix)
				if !ok || c.Status != doctor.OK {
					return false, errorf("check %q is not ✓:\n%s", prefix, doctorTable(r))
				}
			}
			for _, c := range r.Checks {
				if c.Status != doctor.OK {
					return false, errorf("check %q is %s:\n%s", c.Name, c.Status, doctorTable(r))
				}
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		if c, _ := r.Find("rotation on node"); !strings.Contains(c.Detail, "on, every") {
			return errorf("rotation is enabled on the run's add-on but doctor says %q", c.Detail)
		}
		if cr := doctor.Class(ctx, doctorClients(env), env.Namespace, "azure-sync"); cr.Failed() {
			return errorf("doctor class fails on a healthy class:\n%s", doctorTable(cr))
		}
		p, err := k.Clientset.CoreV1().Pods(env.Namespace).Get(ctx, "rotating", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if nr := doctor.Node(ctx, doctorClients(env), p.Spec.NodeName); nr.Failed() {
			return errorf("doctor node fails on a healthy node:\n%s", doctorTable(nr))
		}
		return nil
	},
}
