package scenarios

import (
	"context"
	"time"

	"github.com/kvcsi/kvcsi/kvemulator"
)

// faultScenarios is this file's group of the catalogue (see catalogue.go):
// the failures a node meets in production (issue 15), each with its
// figures in the report.
var faultScenarios = []Scenario{
	faultsTornReads,
	faultsProviderCrash,
	faultsThrottlingStorm,
	faultsAPIServerOutage,
	faultsKubeletRestart,
	faultsTargetUnmounted,
	faultsDriverRestart,
	faultsErrorsAndLatency,
	faultsEmulatorRestart,
	faultsPartialFailure,
}

// FaultScenarios returns the faults/ group, in order (the break-on-purpose
// tests pick theirs from it).
func FaultScenarios() []Scenario { return append([]Scenario(nil), faultScenarios...) }

// FaultTarget is what a target offers the faults/ scenarios: control of the
// node's processes and of the vault's behaviour. The local target
// implements it (it runs the cluster's processes and the emulator); kind
// and aks do not, and the scenarios needing it are skipped there, saying why.
type FaultTarget interface {
	// StopComponent and StartComponent stop and start kube-apiserver or
	// the kubelet; Start waits until it is healthy.
	StopComponent(name string) error
	StartComponent(ctx context.Context, name string) error
	// KillContainer kills a container (the pod status's container ID) with
	// SIGKILL through the container runtime, as a crash would.
	KillContainer(ctx context.Context, id string) error
	// AddVaultFault installs a fault rule in the emulator (429, 5xx,
	// latency, dropped connections) and returns its id; ClearVaultFaults
	// removes every rule; VaultFaults says how many requests the active
	// rules answered so far and how many rules are still active (a rule
	// with a Count is removed once used up).
	AddVaultFault(f kvemulator.Fault) (string, error)
	ClearVaultFaults() error
	VaultFaults() (applied, active int, err error)
	// NodeFile reads a file of the node's filesystem (e.g. a pod's volume
	// under /var/lib/kubelet).
	NodeFile(path string) ([]byte, error)
	// Unmount unmounts a mount point of the node behind the driver's back.
	Unmount(path string) error
	// RestartEmulator restarts the vault emulator with its state directory;
	// VaultState is its whole state as JSON (never logged: it holds the
	// secret values).
	RestartEmulator(ctx context.Context) error
	VaultState() ([]byte, error)
	// SetSecretDisabled stores a new version of a secret disabled from the
	// start (Key Vault answers its GET 403 Forbidden); SetSecretEnabled
	// enables or disables one version.
	SetSecretDisabled(ctx context.Context, name, value string) (version string, err error)
	SetSecretEnabled(ctx context.Context, name, version string, enabled bool) error
	// SetVaultAccess replaces the permissions identity (a name of the
	// emulated tenant, e.g. IdentityAddon) has by access policy on one
	// object kind ("secrets", "keys" or "certificates") of the vault, as
	// `az keyvault set-policy` would, and returns the ones it had: Key
	// Vault answers a permission taken away 403 Forbidden (AccessDenied)
	// from the next request.
	SetVaultAccess(ctx context.Context, identity, kind string, permissions []string) (previous []string, err error)
}

// faultTarget returns the target's FaultTarget, or the skip error that
// says why the scenario cannot run here (kind and aks give no control of the
// node's processes or the vault's faults): never a pass that checked nothing.
func faultTarget(env *Env) (FaultTarget, error) {
	ft, ok := env.Target.(FaultTarget)
	if !ok {
		return nil, skipf("target %s gives no control of the node's processes or the vault's faults (FaultTarget); this scenario runs on the local target", env.Target.Name())
	}
	return ft, nil
}

// faultsSettle bounds how long the cluster may take to recover after a
// fault is lifted (pods restarted, mounts retried with backoff).
const faultsSettle = 3 * time.Minute
