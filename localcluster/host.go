package localcluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hostState is what a full cluster found on the host before changing it,
// saved as RunDir/host-state.json before the first change. Cleanup restores
// from it, in this process or in a later one after a killed run.
type hostState struct {
	// Sysctls maps a /proc/sys path to its value before the run.
	Sysctls map[string]string `json:"sysctls"`
	// Existed lists host paths that existed before (never removed).
	Existed map[string]bool `json:"existed"`
	// Bridge is the interface the run creates.
	Bridge string `json:"bridge"`
	// IPTablesChains lists "<cmd> <table> <chain>" present before the run.
	IPTablesChains []string `json:"iptablesChains,omitempty"`
	// HostAddresses are addresses AddHostAddress put on interfaces.
	HostAddresses []string `json:"hostAddresses,omitempty"`
}

// watchedSysctls are the sysctls the kubelet (protectKernelDefaults off)
// and the bridge CNI plugin (isGateway) set.
var watchedSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom",
	"kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
	"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv4/conf/default/forwarding",
	"net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding",
	"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
}

// hostPaths are created by the kubelet, containerd and the CNI plugins
// outside RunDir. Removed on cleanup unless they existed before.
var hostPaths = []string{KubeletRootDir, "/var/log/containers", "/var/log/pods", "/var/lib/cni", "/run/containerd"}

// cgroupNames are the cgroups the kubelet creates (cgroupfs driver) in every
// hierarchy.
var cgroupNames = []string{"kubepods"}

func statePath(runDir string) string { return filepath.Join(runDir, "host-state.json") }

// hostOwnerPath names the run directory whose full cluster last changed the
// host, so that a Start in another run directory can undo a run that was
// killed (the host lock says its owner is gone).
const hostOwnerPath = "/run/kvcsi-localcluster.owner"

// cleanupPreviousOwner undoes the host changes of a full cluster recorded in
// another run directory. Call it only while holding the host lock.
func cleanupPreviousOwner(runDir string, log interface{ Info(string, ...any) }) error {
	b, err := os.ReadFile(hostOwnerPath)
	if err != nil {
		return nil
	}
	prev := strings.TrimSpace(string(b))
	if prev == "" || prev == runDir {
		return nil
	}
	if _, err := os.Stat(statePath(prev)); err != nil {
		_ = os.Remove(hostOwnerPath)
		return nil
	}
	log.Info("undoing the host changes of an earlier local cluster that was not stopped", "runDir", prev)
	if err := Cleanup(prev); err != nil {
		return fmt.Errorf("undo the earlier local cluster in %s: %w", prev, err)
	}
	return nil
}

func recordHost(runDir string) error {
	s := hostState{Sysctls: map[string]string{}, Existed: map[string]bool{}, Bridge: BridgeName}
	for _, k := range watchedSysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			s.Sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			s.Existed[p] = true
		}
	}
	s.IPTablesChains = iptablesChains()
	if _, err := net.InterfaceByName(BridgeName); err == nil {
		return fmt.Errorf("interface %s already exists and is not from a run recorded in this run directory; another local cluster may be running (kvcsi cluster down --run-dir ...), or remove it: ip link del %s", BridgeName, BridgeName)
	}
	if err := saveState(runDir, &s); err != nil {
		return err
	}
	return os.WriteFile(hostOwnerPath, []byte(runDir+"\n"), 0o644)
}

func saveState(runDir string, s *hostState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := statePath(runDir) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, statePath(runDir))
}

func loadState(runDir string) (*hostState, error) {
	b, err := os.ReadFile(statePath(runDir))
	if err != nil {
		return nil, err
	}
	s := &hostState{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("read %s: %w", statePath(runDir), err)
	}
	return s, nil
}

// setupNetwork creates the bridge with the node IP (/24, shared with the
// pods) and the apiserver's ClusterIP (/32).
func setupNetwork(cfg Config) error {
	svc := firstIP(cfg.ServiceCIDR).String()
	cmds := [][]string{
		{"link", "add", BridgeName, "type", "bridge"},
		{"addr", "add", cfg.NodeIP + "/24", "dev", BridgeName},
		{"addr", "add", svc + "/32", "dev", BridgeName},
		{"link", "set", BridgeName, "up"},
	}
	for _, a := range cmds {
		if err := ip(a...); err != nil {
			return fmt.Errorf("create the node network: %w", err)
		}
	}
	return nil
}

