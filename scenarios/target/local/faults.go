package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target"
)

// The local target is a scenarios.FaultTarget: it runs the cluster's
// processes (localcluster) and the emulator (its fault API), and the
// harness runs on the node.

// StopComponent stops kube-apiserver or the kubelet.
func (t *Target) StopComponent(name string) error { return t.Cluster.StopComponent(name) }

// StartComponent starts it again and waits until it is healthy.
func (t *Target) StartComponent(ctx context.Context, name string) error {
	return t.Cluster.StartComponent(ctx, name)
}

// KillContainer kills a container with SIGKILL through containerd.
func (t *Target) KillContainer(ctx context.Context, id string) error {
	return t.Cluster.KillContainer(ctx, id)
}

// AddVaultFault installs an emulator fault rule.
func (t *Target) AddVaultFault(f kvemulator.Fault) (string, error) {
	out, err := t.Emulator.Admin().AddFault(f)
	return out.ID, err
}

// ClearVaultFaults removes every emulator fault rule.
func (t *Target) ClearVaultFaults() error { return t.Emulator.Admin().ClearFaults() }

// VaultFaults sums the requests the active rules answered and counts them.
func (t *Target) VaultFaults() (applied, active int, err error) {
	fs, err := t.Emulator.Admin().Faults()
	for _, f := range fs {
		applied += f.Applied
	}
	return applied, len(fs), err
}

var _ scenarios.FaultTarget = (*Target)(nil)

// NodeFile reads a file of the node (this host).
func (t *Target) NodeFile(path string) ([]byte, error) { return os.ReadFile(path) }

// Unmount unmounts a mount point of the node (lazily, as a careless admin
// or a node cleanup script would).
func (t *Target) Unmount(path string) error { return syscall.Unmount(path, syscall.MNT_DETACH) }

// RestartEmulator closes the emulator (it saves its state to its state
// directory) and starts it again with the same configuration, as a restart
// of the kvemulator process with --state-dir would.
func (t *Target) RestartEmulator(ctx context.Context) error {
	if err := t.Emulator.Close(); err != nil {
		return fmt.Errorf("stop the emulator: %w", err)
	}
	srv, err := kvemulator.Start(ctx, t.emulatorConfig)
	if err != nil {
		return fmt.Errorf("start the emulator again: %w", err)
	}
	t.Emulator = srv
	t.Closers = append(t.Closers, srv.Close)
	if ev, ok := t.VaultImpl.(*target.EmulatorVault); ok {
		ev.Admin = srv.Admin()
	}
	return nil
}

// VaultState is the emulator's whole state (tenants, identities, vaults with
// every version, soft-deleted object and access policy) as JSON.
func (t *Target) VaultState() ([]byte, error) {
	st, err := t.Emulator.Admin().Snapshot()
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
}

func (t *Target) azVault() (*target.EmulatorVault, error) {
	ev, ok := t.VaultImpl.(*target.EmulatorVault)
	if !ok {
		return nil, fmt.Errorf("the local target's vault is not the emulator's")
	}
	return ev, nil
}

// SetSecretDisabled stores a new, disabled version of a secret.
func (t *Target) SetSecretDisabled(ctx context.Context, name, value string) (string, error) {
	ev, err := t.azVault()
	if err != nil {
		return "", err
	}
	return ev.Vault.SetSecretDisabled(ctx, name, value)
}

// SetSecretEnabled enables or disables one version of a secret.
func (t *Target) SetSecretEnabled(ctx context.Context, name, version string, enabled bool) error {
	ev, err := t.azVault()
	if err != nil {
		return err
	}
	return ev.Vault.SetSecretEnabled(ctx, name, version, enabled)
}

// SetVaultAccess changes the identity's access policy on one object kind of
// the target's vault through the emulator's admin API.
func (t *Target) SetVaultAccess(ctx context.Context, identity, kind string, permissions []string) ([]string, error) {
	perms := append([]string{}, permissions...)
	var ch kvemulator.AccessPolicyChange
	switch kind {
	case "secrets":
		ch.Secrets = &perms
	case "keys":
		ch.Keys = &perms
	case "certificates":
		ch.Certificates = &perms
	default:
		return nil, fmt.Errorf("access-policy kind %q: use secrets, keys or certificates", kind)
	}
	res, err := t.Emulator.Admin().SetAccessPolicy(t.Vault().Name(), identity, ch)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "secrets":
		return res.Previous.Secrets, nil
	case "keys":
		return res.Previous.Keys, nil
	}
	return res.Previous.Certificates, nil
}
