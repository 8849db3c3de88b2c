package localcluster

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A process recorded by a run that was killed is killed, with its whole
// group, by the next Cleanup; a recorded pid now running another binary
// (pid reuse) is left alone.
func TestCleanupKillsRecordedProcessGroups(t *testing.T) {
	dir := t.TempDir()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("needs sh: %v", err)
	}
	// The leader forks a child, which must die too.
	cmd := exec.Command(sh, "-c", "sleep 300 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	exe, _ := os.Readlink("/proc/" + itoa(cmd.Process.Pid) + "/exe")
	if err := writePidFile(dir, "victim", cmd.Process.Pid, exe); err != nil {
		t.Fatal(err)
	}
	// Our own pid, recorded with a binary we are not running.
	if err := writePidFile(dir, "reused", os.Getpid(), "/nonexistent/etcd"); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup(dir); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	<-done
	if live := liveGroupMembers(cmd.Process.Pid); len(live) > 0 {
		t.Fatalf("process group %d survived Cleanup: %v", cmd.Process.Pid, live)
	}
	if _, err := os.Stat(filepath.Join(dir, "pids", "victim.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file of the killed process kept: %v", err)
	}
}

// liveGroupMembers lists the non-zombie processes of process group pgid
// (killed children may stay zombies under an init that does not reap them).
func liveGroupMembers(pgid int) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			out = append(out, e.Name())
		}
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
