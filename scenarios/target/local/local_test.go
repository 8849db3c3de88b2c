package local

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/provider/auth"
	"github.com/kvcsi/kvcsi/provider/keyvault"
	"github.com/kvcsi/kvcsi/scenarios"
)

// shared is the one local target of this test binary (a cluster takes a while
// to start, and the host allows one at a time); nil when not root.
var (
	shared   *Target
	startErr error
)

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run()
		}
		// No deadline of its own: the processes it starts may live as long
		// as ctx, and other packages' clusters may hold the host lock first;
		// go test's -timeout bounds the whole binary.
		ctx := context.Background()
		shared, startErr = Start(ctx, Options{Log: os.Stderr})
		code := m.Run()
		if shared != nil {
			if err := shared.Close(); err != nil {
				fmt.Fprintln(os.Stderr, "local target teardown:", err)
				code = 1
			}
		}
		return code
	}()
	os.Exit(code)
}

func needTarget(t testing.TB) *Target {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the local target runs a kubelet, mounts tmpfs and adds 169.254.169.254 to a bridge")
	}
	if startErr != nil {
		t.Fatalf("start the local target: %v", startErr)
	}
	return shared
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestStartWithoutRootSaysSo(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("needs a non-root user to see the refusal; root starts the target instead")
	}
	_, err := Start(context.Background(), Options{})
	if err == nil || !strings.Contains(err.Error(), "needs root") {
		t.Fatalf("Start without root = %v, want an error saying it needs root", err)
	}
}

// TestCatalogue is `make run`: every scenario on the local target, in order.
func TestCatalogue(t *testing.T) {
	tg := needTarget(t)
	results := scenarios.Run(context.Background(), tg, scenarios.Options{Progress: logWriter{t}})
	var b strings.Builder
	_ = scenarios.WriteTable(&b, results)
	t.Log("\n" + b.String())
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Scenario.Name, r.Err)
		}
	}
}

