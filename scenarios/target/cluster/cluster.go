// Package cluster is the scenario target for any existing cluster, given by a
// kubeconfig: "kind" deploys the Key Vault emulator into the cluster and
// points the provider at it (the path `make e2e` and CI take), "aks" uses a
// real Key Vault and identities named by environment variables.
package cluster

import (
	"errors"
	"fmt"
	"io"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target"
)

// ErrSkipped says a target cannot run here for a missing capability (the aks
// target without its environment); the message says what to set.
var ErrSkipped = errors.New("skipped")

// Options for StartKind and StartAKS.
type Options struct {
	// Kubeconfig and Context select the cluster (default: $KUBECONFIG, then
	// ~/.kube/config, current context).
	Kubeconfig, Context string
	// ImageTag tags kvcsi's images (default: this binary's version).
	ImageTag string
	// Log receives progress; discarded when nil.
	Log io.Writer
}

func (o Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

// connect loads the kubeconfig as kubectl does and returns the base target.
func connect(name string, o Options) (*target.Base, *rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context}).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("%s target: load kubeconfig: %w; give --kubeconfig or set KUBECONFIG", name, err)
	}
	k, err := scenarios.NewKube(cfg)
	if err != nil {
		return nil, nil, err
	}
	out := o.Log
	if out == nil {
		out = io.Discard
	}
	return &target.Base{TargetName: name, KubeClient: k, Out: out}, cfg, nil
}