// prepareKubeletDir bind-mounts KubeletRootDir onto itself as a recursively
// shared mount. The host's / is private here, and CSI node plugins need
// Bidirectional propagation of /var/lib/kubelet/pods so that the mounts
// they make reach the kubelet and the pods; only this subtree is changed,
// and Cleanup's unmount removes it.
func prepareKubeletDir() error {
	if err := os.MkdirAll(KubeletRootDir, 0o750); err != nil {
		return err
	}
	if err := unix.Mount(KubeletRootDir, KubeletRootDir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mount %s onto itself: %w", KubeletRootDir, err)
	}
	if err := unix.Mount("", KubeletRootDir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s a shared mount: %w", KubeletRootDir, err)
	}
	return nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// AddHostAddress adds cidr (e.g. 169.254.169.254/32, where the emulator's
// IMDS listens) to the cluster's bridge, so that pods and the host reach it.
// remove takes it away again; Stop does so too.
func (c *Cluster) AddHostAddress(cidr string) (remove func() error, err error) {
	if c.cfg.ControlPlaneOnly {
		return nil, errors.New("AddHostAddress: a ControlPlaneOnly cluster has no bridge")
	}
	if _, _, err := net.ParseCIDR(cidr); err != nil {
		return nil, fmt.Errorf("AddHostAddress: %q is not a CIDR such as 169.254.169.254/32", cidr)
	}
	s, err := loadState(c.cfg.RunDir)
	if err != nil {
		return nil, err
	}
	s.HostAddresses = append(s.HostAddresses, cidr)
	if err := saveState(c.cfg.RunDir, s); err != nil {
		return nil, err
	}
	if err := ip("addr", "add", cidr, "dev", BridgeName); err != nil {
		return nil, fmt.Errorf("AddHostAddress: %w", err)
	}
	return func() error {
		err := ip("addr", "del", cidr, "dev", BridgeName)
		if err != nil && !strings.Contains(err.Error(), "Cannot assign") {
			return err
		}
		return nil
	}, nil
}

// Cleanup undoes everything a run in runDir did and that is still there:
// it kills the recorded processes, the containers and their shims, unmounts
// what the kubelet and containerd mounted, removes the kubepods cgroups, the
// bridge and its veths, the kubelet's iptables chains, restores the
// sysctls, and removes the host paths the run created. It is idempotent;
// Start calls it first, Stop calls it last.
func Cleanup(runDir string) error {
	if runDir == "" {
		return errors.New("Cleanup: empty run directory")
	}
	runDir, err := filepath.Abs(runDir)
	if err != nil {
		return err
	}
	var errs []error
	if err := killRecordedProcesses(runDir); err != nil {
		errs = append(errs, err)
	}
	s, err := loadState(runDir)
	if errors.Is(err, os.ErrNotExist) {
		// An API-only run (or none): processes were all it had.
		return errors.Join(errs...)
	}
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	// Containers and shims run outside the recorded process groups.
	if err := killContainers(runDir); err != nil {
		errs = append(errs, err)
	}
	// Unmount everything the kubelet, containerd and runc left, deepest first.
	mountRoots := []string{KubeletRootDir, runDir, "/run/containerd"}
	if err := unmountUnder(mountRoots...); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(); err != nil {
		errs = append(errs, err)
	}
	if err := removeNetwork(s); err != nil {
		errs = append(errs, err)
	}
	if err := restoreIPTables(s.IPTablesChains); err != nil {
		errs = append(errs, err)
	}
	for k, v := range s.Sysctls {
		b, err := os.ReadFile("/proc/sys/" + k)
		if err != nil || strings.TrimSpace(string(b)) == v {
			continue
		}
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", strings.ReplaceAll(k, "/", "."), v, err))
		}
	}
	// Forwarding per interface follows ip_forward; restore the "all" values
	// after it, as written above in map order they may have been overridden.
	for _, k := range []string{"net/ipv4/conf/all/forwarding", "net/ipv4/conf/default/forwarding"} {
		if v, ok := s.Sysctls[k]; ok {
			_ = os.WriteFile("/proc/sys/"+k, []byte(v), 0o644)
		}
	}
	for _, p := range hostPaths {
		if s.Existed[p] {
			continue
		}
		if err := removeAllNoMounts(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := os.Remove(statePath(runDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		if b, err := os.ReadFile(hostOwnerPath); err == nil && strings.TrimSpace(string(b)) == runDir {
			_ = os.Remove(hostOwnerPath)
		}
	}
	return errors.Join(errs...)
}

// killContainers kills every process in a kubepods cgroup and every
// containerd shim serving this run's containerd, and waits for them.
func killContainers(runDir string) error {
	pids := map[int]bool{}
	for _, h := range cgroupHierarchies() {
		for _, name := range cgroupNames {
			root := filepath.Join(h, name)
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() || (d.Name() != "cgroup.procs" && d.Name() != "tasks") {
					return nil
				}
				b, _ := os.ReadFile(p)
				for _, f := range strings.Fields(string(b)) {
					if n, err := strconv.Atoi(f); err == nil && n > 1 {
						pids[n] = true
					}
				}
				return nil
			})
		}
	}
	// Shims are started by containerd with -address <our socket>.
	sock := filepath.Join(runDir, "containerd", "containerd.sock")
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		// The cache names the shim with its version, so match by substring.
		if len(args) > 0 && strings.Contains(filepath.Base(args[0]), "containerd-shim-runc-v2") && slicesContains(args, sock) {
			pids[n] = true
		}
	}
	for pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var stuck []string
	for pid := range pids {
		if !waitGone(pid, 10*time.Second) {
			stuck = append(stuck, strconv.Itoa(pid))
		}
	}
	if len(stuck) > 0 {
		return fmt.Errorf("container processes %s did not exit after SIGKILL", strings.Join(stuck, ","))
	}
	return nil
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// cgroupHierarchies are the mounted cgroup v1 hierarchies (and the v2 root).
func cgroupHierarchies() []string {
	var out []string
	for _, m := range mounts() {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			out = append(out, m.point)
		}
	}
	return out
}

