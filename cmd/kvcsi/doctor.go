package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
	"github.com/kvcsi/kvcsi/doctor"
)

const doctorUsage = `usage: kvcsi doctor [flags] pod NAMESPACE/NAME | class NAMESPACE/NAME | node NAME

Walks the chain a secrets-store mount goes through and prints one line per
check (✓ ok, ✗ failed with cause and fix, ? cannot check: needs a permission).
Exits 1 when a check fails. See docs/operations.md.

flags:
`

func init() {
	register("doctor", "explain why a pod's, class's or node's secrets-store mounts fail (pod|class|node)", func(ctx context.Context, args []string) error {
		return runDoctor(ctx, args, os.Stdout, os.Stderr, opsClients)
	})
}

// opsClients connects as kubectl would: --kubeconfig, $KUBECONFIG,
// ~/.kube/config, then in-cluster.
func opsClients(kubeconfig, kubeContext string) (doctor.Clients, error) {
	cfg, err := opsRestConfig(kubeconfig, kubeContext)
	if err != nil {
		return doctor.Clients{}, err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return doctor.Clients{}, err
	}
	sc, err := spcclient.NewForConfig(cfg)
	if err != nil {
		return doctor.Clients{}, err
	}
	return doctor.Clients{Kube: kc, SPC: sc}, nil
}

func opsRestConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w; give --kubeconfig or set KUBECONFIG", err)
	}
	return cfg, nil
}

type connectOps func(kubeconfig, kubeContext string) (doctor.Clients, error)

// errChecksFailed makes the exit code non-zero after a report was printed.
var errChecksFailed = errors.New("doctor: a check failed (see ✗ above)")

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, connect connectOps) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, doctorUsage); fs.PrintDefaults() }
	output := fs.String("o", "table", "output format: table, wide (with the permission each check needs) or json")
	kubeconfig := fs.String("kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context to use (default: the current context)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Flags may also follow the subject: kvcsi doctor pod ns/name -o json.
	rest := fs.Args()
	if len(rest) > 2 {
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		rest = append(rest[:2:2], fs.Args()...)
	}
	if len(rest) != 2 {
		fs.Usage()
		return errors.New("doctor: want pod NAMESPACE/NAME, class NAMESPACE/NAME or node NAME")
	}
	if *output != "table" && *output != "wide" && *output != "json" {
		return fmt.Errorf("doctor: -o %q: use table, wide or json", *output)
	}
	kind, subject := rest[0], rest[1]
	ns, name, hasNS := strings.Cut(subject, "/")
	switch kind {
	case "pod", "class":
		if !hasNS || ns == "" || name == "" {
			return fmt.Errorf("doctor %s: want NAMESPACE/NAME, got %q", kind, subject)
		}
	case "node":
		if hasNS || subject == "" {
			return fmt.Errorf("doctor node: want a node name, got %q", subject)
		}
	default:
		fs.Usage()
		return fmt.Errorf("doctor: unknown subject %q: use pod, class or node", kind)
	}
	c, err := connect(*kubeconfig, *kubeContext)
	if err != nil {
		return err
	}
	var r *doctor.Report
	switch kind {
	case "pod":
		r = doctor.Pod(ctx, c, ns, name)
	case "class":
		r = doctor.Class(ctx, c, ns, name)
	default:
		r = doctor.Node(ctx, c, subject)
	}
	switch *output {
	case "json":
		err = r.WriteJSON(stdout)
	case "wide":
		err = r.WriteWide(stdout)
	default:
		err = r.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if r.Failed() {
		return errChecksFailed
	}
	return nil
}
