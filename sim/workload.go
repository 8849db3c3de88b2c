package sim

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/kvcsi/kvcsi/sim/simkubelet"
)

const volName = "secrets"

// PassResult is one configuration's run of a workload.
type PassResult struct {
	Label         string
	Nodes, Pods   int
	Running       int
	P50, P99, Max time.Duration
	// Mount is what the pods' first mounts cost, from the first create until
	// every pod was Running.
	Mount        counts
	MountSeconds float64
	FilesChecked int
	FilesWrong   int
	DriverAPI    map[string]int64
	KubeletAPI   map[string]int64
	// CPU and peak RSS per process ("<node>/driver", "<node>/provider").
	CPU    map[string]time.Duration
	RSSMax map[string]int64

	// rotation
	Rotated           bool
	RotationObject    string
	RotationPods      int
	RotationUpdated   int
	SyncedUpdated     bool
	Propagation       time.Duration
	RotationKV        counts
	SteadyCycleKV     counts // over SteadyCycles rotation intervals
	SteadyCycles      int
	SteadyDriverWrite int64            // over SteadyCycles rotation intervals
	SteadyDriverAPI   map[string]int64 // "verb resource" → count, same window
	DistinctObjects   int

	// churn
	Churned       bool
	LeakedMounts  int
	LeakedSPCPS   int
	LeakedSecrets int

	Series []Sample
}

// Sample is one second of a pass.
type Sample struct {
	T           float64
	Running     int
	KV, Entra   int64
	Throttled   int64
	Propagation float64 // fraction of the rotated pods on the new version; -1 before rotation
	RSS         map[string]int64
}

type tracker struct {
	mu      sync.Mutex
	created map[string]time.Time
	running map[string]time.Time
	pods    map[string]*corev1.Pod
	nRun    atomic.Int64
	prop    atomic.Value // float64
}

func (e *env) podSpec(name string, class, sa int) corev1.PodSpec {
	spec := e.podSpecWI(class, sa)
	if e.opt.IdentityMode == ServicePrincipal {
		spec.Volumes[0].CSI.NodePublishSecretRef = &corev1.LocalObjectReference{Name: credsName(class % e.opt.apps())}
	}
	return spec
}

func (e *env) podSpecWI(class, sa int) corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName:            saName(sa),
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", VolumeMounts: []corev1.VolumeMount{{Name: volName, MountPath: "/mnt/secrets", ReadOnly: true}}}},
		Volumes: []corev1.Volume{{Name: volName, VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{
			Driver: driverName, ReadOnly: ptr.To(true), VolumeAttributes: map[string]string{"secretProviderClass": className(class)},
		}}}},
	}
}

