package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one child of the cluster, in its own process group so that it
// and everything it forks are signalled together. Its pid is recorded in
// RunDir/pids so a later Cleanup can find it after this process died.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// startProcess runs bin with args, output to RunDir/logs/<name>.log.
func (c *Cluster) startProcess(name, bin string, args []string, env []string) (*process, error) {
	logDir := filepath.Join(c.cfg.RunDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	if err := writePidFile(c.cfg.RunDir, name, cmd.Process.Pid, bin); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	c.cfg.Logger.Debug("started", "process", name, "pid", cmd.Process.Pid, "log", logPath)
	return p, nil
}

// exited reports whether the process ended, with its log's tail.
func (p *process) exited() error {
	select {
	case <-p.done:
		b, _ := os.ReadFile(p.logPath)
		return fmt.Errorf("%s exited (%v); last log lines (%s):\n%s", p.name, p.err, p.logPath, lastLines(b, 15))
	default:
		return nil
	}
}

// stop sends SIGTERM to the group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	// The leader may be gone while its children live on in the group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// writePidFile records "<pid> <binary>" so that Cleanup kills only a group
// whose leader still runs that binary (pids get reused).
func writePidFile(runDir, name string, pid int, bin string) error {
	dir := filepath.Join(runDir, "pids")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".pid"), []byte(fmt.Sprintf("%d %s\n", pid, bin)), 0o644)
}

// killRecordedProcesses kills the process groups recorded in runDir/pids
// whose leader still runs the recorded binary, waiting for them to go.
func killRecordedProcesses(runDir string) error {
	dir := filepath.Join(runDir, "pids")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) != 2 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid <= 1 {
			continue
		}
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && strings.TrimSuffix(exe, " (deleted)") == f[1] {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			if !waitGone(pid, 10*time.Second) {
				errs = append(errs, fmt.Errorf("process %s (pid %d) did not exit after SIGKILL", e.Name(), pid))
				continue
			}
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
	return errors.Join(errs...)
}

// waitGone polls until pid no longer exists (or is a zombie of someone else).
func waitGone(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		// Field 3 is the state; Z is a zombie waiting for its parent.
		if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