// runExpectingFailure runs one scenario and requires it to FAIL with an error
// containing want: the scenario notices the broken behaviour, for the right
// reason.
func runExpectingFailure(t *testing.T, tg *Target, name, want string) {
	t.Helper()
	sc, ok := scenarios.Find(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	r := scenarios.Run(context.Background(), tg, scenarios.Options{Scenarios: []scenarios.Scenario{sc}, Progress: logWriter{t}, Timeout: 4 * time.Minute})[0]
	if r.Err == nil {
		t.Fatalf("%s passed although its behaviour was broken on purpose", name)
	}
	if !strings.Contains(r.Err.Error(), want) {
		t.Fatalf("%s failed, but not for the broken behaviour (want %q in the error): %v", name, want, r.Err)
	}
	t.Logf("%s failed as it must: %v", name, r.Err)
}

// mustAddon makes a `kvcsi addon` command's change on the target or stops
// the test.
func mustAddon(t *testing.T, tg *Target, cmd scenarios.AddonCommand) {
	t.Helper()
	if err := tg.Addon(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
}

// mustUpdate changes the add-on's settings as `kvcsi addon update <flags>`
// does, or stops the test.
func mustUpdate(t *testing.T, tg *Target, change func(*addon.Config)) {
	t.Helper()
	m, err := addon.NewManager(tg.Kube().Config, logWriter{t})
	if err == nil {
		err = m.Update(context.Background(), change)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// rotationOn is the add-on as the catalogue's first scenario enables it.
var rotationOn = scenarios.AddonCommand{Verb: "update", Rotation: true, PollInterval: scenarios.RotationPollInterval.String()}

// ensureAddon enables the add-on as the catalogue's first scenario does, for
// when this test runs alone.
func ensureAddon(t *testing.T, tg *Target) {
	t.Helper()
	mustAddon(t, tg, scenarios.AddonCommand{Verb: "enable", Rotation: true, PollInterval: scenarios.RotationPollInterval.String()})
	if err := scenarios.WaitAddonPods(context.Background(), tg.Kube(), "--enable-secret-rotation=true"); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenBehaviourFails breaks one behaviour at a time in the real parts
// and shows that the scenario proving it fails.
func TestBrokenBehaviourFails(t *testing.T) {
	tg := needTarget(t)
	ctx := context.Background()
	k := tg.Kube()
	ensureAddon(t, tg)

	t.Run("sync turned off", func(t *testing.T) {
		// --sync-secret=false removes the driver's RBAC for Secrets: the
		// mounted content can no longer be mirrored into foosecret.
		mustUpdate(t, tg, func(c *addon.Config) { c.SyncSecret = false }) // --sync-secret=false
		defer mustUpdate(t, tg, func(c *addon.Config) { c.SyncSecret = true })
		runExpectingFailure(t, tg, "sync/opaque-secret", "foosecret")
	})

	t.Run("rotation turned off", func(t *testing.T) {
		mustUpdate(t, tg, func(c *addon.Config) { c.EnableSecretRotation = false }) // --disable-secret-rotation
		defer func() {
			mustAddon(t, tg, rotationOn)
			if err := scenarios.WaitAddonPods(ctx, k, "--enable-secret-rotation=true"); err != nil {
				t.Fatal(err)
			}
		}()
		if err := scenarios.WaitAddonPods(ctx, k, "--enable-secret-rotation=false"); err != nil {
			t.Fatal(err)
		}
		runExpectingFailure(t, tg, "rotation/autorotation", "mount not rotated")
	})

	t.Run("provider returns stale content", func(t *testing.T) {
		// A provider cache far longer than the test serves the old version
		// on every rotation poll.
		mustUpdate(t, tg, func(c *addon.Config) { c.ProviderExtraArgs = []string{"--cache-ttl=1h"} })
		defer func() {
			mustUpdate(t, tg, func(c *addon.Config) { c.ProviderExtraArgs = []string{"--cache-ttl=10s"} })
			if err := scenarios.WaitDaemonSetRolled(ctx, k, addon.Namespace, addon.ProviderName); err != nil {
				t.Fatal(err)
			}
		}()
		if err := scenarios.WaitDaemonSetRolled(ctx, k, addon.Namespace, addon.ProviderName); err != nil {
			t.Fatal(err)
		}
		runExpectingFailure(t, tg, "rotation/autorotation", "mount not rotated")
	})

	t.Run("provider ignores userAssignedIdentityID", func(t *testing.T) {
		// The provider asks IMDS for the node's default identity, which may
		// read the vault too: the mounted value is right, only the vault's
		// request counters show the wrong identity read it.
		setProviderEnv(t, tg, auth.BreakIgnoreUserAssignedIdentityEnv, "1")
		defer setProviderEnv(t, tg, auth.BreakIgnoreUserAssignedIdentityEnv, "")
		runExpectingFailure(t, tg, "identity/user-assigned-managed-identity", "identity "+scenarios.IdentityAddon)
	})

	t.Run("identity given access", func(t *testing.T) {
		// The no-access identity gets an access policy (the emulator is
		// re-seeded): the FailedMount the documentation promises never comes,
		// the pod starts instead.
		granted := *tg.Seed
		granted.Vaults = append([]kvemulator.VaultSeed(nil), tg.Seed.Vaults...)
		granted.Vaults[0].AccessPolicies = append(append([]kvemulator.AccessPolicySeed(nil), granted.Vaults[0].AccessPolicies...),
			kvemulator.AccessPolicySeed{Identity: "no-access", Secrets: []string{"get"}})
		if err := tg.Emulator.ApplySeed(&granted); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := tg.Emulator.ApplySeed(tg.Seed); err != nil {
				t.Fatal(err)
			}
		}()
		runExpectingFailure(t, tg, "identity/no-access", "no FailedMount event")
	})

	t.Run("provider logs secret values", func(t *testing.T) {
		// A provider that writes every fetched value to its container log:
		// the leak scan must find the value it mounts.
		setProviderEnv(t, tg, keyvault.BreakLogSecretValuesEnv, "1")
		defer setProviderEnv(t, tg, keyvault.BreakLogSecretValuesEnv, "")
		runExpectingFailure(t, tg, "security/no-secret-in-logs", "leak:")
	})
}

// setProviderEnv sets (value "") or removes one environment variable of the
// provider container, as an operator's kubectl set env would, and waits for
// the DaemonSet to roll.
func setProviderEnv(t *testing.T, tg *Target, name, value string) {
	t.Helper()
	env := fmt.Sprintf(`{"name":%q,"value":%q}`, name, value)
	if value == "" {
		env = fmt.Sprintf(`{"name":%q,"$patch":"delete"}`, name)
	}
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"provider-azure-installer","env":[` + env + `]}]}}}}`
	ctx := context.Background()
	k := tg.Kube()
	if _, err := k.Clientset.AppsV1().DaemonSets(addon.Namespace).Patch(ctx, addon.ProviderName, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := scenarios.WaitDaemonSetRolled(ctx, k, addon.Namespace, addon.ProviderName); err != nil {
		t.Fatal(err)
	}
}
