package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	ssv1 "github.com/kvcsi/kvcsi/api/secretsstore/v1"
	"github.com/kvcsi/kvcsi/provider/params"
)

// volume is one secrets-store volume of a pod.
type volume struct {
	name, class, secretRef string
}

// podStatusName is the upstream name of a pod's SecretProviderClassPodStatus.
func podStatusName(pod, ns, class string) string { return pod + "-" + ns + "-" + class }

// Pod diagnoses one pod's secrets-store volumes end to end.
func Pod(ctx context.Context, c Clients, ns, name string) *Report {
	r := &Report{Subject: "pod " + ns + "/" + name}
	needs := "get pods in " + ns
	pod, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.fail("pod "+ns+"/"+name, needs, "", "the pod does not exist in namespace "+ns, "check the name and namespace (kubectl get pods -A | grep "+name+")")
		return r
	}
	if err != nil {
		r.readErr("pod "+ns+"/"+name, needs, err)
		return r
	}
	vols := podVolumes(pod)
	if len(vols) == 0 {
		r.fail("secrets-store volumes", needs, "none",
			"the pod has no csi volume with driver "+DriverName,
			"add a volume {csi: {driver: "+DriverName+", readOnly: true, volumeAttributes: {secretProviderClass: <class>}}} and mount it")
		return r
	}
	var names []string
	for _, v := range vols {
		names = append(names, v.name+" → "+v.class)
	}
	r.ok("secrets-store volumes", needs, strings.Join(names, ", "))

	node := pod.Spec.NodeName
	var classes []*classInfo
	for _, v := range vols {
		ci := checkClass(ctx, c, r, ns, v.class, pod, &v)
		if ci != nil {
			classes = append(classes, ci)
		}
	}
	checkCSIDriver(ctx, c, r, classes)
	var driverPod *corev1.Pod
	if node == "" {
		r.fail("node", needs, "not scheduled", "the pod is not scheduled to a node yet, so no driver has mounted it", "kubectl describe pod -n "+ns+" "+name+" shows why the scheduler has not placed it")
	} else {
		driverPod = checkDriverOnNode(ctx, c, r, node)
		checkProviderOnNode(ctx, c, r, node)
	}
	mounted := checkPodStatuses(ctx, c, r, pod, vols)
	checkEvents(ctx, c, r, pod, classes, mounted && podReady(pod))
	for _, ci := range classes {
		checkSyncedSecrets(ctx, c, r, ns, ci, pod)
	}
	if driverPod != nil {
		checkRotation(r, driverPod)
	}
	return r
}

// Class diagnoses a SecretProviderClass and the pods of its namespace that use it.
func Class(ctx context.Context, c Clients, ns, name string) *Report {
	r := &Report{Subject: "class " + ns + "/" + name}
	ci := checkClass(ctx, c, r, ns, name, nil, nil)
	var classes []*classInfo
	if ci != nil {
		classes = append(classes, ci)
	}
	checkCSIDriver(ctx, c, r, classes)
	needs := "list pods in " + ns
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		r.readErr("pods using the class", needs, err)
		return r
	}
	var users []string
	for i := range pods.Items {
		p := &pods.Items[i]
		for _, v := range podVolumes(p) {
			if v.class == name {
				users = append(users, p.Name)
				break
			}
		}
	}
	if len(users) == 0 {
		r.ok("pods using the class", needs, "none in "+ns+" (a class is only mounted by pods of its own namespace)")
	} else {
		sort.Strings(users)
		r.ok("pods using the class", needs, strings.Join(users, ", ")+" (kvcsi doctor pod "+ns+"/<name> walks each)")
	}
	if ci != nil {
		for _, u := range users {
			p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, u, metav1.GetOptions{})
			if err != nil {
				continue
			}
			checkPodStatuses(ctx, c, r, p, []volume{{class: name}})
		}
		if len(users) > 0 {
			checkSyncedSecrets(ctx, c, r, ns, ci, nil)
		}
	}
	return r
}

