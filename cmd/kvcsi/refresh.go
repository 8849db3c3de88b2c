package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kvcsi/kvcsi/refresh"
)

const refreshUsage = `usage: kvcsi refresh [flags] class NAMESPACE/NAME | pod NAMESPACE/NAME

Asks the driver to re-fetch mounted content now, bypassing the provider's
cache once: sets the annotation ` + refresh.Annotation + `
on the SecretProviderClass (every pod using it, on every node) or on the pod.
Needs rotation enabled on the add-on (--enable-secret-rotation). See
docs/operations.md.

flags:
`

func init() {
	register("refresh", "re-fetch a class's or a pod's mounted secrets now (class|pod)", func(ctx context.Context, args []string) error {
		return runRefresh(ctx, args, os.Stdout, os.Stderr, refreshClients)
	})
}

type refreshConnect func(kubeconfig, kubeContext string) (kubernetes.Interface, dynamic.Interface, error)

func refreshClients(kubeconfig, kubeContext string) (kubernetes.Interface, dynamic.Interface, error) {
	cfg, err := opsRestConfig(kubeconfig, kubeContext)
	if err != nil {
		return nil, nil, err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	return kc, dyn, nil
}

func runRefresh(ctx context.Context, args []string, stdout, stderr io.Writer, connect refreshConnect) error {
	fs := flag.NewFlagSet("refresh", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, refreshUsage); fs.PrintDefaults() }
	wait := fs.Duration("wait", 0, "wait up to this long for every affected pod's MountRotationComplete event (0: do not wait)")
	kubeconfig := fs.String("kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context to use (default: the current context)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 2 {
		if err := fs.Parse(rest[2:]); err != nil {
			return err
		}
		rest = append(rest[:2:2], fs.Args()...)
	}
	if len(rest) != 2 || (rest[0] != "class" && rest[0] != "pod") {
		fs.Usage()
		return errors.New("refresh: want class NAMESPACE/NAME or pod NAMESPACE/NAME")
	}
	ns, name, ok := strings.Cut(rest[1], "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("refresh %s: want NAMESPACE/NAME, got %q", rest[0], rest[1])
	}
	kube, dyn, err := connect(*kubeconfig, *kubeContext)
	if err != nil {
		return err
	}
	var value string
	pods := []string{name}
	if rest[0] == "class" {
		if value, err = refresh.Class(ctx, dyn, ns, name, time.Now()); err != nil {
			return err
		}
		if *wait > 0 {
			if pods, err = refresh.PodsUsing(ctx, kube, ns, name); err != nil {
				return err
			}
		}
	} else if value, err = refresh.Pod(ctx, kube, ns, name, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s/%s: %s=%s\n", rest[0], ns, name, refresh.Annotation, value)
	if *wait <= 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	if err := refresh.Wait(wctx, kube, ns, pods, value); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "refreshed: %s\n", strings.Join(pods, ", "))
	return nil
}
