package local

import (
	"context"
	"os"

	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/scenarios"
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

// VaultFaultsApplied sums the requests the active rules answered.
func (t *Target) VaultFaultsApplied() (int, error) {
	fs, err := t.Emulator.Admin().Faults()
	n := 0
	for _, f := range fs {
		n += f.Applied
	}
	return n, err
}

var _ scenarios.FaultTarget = (*Target)(nil)

// NodeFile reads a file of the node (this host).
func (t *Target) NodeFile(path string) ([]byte, error) { return os.ReadFile(path) }
