// Command build-images is what `make images` runs: it calls images.Build and
// prints where each tarball went and which images could not be built yet.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kvcsi/kvcsi/images"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build-images:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build-images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o images.Options
	var only string
	fs.StringVar(&o.Version, "version", "", "tag of kvcsi's images and version stamped into the binaries (default: this binary's version)")
	fs.StringVar(&o.OutDir, "out", "", "directory for <name>.tar and "+images.ManifestFile+" (default: <repo>/_output/images)")
	fs.StringVar(&only, "only", "", "comma-separated image names to build (default: every image whose source exists); known: "+strings.Join(images.Names(), ","))
	fs.StringVar(&o.GOARCH, "goarch", "", "target architecture (default: the host's)")
	quiet := fs.Bool("q", false, "print only the tarball paths")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; use --only to pick images", fs.Args())
	}
	if only != "" {
		for _, n := range strings.Split(only, ",") {
			if n = strings.TrimSpace(n); n != "" {
				o.Only = append(o.Only, n)
			}
		}
	}
	if !*quiet {
		o.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	built, err := images.Build(ctx, o)
	if err != nil {
		return err
	}
	for _, img := range built {
		if *quiet {
			fmt.Fprintln(stdout, img.Path)
			continue
		}
		state := "built"
		if img.Cached {
			state = "unchanged"
		}
		fmt.Fprintf(stdout, "%-10s %-60s %s\n", state, img.Ref, img.Path)
	}
	if len(built) > 0 {
		m, err := images.ReadManifest(filepath.Dir(built[0].Path))
		if err == nil && len(m.Missing) > 0 {
			fmt.Fprintf(stderr, "not built (no ./cmd/<name> in this tree yet): %s\n", strings.Join(m.Missing, ", "))
		}
	}
	return nil
}
