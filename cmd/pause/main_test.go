package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as the pause program when re-executed,
// so the signal behaviour is tested in a real, separate process.
func TestMain(m *testing.M) {
	if os.Getenv("PAUSE_TEST_RUN") == "1" {
		if err := realMain(nil); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startPause runs pause and returns once it said its handlers are installed,
// with a reader for the rest of its stderr.
func startPause(t *testing.T) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PAUSE_TEST_RUN=1")
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { cmd.Process.Kill() })
	r := bufio.NewReader(pr)
	line, err := r.ReadString('\n')
	if err != nil || !strings.Contains(line, "waiting for SIGTERM") {
		t.Fatalf("pause did not announce readiness: %q, %v", line, err)
	}
	return cmd, r
}

func TestExitsZeroOnTermAndInt(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, stderr := startPause(t)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("pause exited with %v after %v, want status 0", err, sig)
			}
			rest, _ := io.ReadAll(stderr)
			if !strings.Contains(string(rest), "shutting down") {
				t.Errorf("stderr %q does not say it is shutting down", rest)
			}
		})
	}
}

func TestRejectsArguments(t *testing.T) {
	if err := realMain([]string{"--bogus"}); err == nil || !strings.Contains(err.Error(), "--bogus") {
		t.Fatalf("realMain(--bogus) = %v, want an error naming the argument", err)
	}
	if err := realMain([]string{"-v"}); err != nil {
		t.Fatalf("realMain(-v) = %v", err)
	}
}

// TestReapsChildren leaves an exited child of the test process as a zombie
// and checks that reap collects it, as pause does for orphans it adopts.
func TestReapsChildren(t *testing.T) {
	child := exec.Command("/bin/true")
	if err := child.Start(); err != nil {
		t.Skipf("needs /bin/true to create a child: %v", err)
	}
	stat := "/proc/" + strconv.Itoa(child.Process.Pid) + "/stat"
	for {
		data, err := os.ReadFile(stat)
		if err != nil {
			t.Fatalf("child vanished before reaping: %v", err)
		}
		if f := strings.Fields(string(data)); len(f) > 2 && f[2] == "Z" {
			break
		}
		syscall.Nanosleep(&syscall.Timespec{Nsec: 2e6}, nil)
	}
	reap()
	if _, err := os.Stat(stat); err == nil {
		t.Fatalf("child %d is still a zombie after reap()", child.Process.Pid)
	}
}