// Node diagnoses the driver and the provider on one node and its rotation settings.
func Node(ctx context.Context, c Clients, name string) *Report {
	r := &Report{Subject: "node " + name}
	needs := "get nodes"
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		r.fail("node "+name, needs, "", "no node "+name, "kubectl get nodes lists the node names")
		return r
	case err != nil:
		r.readErr("node "+name, needs, err)
	default:
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if ready {
			r.ok("node "+name, needs, "Ready")
		} else {
			r.fail("node "+name, needs, "not Ready", "the kubelet on "+name+" does not report Ready, so nothing mounts there", "kubectl describe node "+name+"; check the kubelet")
		}
	}
	checkCSIDriver(ctx, c, r, nil)
	driverPod := checkDriverOnNode(ctx, c, r, name)
	checkProviderOnNode(ctx, c, r, name)
	if driverPod != nil {
		checkRotation(r, driverPod)
	}
	// Mounts on this node, by the label the driver puts on each status.
	needs = "list secretproviderclasspodstatuses in all namespaces"
	list, err := c.SPC.PodStatuses("").List(ctx, metav1.ListOptions{LabelSelector: ssv1.NodeNameLabel + "=" + name})
	if err != nil {
		r.readErr("mounts on the node", needs, err)
		return r
	}
	mounted, not := 0, []string{}
	for _, s := range list.Items {
		if s.Status.Mounted {
			mounted++
		} else {
			not = append(not, s.Namespace+"/"+s.Status.PodName)
		}
	}
	if len(not) > 0 {
		r.warn("mounts on the node", needs, fmt.Sprintf("%d mounted, not mounted: %s", mounted, strings.Join(not, ", ")), "kvcsi doctor pod <namespace>/<pod> for each")
	} else {
		r.ok("mounts on the node", needs, fmt.Sprintf("%d mounted", mounted))
	}
	return r
}

