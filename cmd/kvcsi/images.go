package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kvcsi/kvcsi/images"
)

const imagesUsage = `usage: kvcsi images push --registry HOST[:PORT]/PATH [flags]

Builds every kvcsi image for linux/amd64 and linux/arm64 (cross-compiled,
CGO_ENABLED=0) as an OCI image index and pushes it to REGISTRY/<name>:VERSION
(the names kvcsi addon enable --image-registry and the chart's
image.registry expect), then the Helm chart to oci://REGISTRY/charts/kvcsi.
Credentials come from the Docker config and its credential helpers (az acr
login, docker login). Unchanged images and chart upload nothing. Run from the
kvcsi source tree (or give --repo). See docs/deploy.md#deploy-to-aks.

flags:
`

func init() {
	register("images", "build and push the multi-arch images and the Helm chart to a registry (push)", func(ctx context.Context, args []string) error {
		return runImages(ctx, args, os.Stdout, os.Stderr, images.Push)
	})
}

type pushFunc func(context.Context, images.PushOptions) ([]images.Pushed, error)

func runImages(ctx context.Context, args []string, stdout, stderr io.Writer, push pushFunc) error {
	if len(args) == 0 || args[0] != "push" {
		fmt.Fprint(stderr, imagesUsage)
		if len(args) == 0 {
			return errors.New("images: missing subcommand (push)")
		}
		return fmt.Errorf("images: unknown subcommand %q (push)", args[0])
	}
	fs := flag.NewFlagSet("images push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, imagesUsage); fs.PrintDefaults() }
	var o images.PushOptions
	var only, platforms string
	fs.StringVar(&o.Registry, "registry", "", "registry and path to push to, e.g. myacr.azurecr.io/kvcsi (required)")
	fs.StringVar(&o.Version, "version", "", "image tag and version stamped into the binaries; the chart gets it without the leading v (default: this binary's version)")
	fs.StringVar(&only, "only", "", "comma-separated image names (default: every kvcsi image in the tree); known: "+strings.Join(images.Names(), ","))
	fs.StringVar(&platforms, "platforms", strings.Join(images.DefaultPlatforms, ","), "comma-separated linux architectures")
	fs.StringVar(&o.OutDir, "out", "", "build directory for the cross-compiled binaries (default: <repo>/_output/images)")
	fs.StringVar(&o.RepoRoot, "repo", "", "kvcsi source tree (default: the nearest parent of the working directory)")
	fs.BoolVar(&o.NoChart, "no-chart", false, "do not push the Helm chart")
	quiet := fs.Bool("q", false, "print only the pushed references")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("images push: unexpected arguments %q", fs.Args())
	}
	if o.Registry == "" {
		fs.Usage()
		return errors.New("images push: --registry is required, e.g. --registry myacr.azurecr.io/kvcsi")
	}
	o.Only = splitList(only)
	o.Platforms = splitList(platforms)
	if !*quiet {
		o.Logf = func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	}
	pushed, err := push(ctx, o)
	if err != nil {
		return err
	}
	for _, p := range pushed {
		if *quiet {
			fmt.Fprintln(stdout, p.Ref)
			continue
		}
		fmt.Fprintf(stdout, "%-60s %s\n", p.Ref, p.Digest)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
