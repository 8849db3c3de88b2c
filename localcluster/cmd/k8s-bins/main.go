// Command k8s-bins builds the local cluster's pinned binaries (Kubernetes,
// etcd, containerd) into the versioned cache, unless they are there already,
// and prints where they are. `make k8s-bins` runs it; localcluster.Start
// would build them the same way on first use.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

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
	bins, err := localcluster.EnsureBinaries(ctx, "", log)
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