func podVolumes(p *corev1.Pod) []volume {
	var out []volume
	for _, v := range p.Spec.Volumes {
		if v.CSI == nil || v.CSI.Driver != DriverName {
			continue
		}
		vol := volume{name: v.Name, class: v.CSI.VolumeAttributes["secretProviderClass"]}
		if v.CSI.NodePublishSecretRef != nil {
			vol.secretRef = v.CSI.NodePublishSecretRef.Name
		}
		out = append(out, vol)
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// classInfo is what the later checks need to know about a class.
type classInfo struct {
	spc      *ssv1.SecretProviderClass
	mount    *params.Mount // nil when the parameters do not parse
	identity string        // the identity in words, e.g. "user-assigned managed identity <id>"
}

// checkClass checks that a class exists in ns and parses. pod and vol are
// nil when the class is diagnosed on its own.
func checkClass(ctx context.Context, c Clients, r *Report, ns, name string, pod *corev1.Pod, vol *volume) *classInfo {
	title := "SecretProviderClass " + ns + "/" + name
	needs := "get secretproviderclasses in " + ns
	if name == "" {
		r.fail("SecretProviderClass of volume "+vol.name, "get pods in "+ns, "", "the volume has no volumeAttributes.secretProviderClass",
			"set volumeAttributes.secretProviderClass to the name of a SecretProviderClass in namespace "+ns)
		return nil
	}
	spc, err := c.SPC.SecretProviderClasses(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cause := "no SecretProviderClass " + name + " in namespace " + ns
		fix := "create SecretProviderClass " + name + " in namespace " + ns + " (kubectl apply -n " + ns + " -f <class.yaml>), or set the volume's secretProviderClass to an existing one (kubectl get secretproviderclasses -n " + ns + ")"
		detail := "not found"
		if elsewhere, lerr := c.SPC.SecretProviderClasses("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()}); lerr == nil {
			var nss []string
			for _, s := range elsewhere.Items {
				if s.Name != name || s.Namespace == ns {
					continue
				}
				nss = append(nss, s.Namespace)
			}
			if len(nss) > 0 {
				detail = "not found here; exists in " + strings.Join(nss, ", ")
				cause = fmt.Sprintf("SecretProviderClass %s exists in namespace %s, not in the pod's namespace %s: a pod can only use a class of its own namespace", name, strings.Join(nss, ", "), ns)
				fix = fmt.Sprintf("create the class in namespace %s too (kubectl get secretproviderclass -n %s %s -o yaml, change metadata.namespace, apply), or run the pod in namespace %s", ns, nss[0], name, nss[0])
			}
		} else {
			detail += " (other namespaces not searched: needs list secretproviderclasses in all namespaces)"
		}
		r.fail(title, needs, detail, cause, fix)
		return nil
	}
	if err != nil {
		r.readErr(title, needs, err)
		return nil
	}
	ci := &classInfo{spc: spc}
	if spc.Spec.Provider != "azure" {
		r.fail(title, needs, "provider "+string(spc.Spec.Provider), "spec.provider is "+quoteOrEmpty(string(spc.Spec.Provider))+"; this add-on's provider is azure",
			"set spec.provider: azure")
		return ci
	}
	attrs := map[string]string{}
	for k, v := range spc.Spec.Parameters {
		attrs[k] = v
	}
	podName, sa := "doctor", "default"
	if pod != nil {
		podName = pod.Name
		if pod.Spec.ServiceAccountName != "" {
			sa = pod.Spec.ServiceAccountName
		}
	}
	attrs[params.AttrPodName] = podName
	attrs[params.AttrPodNamespace] = ns
	attrs[params.AttrServiceAccount] = sa
	// The token kubelet would pass; its presence is the CSIDriver check's job.
	tok, _ := json.Marshal(map[string]map[string]string{params.WorkloadIdentityAudience: {"token": "placeholder"}})
	attrs[params.AttrServiceAccounts] = string(tok)
	raw, _ := json.Marshal(attrs)
	secrets := ""
	if vol == nil || vol.secretRef != "" {
		// The nodePublishSecretRef Secret is checked on its own below.
		secrets = `{"clientid":"placeholder","clientsecret":"placeholder"}`
	}
	m, err := params.Parse(string(raw), secrets, "", params.Defaults{})
	if err != nil {
		field := "parameters"
		var pe *params.Error
		if errors.As(err, &pe) {
			field = pe.Field
		}
		r.fail(title, needs, "does not parse", fmt.Sprintf("invalid parameter %s: %s", field, err.Error()), fixForField(field, ns, name))
		return ci
	}
	ci.mount = m
	ci.identity = describeIdentity(m, spc, vol, sa)
	var objs []string
	for _, o := range m.Objects {
		objs = append(objs, o.Type+"/"+o.Name)
	}
	r.ok(title, needs, fmt.Sprintf("vault %s, tenant %s, identity: %s, %d object(s): %s", m.KeyVaultName, m.TenantID, ci.identity, len(objs), strings.Join(objs, ", ")))
	if vol != nil && vol.secretRef != "" {
		checkNodePublishSecret(ctx, c, r, ns, vol.secretRef)
	}
	return ci
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return "empty"
	}
	return fmt.Sprintf("%q", s)
}

func fixForField(field, ns, name string) string {
	edit := "kubectl edit secretproviderclass -n " + ns + " " + name
	switch field {
	case "objects", "objectName", "objectType", "objectVersion", "objectAlias", "objectFormat", "objectEncoding", "objectVersionHistory", "filePermission":
		return "fix parameters.objects: a YAML block 'array:' whose items are '- |' documents with objectName and objectType (secret, key or cert); " + edit
	case "nodePublishSecretRef":
		return "set nodePublishSecretRef on the pod's volume to a Secret with keys clientid and clientsecret (labelled secrets-store.csi.k8s.io/used=true), or choose another identity mode"
	default:
		return "fix parameters." + field + " (" + edit + ")"
	}
}

// describeIdentity names the identity the provider authenticates as; never a secret.
func describeIdentity(m *params.Mount, spc *ssv1.SecretProviderClass, vol *volume, sa string) string {
	switch m.Identity.Mode {
	case params.PodIdentity:
		return "pod identity (the AzureIdentity bound to the pod, through NMI)"
	case params.VMManagedIdentity:
		if m.Identity.UserAssignedIdentityID != "" {
			return "user-assigned managed identity " + m.Identity.UserAssignedIdentityID
		}
		return "the node's system-assigned managed identity"
	case params.WorkloadIdentity:
		return "workload identity client " + m.Identity.ClientID + " federated with service account " + sa
	}
	if vol != nil && vol.secretRef != "" {
		return "service principal from Secret " + vol.secretRef
	}
	return "service principal (from the volume's nodePublishSecretRef)"
}

func checkNodePublishSecret(ctx context.Context, c Clients, r *Report, ns, name string) {
	title := "nodePublishSecretRef Secret " + ns + "/" + name
	needs := "get secrets in " + ns
	s, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.fail(title, needs, "not found", "the volume's nodePublishSecretRef names a Secret that does not exist", "kubectl create secret generic "+name+" -n "+ns+" --from-literal clientid=<id> --from-literal clientsecret=<secret>; kubectl label secret -n "+ns+" "+name+" secrets-store.csi.k8s.io/used=true")
		return
	}
	if err != nil {
		r.readErr(title, needs, err)
		return
	}
	var missing []string
	for _, k := range []string{"clientid", "clientsecret"} {
		found := false
		for have := range s.Data {
			if strings.EqualFold(strings.TrimSpace(have), k) {
				found = true
			}
		}
		if !found {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		r.fail(title, needs, "lacks keys "+strings.Join(missing, ", "), "the provider reads the service principal from keys clientid and clientsecret", "add the keys to Secret "+ns+"/"+name)
		return
	}
	if s.Labels[ssv1.UsedLabel] != "true" {
		r.warn(title, needs, "has clientid and clientsecret but no label "+ssv1.UsedLabel+"=true", "kubectl label secret -n "+ns+" "+name+" "+ssv1.UsedLabel+"=true (rotation may only read labelled Secrets)")
		return
	}
	r.ok(title, needs, "has clientid and clientsecret")
}

// checkCSIDriver checks the cluster's CSIDriver object.
func checkCSIDriver(ctx context.Context, c Clients, r *Report, classes []*classInfo) {
	title := "CSIDriver " + DriverName
	needs := "get csidrivers (cluster scope)"
	d, err := c.Kube.StorageV1().CSIDrivers().Get(ctx, DriverName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		r.fail(title, needs, "not found", "the CSIDriver object is missing, so kubelet does not pass pod information to the driver", "enable the add-on (kvcsi addon enable) or install the chart")
		return
	}
	if err != nil {
		r.readErr(title, needs, err)
		return
	}
	if d.Spec.PodInfoOnMount == nil || !*d.Spec.PodInfoOnMount {
		r.fail(title, needs, "podInfoOnMount is not true", "without podInfoOnMount kubelet does not send the pod's name and namespace, and every mount fails", "reinstall the add-on (kvcsi addon update) so spec.podInfoOnMount is true")
		return
	}
	var auds []string
	for _, t := range d.Spec.TokenRequests {
		auds = append(auds, t.Audience)
	}
	for _, ci := range classes {
		if ci.mount != nil && ci.mount.Identity.Mode == params.WorkloadIdentity && !slices.Contains(auds, params.WorkloadIdentityAudience) {
			r.fail(title, needs, "tokenRequests: "+strings.Join(auds, ", "),
				"class "+ci.spc.Name+" uses workload identity, but the CSIDriver does not request a token for audience "+params.WorkloadIdentityAudience,
				"add {audience: "+params.WorkloadIdentityAudience+"} to the CSIDriver's spec.tokenRequests (chart value tokenRequests)")
			return
		}
	}
	republish := d.Spec.RequiresRepublish != nil && *d.Spec.RequiresRepublish
	r.ok(title, needs, fmt.Sprintf("podInfoOnMount true, tokenRequests [%s], requiresRepublish %v", strings.Join(auds, ", "), republish))
}

// checkDriverOnNode checks the driver pod on node and its CSINode registration.
func checkDriverOnNode(ctx context.Context, c Clients, r *Report, node string) *corev1.Pod {
	title := "driver pod on node " + node
	needs := "list pods in " + Namespace
	p, err := podOnNode(ctx, c, DriverLabel, node)
	if err != nil {
		r.readErr(title, needs, err)
		return nil
	}
	if p == nil {
		r.fail(title, needs, "none", "no secrets-store-csi-driver pod runs on "+node+", so nothing on it can mount", "kubectl -n "+Namespace+" describe daemonset -l "+DriverLabel+" (nodeSelector, tolerations, resources); or enable the add-on")
		return nil
	}
	if why := notRunning(p); why != "" {
		r.fail(title, needs, p.Name+": "+why, "the driver pod "+p.Name+" is not running and ready", "kubectl -n "+Namespace+" describe pod "+p.Name+"; kubectl -n "+Namespace+" logs "+p.Name+" -c "+DriverContainer)
		return p
	}
	r.ok(title, needs, p.Name+" Running, ready")
	title = "CSINode " + node
	needs = "get csinodes (cluster scope)"
	cn, err := c.Kube.StorageV1().CSINodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		r.readErr(title, needs, err)
		return p
	}
	if err == nil {
		for _, d := range cn.Spec.Drivers {
			if d.Name == DriverName {
				r.ok(title, needs, DriverName+" registered with kubelet")
				return p
			}
		}
	}
	r.fail(title, needs, DriverName+" not registered", "kubelet on "+node+" has not registered the driver (the node-driver-registrar sidecar did not reach it)",
		"kubectl -n "+Namespace+" logs "+p.Name+" -c node-driver-registrar; check the kubelet root dir /var/lib/kubelet and the plugins_registry mount")
	return p
}