func (e *env) runPass(ctx context.Context, label string) (*PassResult, error) {
	pr := &PassResult{Label: label, Nodes: len(e.nodes), Pods: e.opt.Pods, DriverAPI: map[string]int64{}, KubeletAPI: map[string]int64{}, RSSMax: map[string]int64{}, CPU: map[string]time.Duration{}}
	tr := &tracker{created: map[string]time.Time{}, running: map[string]time.Time{}, pods: map[string]*corev1.Pod{}}
	tr.prop.Store(-1.0)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := informers.NewSharedInformerFactoryWithOptions(e.kube, 0, informers.WithNamespace(namespace))
	inf := f.Core().V1().Pods().Informer()
	onPod := func(o any) {
		p, ok := o.(*corev1.Pod)
		if !ok {
			return
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.pods[p.Name] = p
		if _, done := tr.running[p.Name]; !done && p.Status.Phase == corev1.PodRunning && ready(p) {
			tr.running[p.Name] = time.Now()
			tr.nRun.Add(1)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: onPod, UpdateFunc: func(_, o any) { onPod(o) }, DeleteFunc: func(o any) {
		if p, ok := o.(*corev1.Pod); ok {
			tr.mu.Lock()
			delete(tr.pods, p.Name)
			tr.mu.Unlock()
		}
	}})
	f.Start(pctx.Done())
	f.WaitForCacheSync(pctx.Done())

	startStats := e.processStats()
	driverAPI0, kubeletAPI0 := e.proxy.counter.snapshot(), e.kubeAPI.snapshot()
	start := time.Now()
	sampler := make(chan struct{})
	go func() {
		defer close(sampler)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case now := <-t.C:
				sec := e.front.second(now.Add(-time.Second))
				s := Sample{T: now.Sub(start).Seconds(), Running: int(tr.nRun.Load()), KV: sec.kv, Entra: sec.entra, Throttled: sec.throttled, Propagation: tr.prop.Load().(float64), RSS: map[string]int64{}}
				for k, st := range e.processStats() {
					s.RSS[k] = st.RSSBytes
					if st.RSSBytes > pr.RSSMax[k] {
						pr.RSSMax[k] = st.RSSBytes
					}
				}
				pr.Series = append(pr.Series, s)
			}
		}
	}()
	finish := func() {
		cancel()
		<-sampler
		for k, st := range e.processStats() {
			pr.CPU[k] = st.CPU - startStats[k].CPU
		}
		pr.DriverAPI = diffCounts(e.proxy.counter.snapshot(), driverAPI0)
		pr.KubeletAPI = diffCounts(e.kubeAPI.snapshot(), kubeletAPI0)
	}

	var err error
	switch e.opt.Workload {
	case "churn":
		err = e.churn(ctx, pr, tr)
	default:
		err = e.mountStorm(ctx, pr, tr)
		if err == nil && e.opt.Workload == "rotation" {
			err = e.rotate(ctx, pr, tr)
		}
	}
	finish()
	return pr, err
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// mountStorm creates every pod at once and waits until all are Running.
func (e *env) mountStorm(ctx context.Context, pr *PassResult, tr *tracker) error {
	c0 := e.front.counts()
	t0 := time.Now()
	e.progress(fmt.Sprintf("creating %d pods", e.opt.Pods))
	work := make(chan int)
	var wg sync.WaitGroup
	var createErr atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				class, sa := e.opt.podPlacement(i)
				name := fmt.Sprintf("pod-%05d", i)
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app": "sim"}}, Spec: e.podSpec(name, class, sa)}
				tr.mu.Lock()
				tr.created[name] = time.Now()
				tr.mu.Unlock()
				if _, err := e.kube.CoreV1().Pods(namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					createErr.Store(err)
				}
			}
		}()
	}
	for i := 0; i < e.opt.Pods; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := createErr.Load().(error); err != nil {
		return fmt.Errorf("create pods: %w", err)
	}
	if err := e.waitRunning(ctx, tr, e.opt.Pods); err != nil {
		return err
	}
	pr.MountSeconds = time.Since(t0).Seconds()
	pr.Mount = e.front.counts().sub(c0)
	tr.mu.Lock()
	var lats []time.Duration
	for n, r := range tr.running {
		if c, ok := tr.created[n]; ok {
			lats = append(lats, r.Sub(c))
		}
	}
	pr.Running = len(tr.running)
	tr.mu.Unlock()
	pr.P50, pr.P99, pr.Max = percentiles(lats)
	pr.FilesChecked, pr.FilesWrong = e.checkFiles(tr, "", 0)
	e.progress(fmt.Sprintf("%d/%d pods Running in %.1fs; files checked %d, wrong %d; KV requests %d, Entra %d, 429s %d",
		pr.Running, e.opt.Pods, pr.MountSeconds, pr.FilesChecked, pr.FilesWrong, pr.Mount.KV, pr.Mount.Entra, pr.Mount.Throttled))
	return nil
}

