package main

// `kvcsi scenarios`: list the catalogue, or run it on a target with progress,
// a table and a Markdown report.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target/cluster"
	"github.com/kvcsi/kvcsi/scenarios/target/local"
)

func init() {
	register("scenarios", "run the documented behaviours (the executable spec) on local, kind or aks", func(ctx context.Context, args []string) error {
		return runScenarios(ctx, args, os.Stdout)
	})
}

// scenariosUsage is the help text of `kvcsi scenarios`.
const scenariosUsage = `usage: kvcsi scenarios <run|list> [flags]

  run    run the catalogue (or --run REGEX of it) on a target; exits non-zero if any fails
  list   print the catalogue (--markdown: the table of docs/scenarios.md)

Run "kvcsi scenarios <command> -h" for the flags of a command.
`

// errScenariosFailed is returned when at least one scenario failed; the table says which.
var errScenariosFailed = errors.New("some scenarios failed")

// runScenarios is `kvcsi scenarios ...`.
func runScenarios(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, scenariosUsage)
		return nil
	}
	var err error
	switch args[0] {
	case "list":
		err = scenariosList(args[1:], out)
	case "run":
		err = scenariosRun(ctx, args[1:], out)
	default:
		fmt.Fprint(out, scenariosUsage)
		return fmt.Errorf("unknown scenarios command %q: use run or list", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func scenariosList(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kvcsi scenarios list", flag.ContinueOnError)
	fs.SetOutput(out)
	md := fs.Bool("markdown", false, "print the Markdown catalogue of docs/scenarios.md")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	if *md {
		return scenarios.WriteCatalogue(out)
	}
	for _, s := range scenarios.Catalogue() {
		fmt.Fprintf(out, "%-45s %s\n", s.Name, s.Summary)
	}
	return nil
}

// runFlags are the settings of one run, separate from how they were given.
type runFlags struct {
	target     string
	filter     string
	report     string
	keep       bool
	timeout    time.Duration
	kubeconfig string
	context    string
	imageTag   string
	runDir     string
}

func scenariosRun(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kvcsi scenarios run", flag.ContinueOnError)
	fs.SetOutput(out)
	var f runFlags
	fs.StringVar(&f.target, "target", "local", "where to run: local (root; local cluster + emulator), kind (the kubeconfig's cluster + in-cluster emulator) or aks (the kubeconfig's cluster + a real Key Vault, see docs/scenarios.md)")
	fs.StringVar(&f.filter, "run", "", "run only the scenarios whose name matches this regular expression")
	fs.StringVar(&f.report, "report", "_output/report.md", "write the Markdown report here (empty: none)")
	fs.BoolVar(&f.keep, "keep", false, "keep each scenario's namespace (and the local cluster's logs) for debugging")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "limit for each scenario")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kind and aks: the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&f.context, "context", "", "kind and aks: the kubeconfig context")
	fs.StringVar(&f.imageTag, "image-tag", "", "tag of kvcsi's images (default: this binary's version)")
	fs.StringVar(&f.runDir, "run-dir", "", "local: the cluster's state directory (default: localcluster's)")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	var re *regexp.Regexp
	if f.filter != "" {
		var err error
		if re, err = regexp.Compile(f.filter); err != nil {
			return fmt.Errorf("--run %q is not a regular expression: %v", f.filter, err)
		}
	}
	list := scenarios.Select(re)
	if len(list) == 0 {
		return fmt.Errorf("--run %q matches no scenario; see kvcsi scenarios list", f.filter)
	}
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout %s must be positive, e.g. 5m", f.timeout)
	}
	t, err := startTarget(ctx, f, out)
	if errors.Is(err, cluster.ErrSkipped) {
		fmt.Fprintf(out, "skipped: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() {
		if cerr := t.Close(); cerr != nil {
			fmt.Fprintf(out, "tearing down the %s target: %v\n", t.Name(), cerr)
		}
	}()
	results := scenarios.Run(ctx, t, scenarios.Options{Scenarios: list, Progress: out, Timeout: f.timeout, KeepNamespaces: f.keep})
	fmt.Fprintln(out)
	if err := scenarios.WriteTable(out, results); err != nil {
		return err
	}
	if f.report != "" {
		if err := writeReport(f.report, t.Name(), results); err != nil {
			return err
		}
		fmt.Fprintf(out, "report: %s\n", f.report)
	}
	if n := scenarios.Failed(results); n > 0 {
		return fmt.Errorf("%w: %d of %d", errScenariosFailed, n, len(results))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

func startTarget(ctx context.Context, f runFlags, out io.Writer) (scenarios.Target, error) {
	switch f.target {
	case "local":
		return local.Start(ctx, local.Options{RunDir: f.runDir, ImageTag: f.imageTag, Log: out, KeepRunDir: f.keep})
	case "kind":
		return cluster.StartKind(ctx, cluster.Options{Kubeconfig: f.kubeconfig, Context: f.context, ImageTag: f.imageTag, Log: out})
	case "aks":
		return cluster.StartAKS(ctx, cluster.Options{Kubeconfig: f.kubeconfig, Context: f.context, ImageTag: f.imageTag, Log: out})
	}
	return nil, fmt.Errorf("--target %q: use local, kind or aks", f.target)
}

func writeReport(path, target string, results []scenarios.Result) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("--report %s: %w", path, err)
	}
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--report %s: %w", path, err)
	}
	if err := scenarios.WriteMarkdown(fh, target, results); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (flags only)", fs.Name(), fs.Arg(0))
	}
	return nil
}