func checkProviderOnNode(ctx context.Context, c Clients, r *Report, node string) {
	title := "provider pod on node " + node
	needs := "list pods in " + Namespace
	p, err := podOnNode(ctx, c, ProviderLabel, node)
	if err != nil {
		r.readErr(title, needs, err)
		return
	}
	if p == nil {
		r.fail(title, needs, "none", "no secrets-store-provider-azure pod runs on "+node+", so the driver has no provider to ask and mounts fail",
			"kubectl -n "+Namespace+" describe daemonset -l "+ProviderLabel+" (nodeSelector, tolerations, resources); or enable the add-on")
		return
	}
	if why := notRunning(p); why != "" {
		r.fail(title, needs, p.Name+": "+why, "the provider pod "+p.Name+" is not running and ready (starting, crashing, or its image cannot be pulled)", "kubectl -n "+Namespace+" describe pod "+p.Name+"; kubectl -n "+Namespace+" logs "+p.Name)
		return
	}
	r.ok(title, needs, p.Name+" Running, ready")
}

// podOnNode returns the live pod with the label on node, preferring a ready one.
func podOnNode(ctx context.Context, c Clients, label, node string) (*corev1.Pod, error) {
	list, err := c.Kube.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: label, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, err
	}
	var best *corev1.Pod
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName != node || p.DeletionTimestamp != nil {
			continue
		}
		if best == nil || notRunning(p) == "" {
			best = p
		}
	}
	return best, nil
}