func (e *env) waitRunning(ctx context.Context, tr *tracker, want int) error {
	deadline := time.Now().Add(e.opt.Timeout)
	last := time.Time{}
	for {
		n := int(tr.nRun.Load())
		if n >= want {
			return nil
		}
		if time.Since(last) >= 5*time.Second {
			c := e.front.counts()
			e.progress(fmt.Sprintf("pods Running %d/%d; Key Vault requests %d, Entra %d, 429s %d", n, want, c.KV, c.Entra, c.Throttled))
			last = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d pods Running after %v (see the FailedMount events and %s/logs)", n, want, e.opt.Timeout, e.dir)
		}
		if err := e.nodesAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (e *env) nodesAlive() error {
	for _, n := range e.nodes {
		if n.driver.exited() {
			return fmt.Errorf("the driver of %s exited: %v (see %s/logs)", n.name, n.driver.err, e.dir)
		}
		if n.provider.exited() {
			return fmt.Errorf("the provider of %s exited: %v (see %s/logs)", n.name, n.provider.err, e.dir)
		}
	}
	return nil
}

func percentiles(d []time.Duration) (p50, p99, mx time.Duration) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	at := func(q float64) time.Duration {
		i := int(q*float64(len(d)) + 0.5)
		if i >= len(d) {
			i = len(d) - 1
		}
		if i > 0 {
			i--
		}
		return d[i]
	}
	return at(0.50), at(0.99), d[len(d)-1]
}

// checkFiles reads every Running pod's files from its real target directory:
// each object holds version 1, except rotated (version 2) when set.
func (e *env) checkFiles(tr *tracker, rotated string, version int) (checked, wrong int) {
	tr.mu.Lock()
	pods := make([]*corev1.Pod, 0, len(tr.pods))
	for _, p := range tr.pods {
		pods = append(pods, p)
	}
	tr.mu.Unlock()
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		class := classOf(p)
		dir := simkubelet.TargetPath(filepath.Join(e.dir, "nodes", p.Spec.NodeName, "kubelet"), p.UID, volName)
		for j := 0; j < e.opt.Objects; j++ {
			name := objectName(class, j)
			want := secretValue(name, 1)
			if name == rotated {
				want = secretValue(name, version)
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			checked++
			if err != nil || string(b) != want {
				wrong++
			}
		}
	}
	return checked, wrong
}

func classOf(p *corev1.Pod) int {
	var c int
	for _, v := range p.Spec.Volumes {
		if v.CSI != nil {
			fmt.Sscanf(v.CSI.VolumeAttributes["secretProviderClass"], "class-%d", &c)
		}
	}
	return c
}

// rotate changes one secret and follows it into every pod's file and the
// synced Secret, then counts three steady rotation cycles.
func (e *env) rotate(ctx context.Context, pr *PassResult, tr *tracker) error {
	pr.Rotated = true
	pr.DistinctObjects = e.opt.Classes * e.opt.Objects
	obj := objectName(0, 0)
	pr.RotationObject = obj
	// Let the first mounts' cache entries expire and one rotation cycle pass,
	// so the change meets the steady state.
	e.progress("all pods mounted; waiting one rotation interval before changing " + obj)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(e.opt.RotationInterval):
	}
	var affected []*corev1.Pod
	tr.mu.Lock()
	for _, p := range tr.pods {
		if classOf(p) == 0 {
			affected = append(affected, p)
		}
	}
	tr.mu.Unlock()
	pr.RotationPods = len(affected)
	c0 := e.front.counts()
	t0 := time.Now()
	if _, err := e.emu.Admin().SetSecret(vaultName, obj, secretValue(obj, 2)); err != nil {
		return err
	}
	e.progress(fmt.Sprintf("changed %s; following it into %d pods and the synced Secret", obj, len(affected)))
	deadline := t0.Add(3*e.opt.RotationInterval + 2*e.opt.SyncPeriod + time.Minute)
	want := secretValue(obj, 2)
	for {
		n := 0
		for _, p := range affected {
			b, err := os.ReadFile(filepath.Join(simkubelet.TargetPath(filepath.Join(e.dir, "nodes", p.Spec.NodeName, "kubelet"), p.UID, volName), obj))
			if err == nil && string(b) == want {
				n++
			}
		}
		tr.prop.Store(float64(n) / float64(max(1, len(affected))))
		pr.RotationUpdated = n
		s, err := e.kube.CoreV1().Secrets(namespace).Get(ctx, className(0)+"-synced", metav1.GetOptions{})
		pr.SyncedUpdated = err == nil && string(s.Data[obj]) == want
		if n == len(affected) && pr.SyncedUpdated {
			pr.Propagation = time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			pr.Propagation = time.Since(t0)
			e.progress(fmt.Sprintf("rotation incomplete: %d/%d pods, synced Secret updated %v", n, len(affected), pr.SyncedUpdated))
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	pr.RotationKV = e.front.counts().sub(c0)
	e.progress(fmt.Sprintf("rotation: %d/%d pods on the new version after %.1fs; KV requests %d, 429s %d", pr.RotationUpdated, len(affected), pr.Propagation.Seconds(), pr.RotationKV.KV, pr.RotationKV.Throttled))
	// Steady cycles: nothing changes; what does a rotation interval cost? The
	// window spans steadyCycles intervals so that a round straddling its start
	// or end (each node ticks on its own phase) is averaged out rather than
	// counted twice or not at all.
	c1 := e.front.counts()
	w1 := e.proxy.counter.snapshot()
	pr.SteadyCycles = steadyCycles
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(steadyCycles * e.opt.RotationInterval):
	}
	pr.SteadyCycleKV = e.front.counts().sub(c1)
	pr.SteadyDriverAPI = diffCounts(e.proxy.counter.snapshot(), w1)
	for k, v := range pr.SteadyDriverAPI {
		switch verbOf(k) {
		case "create", "update", "patch", "delete":
			pr.SteadyDriverWrite += v
		}
	}
	_, wrong := e.checkFiles(tr, obj, 2)
	pr.FilesWrong = wrong
	e.progress(fmt.Sprintf("steady rotation, %d cycles of %v: Key Vault reads %d (+%d auth challenges; distinct objects × nodes × cycles = %d), driver API writes %d",
		steadyCycles, e.opt.RotationInterval, pr.SteadyCycleKV.reads(), pr.SteadyCycleKV.Challenges, pr.DistinctObjects*len(e.nodes)*steadyCycles, pr.SteadyDriverWrite))
	return nil
}

// steadyCycles is how many rotation intervals the steady measurement spans.
const steadyCycles = 3

func verbOf(k string) string {
	for i := range k {
		if k[i] == ' ' {
			return k[:i]
		}
	}
	return k
}

// churn scales a Deployment up and down and looks for leaks afterwards.
func (e *env) churn(ctx context.Context, pr *PassResult, tr *tracker) error {
	pr.Churned = true
	class, sa := e.opt.podPlacement(0)
	labels := map[string]string{"app": "churn"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "churn", Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(e.opt.Pods)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: e.podSpec("", class, sa)},
		},
	}
	c0 := e.front.counts()
	t0 := time.Now()
	if _, err := e.kube.AppsV1().Deployments(namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	low := max(1, e.opt.Pods/5)
	for cycle := 0; cycle < e.opt.ChurnCycles; cycle++ {
		for _, n := range []int{e.opt.Pods, low} {
			if err := e.scale(ctx, n); err != nil {
				return err
			}
			if err := e.waitPods(ctx, n); err != nil {
				return err
			}
			e.progress(fmt.Sprintf("churn cycle %d: %d pods Running", cycle+1, n))
		}
	}
	if err := e.scale(ctx, 0); err != nil {
		return err
	}
	if err := e.waitPods(ctx, 0); err != nil {
		return err
	}
	pr.MountSeconds = time.Since(t0).Seconds()
	pr.Mount = e.front.counts().sub(c0)
	pr.Running = int(tr.nRun.Load())
	// Leaks: mounts below the node directories, pod statuses, synced Secrets.
	// The garbage collector needs a moment for the Secrets.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pr.LeakedMounts = len(mountsUnder(filepath.Join(e.dir, "nodes")))
		l, err := e.dyn.Resource(spcpsGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			pr.LeakedSPCPS = len(l.Items)
		}
		s, err := e.kube.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: "secrets-store.csi.k8s.io/managed=true"})
		if err == nil {
			pr.LeakedSecrets = len(s.Items)
		}
		if pr.LeakedMounts+pr.LeakedSPCPS+pr.LeakedSecrets == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	e.progress(fmt.Sprintf("churn done: leaked mounts %d, SecretProviderClassPodStatuses %d, synced Secrets %d", pr.LeakedMounts, pr.LeakedSPCPS, pr.LeakedSecrets))
	return e.kube.AppsV1().Deployments(namespace).Delete(ctx, "churn", metav1.DeleteOptions{})
}

