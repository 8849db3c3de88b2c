// Command pause is the pod sandbox process of the local cluster's
// registry.k8s.io/pause:3.10 image. It holds the pod's namespaces open, reaps
// the zombies that are re-parented to it when it runs as PID 1 of a pod with a
// shared process namespace, and exits cleanly on SIGTERM or SIGINT, like the
// upstream C pause program.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
)

func main() {
	if err := realMain(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pause:", err)
		os.Exit(1)
	}
}

func realMain(args []string) error {
	for _, a := range args {
		switch a {
		case "-v", "--version", "-version":
			fmt.Println("pause (kvcsi)", buildinfo.Version)
			return nil
		default:
			return fmt.Errorf("unexpected argument %q: pause takes no arguments except -v", a)
		}
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	// Said only once the handlers are in place, so a supervisor (or test)
	// that waits for it knows SIGTERM is handled.
	fmt.Fprintln(os.Stderr, "pause: waiting for SIGTERM or SIGINT")
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "pause: shutting down, got signal: %v\n", sig)
		return nil
	}
	return nil
}

// reap collects every exited child without blocking; one SIGCHLD may stand
// for several children.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
