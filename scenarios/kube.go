package scenarios

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/remotecommand"
)

// fieldManager owns what scenarios apply.
const fieldManager = "kvcsi-scenarios"

// Kube wraps the clients a scenario needs: apply documentation YAML, wait for
// conditions, exec into containers, read events and scrape pod metrics.
type Kube struct {
	Config    *rest.Config
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
}

// NewKube builds the clients for cfg.
func NewKube(cfg *rest.Config) (*Kube, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	return &Kube{Config: cfg, Clientset: cs, Dynamic: dyn, mapper: mapper}, nil
}

// objects decodes a multi-document YAML into unstructured objects, defaulting
// the namespace of namespaced ones to ns.
func (k *Kube) objects(yaml, ns string) ([]*unstructured.Unstructured, []dynamic.ResourceInterface, error) {
	dec := yamlutil.NewYAMLOrJSONDecoder(strings.NewReader(yaml), 4096)
	var objs []*unstructured.Unstructured
	var ris []dynamic.ResourceInterface
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, fmt.Errorf("decode YAML: %w", err)
		}
		if len(raw) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: raw}
		linuxOnly(u)
		gvk := u.GroupVersionKind()
		m, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			k.mapper.Reset()
			if m, err = k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return nil, nil, fmt.Errorf("%s %s: %w", gvk, u.GetName(), err)
			}
		}
		var ri dynamic.ResourceInterface = k.Dynamic.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if u.GetNamespace() == "" {
				u.SetNamespace(ns)
			}
			ri = k.Dynamic.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		objs = append(objs, u)
		ris = append(ris, ri)
	}
	return objs, ris, nil
}

// linuxOnly gives a pod (or a workload's pod template) nodeSelector
// kubernetes.io/os: linux unless it selects an OS itself: the scenarios' pods
// are Linux busybox pods, and a cluster with Windows node pools must not
// schedule them there.
func linuxOnly(u *unstructured.Unstructured) {
	var path []string
	switch u.GetKind() {
	case "Pod":
		path = []string{"spec", "nodeSelector"}
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		path = []string{"spec", "template", "spec", "nodeSelector"}
	default:
		return
	}
	sel, _, _ := unstructured.NestedStringMap(u.Object, path...)
	if sel == nil {
		sel = map[string]string{}
	}
	if _, ok := sel["kubernetes.io/os"]; ok {
		return
	}
	sel["kubernetes.io/os"] = "linux"
	_ = unstructured.SetNestedStringMap(u.Object, sel, path...)
}