func (e *env) scale(ctx context.Context, n int) error {
	s, err := e.kube.AppsV1().Deployments(namespace).GetScale(ctx, "churn", metav1.GetOptions{})
	if err != nil {
		return err
	}
	s.Spec.Replicas = int32(n)
	_, err = e.kube.AppsV1().Deployments(namespace).UpdateScale(ctx, "churn", s, metav1.UpdateOptions{})
	return err
}

// waitPods waits until exactly n pods exist, all Running and Ready.
func (e *env) waitPods(ctx context.Context, n int) error {
	deadline := time.Now().Add(e.opt.Timeout)
	for {
		l, err := e.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			run := 0
			for i := range l.Items {
				if l.Items[i].DeletionTimestamp == nil && l.Items[i].Status.Phase == corev1.PodRunning && ready(&l.Items[i]) {
					run++
				}
			}
			if len(l.Items) == n && run == n {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("waiting for %d pods: %d exist, %d Running after %v", n, len(l.Items), run, e.opt.Timeout)
			}
		}
		if err := e.nodesAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// deleteAllPods deletes the pods gracefully, one request each (a
// deletecollection of thousands of pods outlives the apiserver's request
// timeout); the simkubelets unpublish and remove them.
func (e *env) deleteAllPods(ctx context.Context) error {
	e.progress("deleting every pod")
	l, err := e.kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if err := e.kube.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					e.log.Warn("delete pod", "pod", name, "err", err)
				}
			}
		}()
	}
	for _, p := range l.Items {
		work <- p.Name
	}
	close(work)
	wg.Wait()
	return e.waitPods(ctx, 0)
}
