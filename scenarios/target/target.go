// Package target holds what the local, kind and aks scenario targets share:
// a Base that implements scenarios.Target from a kubeconfig, a vault and the
// add-on flags the target needs. The sub-packages only differ in how they get
// a cluster and a vault.
package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/scenarios"
)

// Base implements scenarios.Target.
type Base struct {
	TargetName string
	KubeClient *scenarios.Kube
	// Kubeconfig and Context are what `kvcsi addon` connects with.
	Kubeconfig, Context string
	VaultImpl           scenarios.Vault
	IDs                 map[string]string
	// AddonFlags are appended to `kvcsi addon enable|update`: the image tag,
	// the emulator's CA bundle and host aliases.
	AddonFlags []string
	// Out receives the add-on manager's output; discarded when nil.
	Out io.Writer
	// Closers run in reverse order on Close.
	Closers []func() error
}

var _ scenarios.Target = (*Base)(nil)

func (b *Base) Name() string                  { return b.TargetName }
func (b *Base) Kube() *scenarios.Kube         { return b.KubeClient }
func (b *Base) Vault() scenarios.Vault        { return b.VaultImpl }
func (b *Base) Identities() map[string]string { return b.IDs }

// Addon runs `kvcsi addon <args>` in-process, exactly as the CLI does, with
// the target's connection and, for enable and update, its add-on flags.
func (b *Base) Addon(ctx context.Context, args ...string) error {
	full := AddonArgs(args, b.Kubeconfig, b.Context, b.AddonFlags)
	out := b.Out
	if out == nil {
		out = io.Discard
	}
	if err := addon.Run(ctx, full, out); err != nil {
		return fmt.Errorf("kvcsi addon %s: %w", args[0], err)
	}
	return nil
}

// AddonArgs is the command line Addon runs: the sub-command, the target's
// connection, its add-on flags (enable and update only), then the caller's
// flags, which win when repeated.
func AddonArgs(args []string, kubeconfig, kubeContext string, addonFlags []string) []string {
	if len(args) == 0 {
		return nil
	}
	full := []string{args[0]}
	if kubeconfig != "" {
		full = append(full, "--kubeconfig", kubeconfig)
	}
	if kubeContext != "" {
		full = append(full, "--context", kubeContext)
	}
	if args[0] == "enable" || args[0] == "update" {
		full = append(full, addonFlags...)
	}
	return append(full, args[1:]...)
}

// Close runs the closers, last first, and joins their errors.
func (b *Base) Close() error {
	var errs []error
	for _, c := range slices.Backward(b.Closers) {
		errs = append(errs, c())
	}
	b.Closers = nil
	return errors.Join(errs...)
}

// DefaultImageTag is this binary's version as an image tag, computed as
// `kvcsi addon` computes its default, so the images built for a run and the
// ones the add-on installs agree.
func DefaultImageTag() string {
	v := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, buildinfo.Version)
	v = strings.TrimLeft(v, ".-")
	if v == "" {
		return "dev"
	}
	return v
}