// removeCgroups removes the kubelet's cgroups bottom-up in every hierarchy.
func removeCgroups() error {
	var errs []error
	for _, h := range cgroupHierarchies() {
		for _, name := range cgroupNames {
			root := filepath.Join(h, name)
			var dirs []string
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
			for _, d := range dirs {
				var err error
				for try := 0; try < 50; try++ {
					if err = os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
						err = nil
						break
					}
					// EBUSY while the kernel still tears down exited tasks.
					time.Sleep(20 * time.Millisecond)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// removeNetwork deletes the veths on the bridge, the bridge (with its
// addresses), and addresses AddHostAddress put elsewhere.
func removeNetwork(s *hostState) error {
	if s.Bridge == "" {
		return nil
	}
	br, err := net.InterfaceByName(s.Bridge)
	if err != nil {
		return nil // already gone
	}
	var errs []error
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if m, err := os.Readlink(filepath.Join("/sys/class/net", i.Name, "master")); err == nil && filepath.Base(m) == br.Name {
			if err := ip("link", "del", i.Name); err != nil {
				// A pod's veth goes with its network namespace: one being
				// torn down (a DaemonSet deleted just before Stop) can vanish
				// between the listing and the delete.
				if _, stillThere := net.InterfaceByName(i.Name); stillThere == nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if err := ip("link", "del", br.Name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

type mountEntry struct{ point, fstype string }

// mounts parses /proc/self/mountinfo.
func mounts() []mountEntry {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(fields) {
			continue
		}
		out = append(out, mountEntry{point: unescapeMount(fields[4]), fstype: fields[sep+1]})
	}
	return out
}

// unescapeMount decodes mountinfo's octal escapes (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func under(p, root string) bool {
	return p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

// mountsUnder lists mount points at or below any root, deepest first.
func mountsUnder(roots ...string) []string {
	seen := map[string]bool{}
	var pts []string
	for _, m := range mounts() {
		for _, r := range roots {
			if under(m.point, r) && !seen[m.point] {
				seen[m.point] = true
				pts = append(pts, m.point)
			}
		}
	}
	sort.Slice(pts, func(i, j int) bool { return len(pts[i]) > len(pts[j]) })
	return pts
}

// unmountUnder detaches every mount at or below roots, repeating for
// stacked mounts.
func unmountUnder(roots ...string) error {
	for round := 0; round < 10; round++ {
		pts := mountsUnder(roots...)
		if len(pts) == 0 {
			return nil
		}
		for _, p := range pts {
			_ = unix.Unmount(p, unix.MNT_DETACH)
		}
	}
	if left := mountsUnder(roots...); len(left) > 0 {
		return fmt.Errorf("mounts left after unmounting: %s", strings.Join(left, ", "))
	}
	return nil
}

// removeAllNoMounts removes p, refusing while anything is mounted below it
// (RemoveAll would descend into a bind mount and delete its source).
func removeAllNoMounts(p string) error {
	if left := mountsUnder(p); len(left) > 0 {
		return fmt.Errorf("not removing %s: still mounted: %s", p, strings.Join(left, ", "))
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
