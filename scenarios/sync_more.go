package scenarios

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// syncScenarios is this file's group of the catalogue (see catalogue.go).
var syncScenarios = []Scenario{
	syncManyPodsOneSecret,
}

// manyPodsReplicas is the rollout size of sync/many-pods-one-secret: enough
// pods starting together that their syncs of one Secret overlap.
const manyPodsReplicas = 20

// manyPodsRolloutTimeout bounds the rollout: 20 pods on one node, each
// mounted through the provider and the emulator.
const manyPodsRolloutTimeout = 5 * time.Minute

// manyPodsDeploymentYAML is the documentation's sync pod (syncPodYAML) as a
// Deployment of manyPodsReplicas pods.
var manyPodsDeploymentYAML = fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: many-pods
spec:
  replicas: %d
  selector:
    matchLabels:
      app: many-pods
  template:
    metadata:
      labels:
        app: many-pods
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: busybox
          image: registry.k8s.io/e2e-test-images/busybox:1.29-1
          command:
            - "/bin/sleep"
            - "10000"
          volumeMounts:
          - name: secrets-store01-inline
            mountPath: "/mnt/secrets-store"
            readOnly: true
          env:
          - name: SECRET_USERNAME
            valueFrom:
              secretKeyRef:
                name: foosecret
                key: username
      volumes:
        - name: secrets-store01-inline
          csi:
            driver: secrets-store.csi.k8s.io
            readOnly: true
            volumeAttributes:
              secretProviderClass: "azure-sync"
`, manyPodsReplicas)

// syncManyPodsOneSecret is issue 20: the pods of one Deployment start
// together and all sync one Secret; their writes must compose, so no pod gets
// a Warning event (FailedToCreateSecret for a 409 was the symptom) and the
// Secret ends with one owner reference per pod.
var syncManyPodsOneSecret = Scenario{
	Name:    "sync/many-pods-one-secret",
	Section: "Sync mounted content with a Kubernetes secret",
	Summary: fmt.Sprintf("a Deployment of %d replicas mounting azure-sync becomes Ready with no Warning event on any pod; foosecret has the value and %d owner references, one per pod", manyPodsReplicas, manyPodsReplicas),
	Code:    []string{"driver/secretsync.Syncer.upsert"},
	Run: func(ctx context.Context, env *Env) error {
		value := uniqueValue("user")
		if _, err := env.Target.Vault().SetSecret(ctx, "foo1", value); err != nil {
			return err
		}
		if err := env.apply(ctx, azureSyncYAML+"---"+manyPodsDeploymentYAML); err != nil {
			return err
		}
		k := env.Target.Kube()
		var pods []corev1.Pod
		err := k.Eventually(ctx, manyPodsRolloutTimeout, func(ctx context.Context) (bool, error) {
			l, err := k.Clientset.CoreV1().Pods(env.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=many-pods"})
			if err != nil {
				return false, err
			}
			ready := 0
			for _, p := range l.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
						ready++
					}
				}
			}
			pods = l.Items
			return ready == manyPodsReplicas && len(l.Items) == manyPodsReplicas, nil
		})
		if err != nil {
			evs, _ := k.Events(ctx, env.Namespace, "")
			return errorf("deployment many-pods not Ready with %d pods: %v; pods: %s; warning events: %s", manyPodsReplicas, err, podSummary(pods), FormatEvents(warnings(evs)))
		}
		if err := expectSyncedSecret(ctx, env, "foosecret", corev1.SecretTypeOpaque, map[string]string{"username": value}); err != nil {
			return err
		}
		s, err := k.Clientset.CoreV1().Secrets(env.Namespace).Get(ctx, "foosecret", metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := map[types.UID]string{}
		for _, p := range pods {
			want[p.UID] = p.Name
		}
		seen := map[types.UID]int{}
		var wrong []string
		for _, o := range s.OwnerReferences {
			seen[o.UID]++
			if o.Kind != "Pod" || want[o.UID] != o.Name || seen[o.UID] > 1 {
				wrong = append(wrong, o.Kind+"/"+o.Name)
			}
		}
		if len(s.OwnerReferences) != manyPodsReplicas || len(wrong) > 0 {
			return errorf("foosecret has %d owner references (want %d, one per pod); unexpected or repeated: %v", len(s.OwnerReferences), manyPodsReplicas, wrong)
		}
		evs, err := k.Events(ctx, env.Namespace, "")
		if err != nil {
			return err
		}
		var onPods []corev1.Event
		for _, e := range warnings(evs) {
			// MissingClusterDNS is kubelet's note that the cluster runs no DNS
			// service (the local target has none): it says nothing about secrets.
			if e.InvolvedObject.Kind == "Pod" && e.Reason != "MissingClusterDNS" {
				onPods = append(onPods, e)
			}
		}
		if len(onPods) > 0 {
			return errorf("%d Warning events on the rollout's pods: %s", len(onPods), FormatEvents(onPods))
		}
		env.Logf("%d pods Ready, foosecret owned by each once, no Warning event", manyPodsReplicas)
		return nil
	},
}

// warnings keeps the Warning events, sorted by reason then object for a stable message.
func warnings(evs []corev1.Event) []corev1.Event {
	var out []corev1.Event
	for _, e := range evs {
		if e.Type == corev1.EventTypeWarning {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Reason != out[j].Reason {
			return out[i].Reason < out[j].Reason
		}
		return strings.Compare(out[i].InvolvedObject.Name, out[j].InvolvedObject.Name) < 0
	})
	return out
}

// podSummary says how many pods are in which phase, and why the first few are not ready.
func podSummary(pods []corev1.Pod) string {
	phases := map[corev1.PodPhase]int{}
	var waiting []string
	for _, p := range pods {
		phases[p.Status.Phase]++
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil && len(waiting) < 3 {
				waiting = append(waiting, fmt.Sprintf("%s: %s %s", p.Name, w.Reason, w.Message))
			}
		}
	}
	return fmt.Sprintf("%d pods, phases %v, waiting %v", len(pods), phases, waiting)
}
