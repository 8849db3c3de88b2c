package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/kvcsi/kvcsi/sim"
)

func init() {
	register("sim", "the scale target: thousands of pods on simulated nodes, each a real driver and provider (run, list)", func(ctx context.Context, args []string) error {
		return simMain(ctx, args)
	})
}

func simMain(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(os.Stderr, "usage: kvcsi sim run [flags] | kvcsi sim list\n\n  run   run a workload (or a catalogue --scenario) and write _output/sim/<workload>/report.md\n  list  print the sim catalogue")
		return nil
	}
	switch args[0] {
	case "list":
		for _, s := range sim.Catalogue {
			fmt.Printf("%-40s %s\n", s.Name, s.Summary)
		}
		return nil
	case "run":
		return simRun(ctx, args[1:])
	default:
		return fmt.Errorf("unknown sim command %q: use run or list", args[0])
	}
}

func simRun(ctx context.Context, args []string) error {
	d := sim.Defaults()
	o := d
	fs := flag.NewFlagSet("kvcsi sim run", flag.ContinueOnError)
	scenario := fs.String("scenario", "", "run a catalogue entry (kvcsi sim list); its settings replace the defaults, flags given explicitly still win")
	fs.StringVar(&o.Workload, "workload", d.Workload, "workload: "+strings.Join(sim.Workloads, ", "))
	fs.IntVar(&o.Nodes, "nodes", d.Nodes, "simulated nodes (one driver, provider and simkubelet each)")
	fs.IntVar(&o.Pods, "pods", d.Pods, "pods")
	fs.IntVar(&o.Objects, "objects", d.Objects, "secrets per SecretProviderClass")
	fs.IntVar(&o.Classes, "classes", d.Classes, "SecretProviderClasses")
	fs.IntVar(&o.Identities, "identities", d.Identities, "service accounts with workload identity (identities workload default 100)")
	fs.DurationVar(&o.KVLatency, "kv-latency", d.KVLatency, "latency of every Key Vault and Entra ID request")
	fs.DurationVar(&o.KVJitter, "kv-jitter", d.KVJitter, "uniform jitter around --kv-latency")
	fs.DurationVar(&o.RotationInterval, "rotation-interval", d.RotationInterval, "the drivers' --rotation-poll-interval (rotation and churn turn rotation on)")
	fs.DurationVar(&o.SyncPeriod, "sync-period", d.SyncPeriod, "the simkubelets' republish period (kubelet's sync frequency)")
	fs.DurationVar(&o.CacheTTL, "cache-ttl", d.CacheTTL, "the providers' --cache-ttl in the main pass")
	fs.BoolVar(&o.Compare, "compare", d.Compare, "also run the cache-off configuration (--cache-ttl=0)")
	fs.IntVar(&o.ChurnCycles, "churn-cycles", d.ChurnCycles, "scale-up/scale-down cycles of churn")
	fs.DurationVar(&o.Timeout, "timeout", d.Timeout, "limit of each phase")
	fs.StringVar(&o.RunDir, "run-dir", d.RunDir, "cluster, node directories and logs")
	fs.StringVar(&o.OutDir, "out", d.OutDir, "report directory (the report goes to <out>/<workload>)")
	fs.StringVar(&o.BinDir, "bin-dir", "", "prebuilt secrets-store-csi-driver and secrets-store-provider-azure (default: go build them)")
	fs.StringVar(&o.K8sBinDir, "k8s-bin-dir", "", "control-plane binaries (default: the localcluster cache, `make k8s-bins`)")
	fs.StringVar(&o.IdentityMode, "identity-mode", sim.WorkloadIdentity, "how pods authenticate: workload-identity (per-pod service-account tokens) or service-principal (nodePublishSecretRef)")
	fs.BoolVar(&o.Exclusive, "exclusive", false, "wait for and hold localcluster's host lock, so no local cluster shares the CPUs while the sim measures")
	verbose := fs.Bool("v", false, "log the harness's progress in detail")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var sc *sim.Scenario
	if *scenario != "" {
		s, ok := sim.Lookup(*scenario)
		if !ok {
			return fmt.Errorf("no sim scenario %q (kvcsi sim list)", *scenario)
		}
		sc = &s
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		so := s.Options
		if !set["workload"] {
			o.Workload = so.Workload
		}
		for name, pair := range map[string][2]*int{"nodes": {&o.Nodes, &so.Nodes}, "pods": {&o.Pods, &so.Pods}, "objects": {&o.Objects, &so.Objects}, "classes": {&o.Classes, &so.Classes}, "identities": {&o.Identities, &so.Identities}, "churn-cycles": {&o.ChurnCycles, &so.ChurnCycles}} {
			if !set[name] && *pair[1] > 0 {
				*pair[0] = *pair[1]
			}
		}
		if !set["identity-mode"] && so.IdentityMode != "" {
			o.IdentityMode = so.IdentityMode
		}
		o.Scenario = s.Name
	}
	o.Progress = os.Stdout
	if *verbose {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	res, err := sim.Run(ctx, o)
	if err != nil {
		return err
	}
	broken := sim.CheckInvariants(res)
	if sc != nil && sc.Check != nil {
		broken = sc.Check(res)
	}
	if len(broken) > 0 {
		return fmt.Errorf("invariants broken: %s", strings.Join(broken, "; "))
	}
	fmt.Println("invariants hold: every pod Running, every file correct, no 429, no leak, rotation within distinct objects × nodes")
	return nil
}
