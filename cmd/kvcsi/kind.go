package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/kvcsi/kvcsi/kindnode"
)

func init() {
	register("kind", "offline kind node image for podman: node-image", runKind)
}

const kindUsage = `usage: kvcsi kind node-image [--load] [--cache-dir DIR] [--ref-file FILE]

  node-image  build the kind node image offline (Debian rootfs via mmdebstrap,
              the project's Kubernetes binaries and images), cached by content
              under ~/.cache/kvcsi/kind; --load imports it into podman. Prints
              the image reference.
`

func runKind(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "node-image" {
		fmt.Fprint(os.Stderr, kindUsage)
		return errors.New("kind: want the subcommand node-image")
	}
	fs := flag.NewFlagSet("kvcsi kind node-image", flag.ContinueOnError)
	load := fs.Bool("load", false, "import the image into podman (podman load) unless podman has it")
	cacheDir := fs.String("cache-dir", "", "cache directory (default ~/.cache/kvcsi/kind)")
	refFile := fs.String("ref-file", "", "also write the image reference to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	start := time.Now()
	res, err := kindnode.Build(ctx, kindnode.Options{CacheDir: *cacheDir, Log: log})
	if err != nil {
		return err
	}
	log.Info("node image", "ref", res.Ref, "archive", res.Archive, "cached", res.Cached, "seconds", time.Since(start).Round(time.Second).Seconds())
	for _, m := range res.Missing {
		log.Warn("the node image does not carry", "image", m)
	}
	if *load {
		t := time.Now()
		loaded, err := kindnode.Load(ctx, res)
		if err != nil {
			return err
		}
		log.Info("podman", "loaded", loaded, "seconds", time.Since(t).Round(time.Second).Seconds())
	}
	if *refFile != "" {
		if err := os.WriteFile(*refFile, []byte(res.Ref+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Println(res.Ref)
	return nil
}