// notRunning says why a pod is not Running with every container ready ("" if it is).
func notRunning(p *corev1.Pod) string {
	var waiting []string
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
			waiting = append(waiting, s.Name+" "+s.State.Waiting.Reason)
		}
	}
	if p.Status.Phase != corev1.PodRunning {
		if len(waiting) > 0 {
			return "phase " + string(p.Status.Phase) + " (" + strings.Join(waiting, ", ") + ")"
		}
		return "phase " + string(p.Status.Phase)
	}
	var bad []string
	for _, s := range p.Status.ContainerStatuses {
		if !s.Ready {
			why := "not ready"
			if s.State.Waiting != nil && s.State.Waiting.Reason != "" {
				why = s.State.Waiting.Reason
			}
			bad = append(bad, s.Name+" "+why)
		}
	}
	if len(bad) > 0 {
		return strings.Join(bad, ", ")
	}
	if !podReady(p) {
		return "not ready"
	}
	return ""
}

// checkPodStatuses checks the SecretProviderClassPodStatus of each volume's
// class; it returns whether all are mounted.
func checkPodStatuses(ctx context.Context, c Clients, r *Report, pod *corev1.Pod, vols []volume) bool {
	all := true
	seen := map[string]bool{}
	for _, v := range vols {
		if v.class == "" || seen[v.class] {
			continue
		}
		seen[v.class] = true
		n := podStatusName(pod.Name, pod.Namespace, v.class)
		title := "SecretProviderClassPodStatus " + n
		needs := "get secretproviderclasspodstatuses in " + pod.Namespace
		s, err := c.SPC.PodStatuses(pod.Namespace).Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			all = false
			r.fail(title, needs, "none", "the driver has not recorded a mount of "+v.class+" for pod "+pod.Name+": the mount failed or has not happened yet",
				"the failing link is above or in the pod's events below (kubectl describe pod -n "+pod.Namespace+" "+pod.Name+")")
			continue
		}
		if err != nil {
			all = false
			r.readErr(title, needs, err)
			continue
		}
		if !s.Status.Mounted {
			all = false
			r.fail(title, needs, "mounted false", "the driver recorded the volume but not as mounted", "see the pod's events below")
			continue
		}
		var vs []string
		for _, o := range s.Status.Objects {
			vs = append(vs, o.ID+"@"+shortVersion(o.Version))
		}
		r.ok(title, needs, "mounted, objects "+strings.Join(vs, ", "))
	}
	return all
}

