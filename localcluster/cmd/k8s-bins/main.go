// Command k8s-bins builds the local cluster's pinned binaries (Kubernetes,
// etcd, containerd) into the versioned cache, unless they are there already,
// and prints where they are. `make k8s-bins` runs it; localcluster.Start
// would build them the same way on first use.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kvcsi/kvcsi/localcluster"
)

func main() {
	if err := realMain(); err != nil {
		fmt.Fprintln(os.Stderr, "k8s-bins:", err)
		os.Exit(1)
	}
}

func realMain() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	done := make(chan struct{})
	go reportProgress(done, time.Now(), progressEvery, localcluster.BinariesRemaining, os.Stderr)
	bins, err := localcluster.EnsureBinaries(ctx, "", log)
	close(done)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(bins))
	for n := range bins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("%-26s %s\n", n, bins[n])
	}
	return nil
}

// progressEvery is how often a cold build reports that it is still going.
const progressEvery = 30 * time.Second

// reportProgress prints, every interval until done closes, how long the build
// has run and which binaries remain (a cold build on two cores is silent for
// twenty minutes otherwise).
func reportProgress(done <-chan struct{}, start time.Time, every time.Duration, remaining func() ([]string, error), w io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			fmt.Fprintln(w, progressLine(now.Sub(start), remaining))
		}
	}
}

func progressLine(elapsed time.Duration, remaining func() ([]string, error)) string {
	left, err := remaining()
	status := "remaining: " + strings.Join(left, ", ")
	switch {
	case err != nil:
		status = "remaining: unknown (" + err.Error() + ")"
	case len(left) == 0:
		status = "all linked, installing"
	}
	return fmt.Sprintf("k8s-bins: still building after %s; %s", elapsed.Round(time.Second), status)
}
