package scenarios

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Result is the outcome of one scenario.
type Result struct {
	Scenario Scenario
	Err      error
	Duration time.Duration
	// Figures are what the scenario measured (Env.Figure), e.g.
	// "10,412 reads, 112 rotations, 0 torn"; empty when it recorded none.
	Figures string
}

// Passed says whether the behaviour held.
func (r Result) Passed() bool { return r.Err == nil }

// Options tune a run.
type Options struct {
	// Scenarios to run, in order; the whole catalogue when nil.
	Scenarios []Scenario
	// Progress receives a line per scenario as it starts and ends.
	Progress io.Writer
	// Timeout bounds each scenario; 5 minutes when zero.
	Timeout time.Duration
	// KeepNamespaces leaves each scenario's namespace behind for debugging.
	KeepNamespaces bool
}

// Run runs the scenarios on target one after another and returns every result;
// a failing scenario does not stop the run.
func Run(ctx context.Context, target Target, opts Options) []Result {
	list := opts.Scenarios
	if list == nil {
		list = Catalogue()
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	results := make([]Result, 0, len(list))
	for i, sc := range list {
		fmt.Fprintf(opts.Progress, "=== RUN   [%d/%d] %s — %s\n", i+1, len(list), sc.Name, sc.Summary)
		start := time.Now()
		var figures string
		var err error
		if missing := missingPrerequisite(target, sc.Name); missing != "" {
			err = skipf("%s", missing)
		} else {
			err = runOne(ctx, target, sc, opts, &figures)
		}
		r := Result{Scenario: sc, Err: err, Duration: time.Since(start).Round(100 * time.Millisecond), Figures: figures}
		results = append(results, r)
		if r.Skipped() {
			fmt.Fprintf(opts.Progress, "--- SKIP  %s (%s)\n    %s\n", sc.Name, r.Duration, indent(err.Error()))
		} else if err != nil {
			fmt.Fprintf(opts.Progress, "--- FAIL  %s (%s)\n    %s\n", sc.Name, r.Duration, indent(err.Error()))
		} else {
			fmt.Fprintf(opts.Progress, "--- PASS  %s (%s)\n", sc.Name, r.Duration)
		}
		if r.Figures != "" {
			fmt.Fprintf(opts.Progress, "    figures: %s\n", r.Figures)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return results
}

func runOne(ctx context.Context, target Target, sc Scenario, opts Options, figures *string) (err error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	ns := Namespace(sc.Name)
	k := target.Kube()
	if err := createNamespace(ctx, k, ns); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	if !opts.KeepNamespaces {
		defer func() {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer dcancel()
			if derr := deleteNamespace(dctx, k, ns); derr != nil && err == nil {
				err = fmt.Errorf("clean up namespace %s: %w", ns, derr)
			}
		}()
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	env := &Env{Target: target, Namespace: ns, logf: func(format string, args ...any) {
		fmt.Fprintf(opts.Progress, "    "+format+"\n", args...)
	}}
	defer func() { *figures = env.Figures() }()
	return sc.Run(ctx, env)
}

func createNamespace(ctx context.Context, k *Kube, ns string) error {
	// A namespace left by an interrupted run is removed first, so each
	// scenario starts from nothing.
	if err := deleteNamespace(ctx, k, ns); err != nil {
		return err
	}
	_, err := k.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"app.kubernetes.io/part-of": "kvcsi-scenarios"}},
	}, metav1.CreateOptions{})
	return err
}

func deleteNamespace(ctx context.Context, k *Kube, ns string) error {
	// The documentation's busybox runs "sleep" as PID 1, which ignores
	// SIGTERM: without this every pod would hold the namespace for its
	// 30-second grace period. The scenario is over, so nothing is lost.
	zero := int64(0)
	if err := k.Clientset.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the pods of %s: %w", ns, err)
	}
	err := k.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return k.Eventually(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		_, err := k.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n    ") }

// Namespace is the namespace the runner gives the scenario name:
// "kvcsi-<group>-<behaviour>". Seeds that trust a namespace (workload and pod
// identity) use it too.
func Namespace(scenario string) string {
	ns := "kvcsi-" + strings.NewReplacer("/", "-", "_", "-").Replace(scenario)
	if len(ns) > 63 {
		ns = ns[:63]
	}
	return ns
}
