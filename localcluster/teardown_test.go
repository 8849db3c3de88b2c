package localcluster

// The host-restored check: TestMain compares the host after the last
// cluster stopped with the baseline node took before the first one, and
// TestStopAndKilledRunLeaveNothing checks Stop and the cleanup of a killed
// run in the middle of the tests (a later test starts a new shared cluster).

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// hostSnapshot is what a cluster may change on the host.
type hostSnapshot struct {
	Interfaces []string // the bridge and veths
	Mounts     []string // under the kubelet root, the run dir, /run/containerd
	Cgroups    []string // kubepods in any hierarchy
	Sysctls    map[string]string
	Paths      []string // hostPaths that exist
	Processes  []string // cluster binaries, shims, runc, containers
}

func takeSnapshot() hostSnapshot {
	var s hostSnapshot
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if i.Name == BridgeName || strings.HasPrefix(i.Name, "veth") {
			s.Interfaces = append(s.Interfaces, i.Name)
		}
	}
	s.Mounts = mountsUnder(KubeletRootDir, testRunDir, "/run/containerd")
	for _, h := range cgroupHierarchies() {
		for _, n := range cgroupNames {
			if _, err := os.Stat(filepath.Join(h, n)); err == nil {
				s.Cgroups = append(s.Cgroups, filepath.Join(h, n))
			}
		}
	}
	s.Sysctls = map[string]string{}
	for _, k := range watchedSysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			s.Sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			s.Paths = append(s.Paths, p)
		}
	}
	s.Processes = clusterProcesses()
	return s
}

// clusterProcesses lists processes of the test cluster: the cached
// binaries, shims and runc working for testRunDir, and anything in a
// kubepods cgroup.
func clusterProcesses() []string {
	cache, _ := BinaryCacheDir()
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
		if err != nil || exe == "" {
			// Zombies (pid 1 here does not reap orphans) and kernel threads
			// have no executable and hold nothing.
			continue
		}
		cg, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		// API-only clusters of other test packages run alongside (they
		// take no host lock): only processes of testRunDir count.
		ours := strings.Contains(string(cmdline), testRunDir)
		if ((cache != "" && strings.HasPrefix(exe, cache+"/")) || strings.Contains(exe, "containerd-shim") || exe == runcPath) && ours ||
			strings.Contains(string(cg), "/kubepods") {
			out = append(out, e.Name()+" "+exe)
		}
	}
	sort.Strings(out)
	return out
}

// helperEnv makes the test binary a helper that starts a cluster with a
// running pod, says READY and waits to be killed: a run killed mid-way.
const helperEnv = "KVCSI_LOCALCLUSTER_KILLED_RUN_HELPER"

func runKilledRunHelper() {
	ctx := context.Background()
	// The parent test holds the host lock for this process.
	skipHostLock = true
	c, err := Start(ctx, Config{RunDir: testRunDir, Logger: testLogger()})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	if err := func() error {
		imgs, err := buildTestImages(ctx, c)
		if err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(c.RESTConfig())
		if err != nil {
			return err
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, shellPod("victim", imgs["busybox"].Ref, "sleep 3600"), metav1.CreateOptions{}); err != nil {
			return err
		}
		return c.poll(ctx, "victim pod", nil, 3*time.Minute, func() error {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "victim", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != "Running" {
				return fmt.Errorf("phase %s", p.Status.Phase)
			}
			return nil
		})
	}(); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	select {}
}

// settledSnapshot waits up to 30 s for the host to match want and returns
// the last snapshot: killed container processes exit asynchronously (and
// their parent shim reaps them a moment later), so an exact comparison
// right after Stop would race with the kernel rather than test Stop.
func settledSnapshot(want hostSnapshot) hostSnapshot {
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := takeSnapshot()
		if reflect.DeepEqual(got, want) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// diffSnapshots says, per field, how got differs from want.
func diffSnapshots(got, want hostSnapshot) []string {
	var out []string
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < g.NumField(); i++ {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			out = append(out, fmt.Sprintf("%s differ from before the tests:\n got: %v\nwant: %v", g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface()))
		}
	}
	return out
}

func expectBaseline(t *testing.T, when string) {
	t.Helper()
	for _, d := range diffSnapshots(settledSnapshot(baseline), baseline) {
		t.Errorf("%s, %s", when, d)
	}
}

// leftoverIPTablesChains lists KUBE-* chains absent from before.
func leftoverIPTablesChains(before []string) []string {
	had := map[string]bool{}
	for _, c := range before {
		had[c] = true
	}
	var out []string
	for _, c := range iptablesChains() {
		f := strings.Fields(c)
		if strings.HasPrefix(f[2], "KUBE-") && !had[c] {
			out = append(out, c)
		}
	}
	return out
}

func TestStopAndKilledRunLeaveNothing(t *testing.T) {
	c := node(t)
	if len(leftoverIPTablesChains(nil)) == 0 && iptablesCommands() != nil {
		t.Log("iptables present but the kubelet made no KUBE-* chains")
	}
	// While running, the cluster has changed the host: the check can fail.
	running := takeSnapshot()
	if reflect.DeepEqual(running, baseline) || len(running.Processes) == 0 || len(running.Cgroups) == 0 {
		t.Fatalf("a running cluster left no trace the check could see: %+v", running)
	}
	// Hold the host lock across the whole test, so no other package's
	// cluster starts between the steps and spoils the comparisons.
	if err := acquireHostLock(context.Background(), testLogger()); err != nil {
		t.Fatal(err)
	}
	defer releaseHostLock()
	st, err := loadState(c.RunDir())
	if err != nil {
		t.Fatal(err)
	}
	stopNode(t)
	expectBaseline(t, "after Stop")
	if left := leftoverIPTablesChains(st.IPTablesChains); len(left) > 0 {
		t.Errorf("after Stop iptables chains remain: %v", left)
	}

	// A run killed with SIGKILL: its processes, pods and host changes stay.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	helper := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"=1")
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		line := sc.Text()
		if line == "READY" {
			ready = true
			break
		}
		if strings.HasPrefix(line, "ERROR") {
			break
		}
	}
	_ = helper.Process.Signal(syscall.SIGKILL)
	_ = helper.Wait()
	if !ready {
		t.Fatal("the killed-run helper did not get its cluster and pod running")
	}
	killed := takeSnapshot()
	if len(killed.Processes) == 0 || len(killed.Interfaces) == 0 {
		t.Fatalf("the killed run left nothing behind, so the cleanup is not being tested: %+v", killed)
	}

	// The next Start cleans up first; its own Stop then restores the host.
	c2, err := Start(ctx, Config{RunDir: testRunDir, Logger: testLogger()})
	if err != nil {
		t.Fatalf("Start after a killed run: %v", err)
	}
	newPids := map[string]bool{}
	for _, q := range c2.procs {
		newPids[fmt.Sprint(q.cmd.Process.Pid)] = true
	}
	for _, p := range killed.Processes {
		pid := strings.Fields(p)[0]
		if _, err := os.Stat("/proc/" + pid); err == nil && !newPids[pid] && containsString(clusterProcesses(), p) {
			t.Errorf("process of the killed run survived the next Start: %s", p)
		}
	}
	if err := c2.Stop(); err != nil {
		t.Fatalf("Stop after a killed run: %v", err)
	}
	expectBaseline(t, "after a killed run, the next Start and Stop")
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