func shortVersion(v string) string {
	if v == "" {
		return "latest"
	}
	if len(v) > 12 {
		return v[:12] + "…"
	}
	return v
}

// checkEvents classifies the pod's recent warning events. When the volumes are
// mounted and the pod is ready, earlier failures only warn.
func checkEvents(ctx context.Context, c Clients, r *Report, pod *corev1.Pod, classes []*classInfo, healthy bool) {
	title := "events of pod " + pod.Name
	needs := "list events in " + pod.Namespace
	list, err := c.Kube.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.name", pod.Name), fields.OneTermEqualSelector("involvedObject.kind", "Pod")).String(),
	})
	if err != nil {
		r.readErr(title, needs, err)
		return
	}
	evs := list.Items
	sort.Slice(evs, func(i, j int) bool { return eventTime(evs[i]).After(eventTime(evs[j])) })
	var latest *corev1.Event
	for i := range evs {
		e := &evs[i]
		if e.InvolvedObject.UID != "" && e.InvolvedObject.UID != pod.UID {
			continue // an earlier pod of the same name
		}
		if e.Type == corev1.EventTypeWarning && relevantEvent(e) {
			latest = e
			break
		}
	}
	if latest == nil {
		r.ok(title, needs, "no mount or rotation warnings")
		return
	}
	d := Classify(latest.Message, classes)
	detail := fmt.Sprintf("%s %s (%d×, last %s ago): %s", latest.Reason, d.Kind, max(latest.Count, 1), time.Since(eventTime(*latest)).Round(time.Second), firstLine(latest.Message))
	if healthy {
		r.warn(title, needs, detail+" — the volumes are mounted now, so this failure has passed", d.Fix)
		return
	}
	r.fail(title, needs, detail, d.Cause, d.Fix)
}

