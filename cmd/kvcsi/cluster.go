package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/kvcsi/kvcsi/localcluster"
)

func init() {
	register("cluster", "local single-node Kubernetes: up | down | status | kubeconfig", runCluster)
}

const clusterUsage = `usage: kvcsi cluster <up|down|status|kubeconfig> [flags]

  up          start a local cluster (needs root; --control-plane-only does not)
              and wait until Ctrl-C, then stop it; --detach leaves it running
  down        stop the cluster in --run-dir and undo every host change
  status      show the cluster's processes, apiserver and node
  kubeconfig  print the admin kubeconfig path: export KUBECONFIG=$(kvcsi cluster kubeconfig)
`

func runCluster(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, clusterUsage)
		return errors.New("cluster: missing subcommand (up, down, status or kubeconfig)")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("kvcsi cluster "+sub, flag.ContinueOnError)
	runDir := fs.String("run-dir", localcluster.DefaultRunDir(), "directory holding the cluster's state and logs")
	switch sub {
	case "up":
		return clusterUp(ctx, fs, runDir, args)
	case "down":
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := localcluster.Down(*runDir); err != nil {
			return fmt.Errorf("cluster down: %w", err)
		}
		fmt.Println("local cluster in", *runDir, "stopped; host restored")
		return nil
	case "status":
		if err := fs.Parse(args); err != nil {
			return err
		}
		st, err := localcluster.GetStatus(ctx, *runDir)
		if err != nil {
			return fmt.Errorf("cluster status: %w", err)
		}
		fmt.Print(st)
		if !st.Running() {
			return errors.New("cluster status: not fully running")
		}
		return nil
	case "kubeconfig":
		if err := fs.Parse(args); err != nil {
			return err
		}
		p := localcluster.KubeconfigPathIn(*runDir)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("cluster kubeconfig: no cluster in %s (start one with `kvcsi cluster up`): %w", *runDir, err)
		}
		fmt.Println(p)
		return nil
	default:
		fmt.Fprint(os.Stderr, clusterUsage)
		return fmt.Errorf("cluster: unknown subcommand %q (want up, down, status or kubeconfig)", sub)
	}
}

func clusterUp(ctx context.Context, fs *flag.FlagSet, runDir *string, args []string) error {
	var cfg localcluster.Config
	fs.StringVar(&cfg.NodeName, "node-name", localcluster.DefaultNodeName, "name of the Node")
	fs.StringVar(&cfg.NodeIP, "node-ip", localcluster.DefaultNodeIP, "node InternalIP, created on bridge "+localcluster.BridgeName+" (pods share its /24)")
	fs.StringVar(&cfg.ServiceCIDR, "service-cidr", localcluster.DefaultServiceCIDR, "Service range; the apiserver listens on its first address, port 443")
	fs.BoolVar(&cfg.ControlPlaneOnly, "control-plane-only", false, "run only etcd, kube-apiserver and kube-controller-manager on loopback (no root needed)")
	fs.StringVar(&cfg.BinDir, "bin-dir", "", "directory with prebuilt binaries (default: the versioned build cache, built on first use)")
	images := fs.String("load", "", "comma-separated image tarballs to import into the node's containerd")
	detach := fs.Bool("detach", false, "leave the cluster running when this command exits (stop it with `kvcsi cluster down`)")
	verbose := fs.Bool("v", false, "log each step")
	fs.Func("insecure-registry", "a plain-HTTP registry host:port the node's containerd pulls from (repeatable; e.g. the loopback registry of make images-push)", func(v string) error {
		cfg.InsecureRegistries = append(cfg.InsecureRegistries, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cluster up: unexpected arguments %q", fs.Args())
	}
	cfg.RunDir = *runDir
	cfg.KeepRunDir = *detach
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	c, err := localcluster.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cluster up: %w", err)
	}
	if *images != "" {
		if err := c.LoadImages(ctx, strings.Split(*images, ",")...); err != nil {
			return errors.Join(fmt.Errorf("cluster up: %w", err), c.Stop())
		}
	}
	fmt.Printf("local cluster is up\nexport KUBECONFIG=%s\n", c.KubeconfigPath())
	if *detach {
		fmt.Printf("stop it with: kvcsi cluster down --run-dir %s\n", c.RunDir())
		return nil
	}
	fmt.Println("press Ctrl-C to stop it")
	<-ctx.Done()
	if err := c.Stop(); err != nil {
		return fmt.Errorf("cluster stop: %w", err)
	}
	fmt.Println("local cluster stopped; host restored")
	return nil
}