// Apply server-side applies every object of yaml; namespaced objects without
// a namespace go to ns.
func (k *Kube) Apply(ctx context.Context, ns, yaml string) error {
	objs, ris, err := k.objects(yaml, ns)
	if err != nil {
		return err
	}
	for i, u := range objs {
		data, err := u.MarshalJSON()
		if err != nil {
			return err
		}
		force := true
		if _, err := ris[i].Patch(ctx, u.GetName(), types.ApplyPatchType, data,
			metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return nil
}

// Delete deletes every object of yaml, ignoring those already gone, and waits
// until they are gone.
func (k *Kube) Delete(ctx context.Context, ns, yaml string) error {
	objs, ris, err := k.objects(yaml, ns)
	if err != nil {
		return err
	}
	fg := metav1.DeletePropagationForeground
	for i, u := range objs {
		err := ris[i].Delete(ctx, u.GetName(), metav1.DeleteOptions{PropagationPolicy: &fg})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	for i, u := range objs {
		err := k.Eventually(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			_, err := ris[i].Get(ctx, u.GetName(), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return fmt.Errorf("%s %s not deleted: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// Eventually polls cond every second until it is true, it errors, or timeout
// passes. The last condition error is reported on timeout.
func (k *Kube) Eventually(ctx context.Context, timeout time.Duration, cond func(ctx context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if err != nil {
			// Keep the last error that says something about the condition,
			// not the deadline that cut its final attempt short.
			if ctx.Err() == nil || last == nil {
				last = err
			}
			return false, nil
		}
		return ok, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (last error: %v)", err, last)
	}
	return err
}

// WaitPodReady waits until the pod is Ready, and reports the pod's warning
// events when it is not.
func (k *Kube) WaitPodReady(ctx context.Context, ns, name string, timeout time.Duration) error {
	err := k.Eventually(ctx, timeout, func(ctx context.Context) (bool, error) {
		p, err := k.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		evs, _ := k.Events(ctx, ns, name)
		return fmt.Errorf("pod %s/%s not Ready: %w; events: %s", ns, name, err, FormatEvents(evs))
	}
	return nil
}

// WaitEvent waits for an event on object name with the reason whose message
// contains substr, and returns it.
func (k *Kube) WaitEvent(ctx context.Context, ns, name, reason, substr string, timeout time.Duration) (corev1.Event, error) {
	var found corev1.Event
	err := k.Eventually(ctx, timeout, func(ctx context.Context) (bool, error) {
		evs, err := k.Events(ctx, ns, name)
		if err != nil {
			return false, err
		}
		for _, e := range evs {
			if e.Reason == reason && strings.Contains(e.Message, substr) {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		evs, _ := k.Events(ctx, ns, name)
		return found, fmt.Errorf("no %s event containing %q on %s/%s: %w; events: %s", reason, substr, ns, name, err, FormatEvents(evs))
	}
	return found, nil
}

// Events lists the events of object name in ns (all objects when name is "").
func (k *Kube) Events(ctx context.Context, ns, name string) ([]corev1.Event, error) {
	opts := metav1.ListOptions{}
	if name != "" {
		opts.FieldSelector = "involvedObject.name=" + name
	}
	l, err := k.Clientset.CoreV1().Events(ns).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// FormatEvents renders events in one line for error messages.
func FormatEvents(evs []corev1.Event) string {
	if len(evs) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %s: %s", e.Type, e.Reason, e.Message)
	}
	return b.String()
}

// Exec runs cmd in a container of a pod, like `kubectl exec`, and returns its
// standard output. A non-zero exit is an error carrying standard error.
func (k *Kube) Exec(ctx context.Context, ns, pod, container string, cmd ...string) (string, error) {
	req := k.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: container, Command: cmd, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(k.Config, http.MethodGet, req.URL().String())
	if err != nil {
		return "", err
	}
	spdy, err := remotecommand.NewSPDYExecutor(k.Config, http.MethodPost, req.URL())
	if err != nil {
		return "", err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool { return true })
	if err != nil {
		return "", err
	}
	var stdout, stderr bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return stdout.String(), fmt.Errorf("exec %v in %s/%s: %w: %s", cmd, ns, pod, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// PodMetrics scrapes /metrics on port of the first Running pod matching
// selector in ns, through the apiserver's pod proxy, so it works on every
// target without port-forwarding. Per-node counters need PodMetricsOnNode:
// on N nodes the first pod is the test pod's with probability 1/N.
func (k *Kube) PodMetrics(ctx context.Context, ns, selector string, port int) (map[string]float64, string, error) {
	pods, err := k.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, "", err
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue
		}
		raw, err := k.Clientset.CoreV1().Pods(ns).ProxyGet("http", p.Name, fmt.Sprint(port), "metrics", nil).DoRaw(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("scrape %s/%s:%d/metrics: %w", ns, p.Name, port, err)
		}
		return ParseMetrics(string(raw)), string(raw), nil
	}
	return nil, "", fmt.Errorf("no running pod with %s in %s", selector, ns)
}

// NodeMetrics scrapes /metrics on port of every Running pod matching selector
// in ns, keyed by the pod's node: a DaemonSet's counters are per node, so a
// scenario compares the scrapes of the node its test pod runs on.
func (k *Kube) NodeMetrics(ctx context.Context, ns, selector string, port int) (map[string]map[string]float64, error) {
	pods, err := k.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]float64{}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" {
			continue
		}
		raw, err := k.Clientset.CoreV1().Pods(ns).ProxyGet("http", p.Name, fmt.Sprint(port), "metrics", nil).DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("scrape %s/%s:%d/metrics: %w", ns, p.Name, port, err)
		}
		out[p.Spec.NodeName] = ParseMetrics(string(raw))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no running pod with %s in %s", selector, ns)
	}
	return out, nil
}

// PodMetricsOnNode scrapes /metrics on port of the Running pod matching
// selector in ns that runs on node.
func (k *Kube) PodMetricsOnNode(ctx context.Context, ns, selector, node string, port int) (map[string]float64, string, error) {
	pods, err := k.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, "", err
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName != node {
			continue
		}
		raw, err := k.Clientset.CoreV1().Pods(ns).ProxyGet("http", p.Name, fmt.Sprint(port), "metrics", nil).DoRaw(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("scrape %s/%s:%d/metrics: %w", ns, p.Name, port, err)
		}
		return ParseMetrics(string(raw)), string(raw), nil
	}
	return nil, "", fmt.Errorf("no running pod with %s in %s on node %s", selector, ns, node)
}

// PodNode is the node a pod is scheduled on.
func (k *Kube) PodNode(ctx context.Context, ns, name string) (string, error) {
	p, err := k.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if p.Spec.NodeName == "" {
		return "", fmt.Errorf("pod %s/%s is not scheduled", ns, name)
	}
	return p.Spec.NodeName, nil
}

// ParseMetrics reads the Prometheus text format into series → value, where a
// series is the metric name with its labels as printed.
func ParseMetrics(text string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// MetricSum adds the values of every series of metric name (any labels).
func MetricSum(series map[string]float64, name string) (float64, bool) {
	var sum float64
	found := false
	for s, v := range series {
		if s == name || strings.HasPrefix(s, name+"{") {
			sum += v
			found = true
		}
	}
	return sum, found
}