func relevantEvent(e *corev1.Event) bool {
	switch e.Reason {
	case "FailedMount", "MountRotationFailed", "SecretSyncFailed", "FailedSync", "SecretRotationFailed":
		return true
	}
	return strings.Contains(e.Message, DriverName) || strings.Contains(strings.ToLower(e.Message), "secretproviderclass")
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case e.Series != nil:
		return e.Series.LastObservedTime.Time
	}
	return e.CreationTimestamp.Time
}

// checkSyncedSecrets checks the Kubernetes Secrets a class declares in
// secretObjects. pod, when set, must be among each Secret's owners.
func checkSyncedSecrets(ctx context.Context, c Clients, r *Report, ns string, ci *classInfo, pod *corev1.Pod) {
	for _, so := range ci.spc.Spec.SecretObjects {
		title := "synced Secret " + ns + "/" + so.SecretName
		needs := "get secrets in " + ns
		s, err := c.Kube.CoreV1().Secrets(ns).Get(ctx, so.SecretName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			r.fail(title, needs, "not found", "class "+ci.spc.Name+" declares it in secretObjects but the driver has not created it: the Secret is synced only after a pod mounts the class",
				"make a pod mount "+ci.spc.Name+" successfully; check that the add-on syncs Secrets (chart value syncSecret.enabled) and the driver's SecretSync events")
			continue
		}
		if err != nil {
			r.readErr(title, needs, err)
			continue
		}
		var missing []string
		for _, d := range so.Data {
			if _, ok := s.Data[d.Key]; !ok {
				missing = append(missing, d.Key)
			}
		}
		if s.Labels[ssv1.ManagedLabel] != "true" {
			r.fail(title, needs, "not managed by the driver", "the Secret exists without label "+ssv1.ManagedLabel+"=true, so the driver leaves it alone and never updates it",
				"delete it (kubectl delete secret -n "+ns+" "+so.SecretName+") so the driver creates it, or rename secretName")
			continue
		}
		if len(missing) > 0 {
			r.fail(title, needs, "lacks keys "+strings.Join(missing, ", "), "the class declares keys the Secret does not hold: the class changed after the last sync, or an objectName in secretObjects names no mounted file",
				"check that each secretObjects data objectName is an objectName (or objectAlias) of parameters.objects; the next rotation re-syncs")
			continue
		}
		if pod != nil {
			owned := false
			for _, o := range s.OwnerReferences {
				if o.UID == pod.UID {
					owned = true
				}
			}
			if !owned {
				r.fail(title, needs, "not owned by pod "+pod.Name, "the driver adds each mounting pod as an owner; this pod is missing, so its mount did not sync",
					"see the pod's SecretSync events; the next rotation or a pod restart re-syncs")
				continue
			}
		}
		r.ok(title, needs, fmt.Sprintf("type %s, keys %d, owners %d", s.Type, len(s.Data), len(s.OwnerReferences)))
	}
}

// checkRotation reports the node's driver rotation flags.
func checkRotation(r *Report, driver *corev1.Pod) {
	title := "rotation on node " + driver.Spec.NodeName
	needs := "get pods in " + Namespace
	enabled, interval := false, "2m"
	for _, ctr := range driver.Spec.Containers {
		if ctr.Name != DriverContainer {
			continue
		}
		args := append(append([]string{}, ctr.Command...), ctr.Args...)
		for i, a := range args {
			name, val, hasVal := strings.Cut(a, "=")
			switch name {
			case "--enable-secret-rotation", "-enable-secret-rotation":
				enabled = !hasVal || val == "true"
			case "--rotation-poll-interval", "-rotation-poll-interval":
				if hasVal {
					interval = val
				} else if i+1 < len(args) {
					interval = args[i+1]
				}
			}
		}
	}
	if !enabled {
		r.ok(title, needs, "off: mounted content is fetched once per pod start (kvcsi addon update --enable-secret-rotation turns it on)")
		return
	}
	r.ok(title, needs, "on, every "+interval+" (--rotation-poll-interval); kvcsi refresh asks for one now")
}
