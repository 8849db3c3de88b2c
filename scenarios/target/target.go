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

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/scenarios"
)

// Base implements scenarios.Target.
type Base struct {
	TargetName string
	// Missing maps a scenario name to what the target lacks for it (e.g. an
	// identity the operator did not declare); the runner reports those
	// scenarios `skipped: <what is missing>`.
	Missing    map[string]string
	KubeClient *scenarios.Kube
	VaultImpl  scenarios.Vault
	IDs        map[string]string
	// AddonConfig sets what this target needs for `kvcsi addon enable|update`
	// (the image tag, the emulator's CA bundle and host aliases), as the
	// target's flags would; nil: nothing.
	AddonConfig func(*addon.Config)
	// Out receives the add-on manager's output; discarded when nil.
	Out io.Writer
	// Closers run in reverse order on Close.
	Closers []func() error
}

var _ scenarios.Target = (*Base)(nil)

func (b *Base) Name() string { return b.TargetName }

// MissingPrerequisite implements scenarios.PrerequisiteTarget.
func (b *Base) MissingPrerequisite(scenario string) string { return b.Missing[scenario] }
func (b *Base) Kube() *scenarios.Kube                      { return b.KubeClient }
func (b *Base) Vault() scenarios.Vault                     { return b.VaultImpl }
func (b *Base) Identities() map[string]string              { return b.IDs }

// Addon makes the add-on manager calls `kvcsi addon <cmd>` makes, with the
// target's settings for enable and update.
func (b *Base) Addon(ctx context.Context, cmd scenarios.AddonCommand) error {
	out := b.Out
	if out == nil {
		out = io.Discard
	}
	m, err := addon.NewManager(b.KubeClient.Config, out)
	if err == nil {
		switch cmd.Verb {
		case "enable":
			c := addon.DefaultConfig(addon.DefaultImageTag())
			b.AddonSettings(cmd)(&c)
			err = m.Enable(ctx, c)
		case "update":
			err = m.Update(ctx, b.AddonSettings(cmd))
		case "disable":
			err = m.Disable(ctx, addon.DisableOptions{})
		default:
			err = fmt.Errorf("unknown add-on command %q: use enable, update or disable", cmd.Verb)
		}
	}
	if err != nil {
		return fmt.Errorf("kvcsi addon %s: %w", cmd, err)
	}
	return nil
}

// AddonSettings is how enable and update change the add-on's settings: the
// target's, then the command's flags.
func (b *Base) AddonSettings(cmd scenarios.AddonCommand) func(*addon.Config) {
	return func(c *addon.Config) {
		if b.AddonConfig != nil {
			b.AddonConfig(c)
		}
		if cmd.Rotation {
			c.EnableSecretRotation = true
		}
		if cmd.PollInterval != "" {
			c.RotationPollInterval = cmd.PollInterval
		}
	}
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

// DefaultImageTag is the image tag `kvcsi addon` installs by default, so the
// images built for a run and the ones the add-on installs agree.
func DefaultImageTag() string { return addon.DefaultImageTag() }

// EmulatorAddonConfig is what the add-on needs to reach an emulator answering
// as the public cloud: the images built for this run, the emulator's CA
// (caPEM), and the vault and login names resolving to ip in the provider pods.
func EmulatorAddonConfig(tag, caPEM, ip string) func(*addon.Config) {
	return func(c *addon.Config) {
		c.ImageTag = tag
		c.ProviderCABundle = caPEM
		c.ProviderHostAliases = []addon.HostAlias{{IP: ip, Hostnames: []string{VaultName + ".vault.azure.net", "login.microsoftonline.com"}}}
	}
}
