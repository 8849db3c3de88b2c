// Package local is the scenarios' default target: the local single-node
// cluster (localcluster) with kvcsi's images loaded, and the Key Vault
// emulator running in this process where the provider reaches it as the
// public cloud, as CONTRIBUTING.md's "How the provider reaches the emulator"
// describes:
//
//   - the emulator answers as <vault>.vault.azure.net and
//     login.microsoftonline.com on <node IP>:443, and the add-on is enabled
//     with host aliases for those names and the emulator's CA bundle;
//   - IMDS (managed identity) is 169.254.169.254:80, an address the harness
//     puts on the cluster's bridge;
//   - NMI (pod identity) is 127.0.0.1:2579, on the host's loopback that the
//     hostNetwork provider shares;
//   - workload identity assertions are the cluster's service-account tokens,
//     verified with its issuer and public key.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/kvcsi/kvcsi/addon"
	"github.com/kvcsi/kvcsi/images"
	"github.com/kvcsi/kvcsi/kvemulator"
	"github.com/kvcsi/kvcsi/localcluster"
	"github.com/kvcsi/kvcsi/scenarios"
	"github.com/kvcsi/kvcsi/scenarios/target"
	"github.com/kvcsi/kvcsi/scenarios/target/azvault"
)

// IMDSAddress is where managed-identity clients look for tokens.
const IMDSAddress = "169.254.169.254"

// NMIAddr is where the provider's --nmi-endpoint default points.
const NMIAddr = "127.0.0.1:2579"

// Options tune Start; the zero value works (as root).
type Options struct {
	// RunDir is the local cluster's state directory (default: localcluster's).
	RunDir string
	// ImageTag tags kvcsi's images and is given to `kvcsi addon --image-tag`
	// (default: this binary's version, made a valid tag).
	ImageTag string
	// ImagesDir receives the image tarballs (default ImagesDir(ImageTag)).
	ImagesDir string
	// Log receives progress lines; discarded when nil.
	Log io.Writer
	// KeepRunDir leaves the cluster's logs behind after Close.
	KeepRunDir bool
}

// Target is the local target; Close stops the emulator and the cluster and
// undoes the host changes.
type Target struct {
	target.Base
	Cluster  *localcluster.Cluster
	Emulator *kvemulator.Server
	// Seed is what the emulator was seeded with (tests re-seed variants).
	Seed *kvemulator.Seed
	// emulatorConfig starts the emulator again (RestartEmulator).
	emulatorConfig kvemulator.Config
}

// Start starts everything the local target needs. It needs root (mounts,
// network, the kubelet); without root it fails at once saying so.
func Start(ctx context.Context, o Options) (_ *Target, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("the local target needs root: it starts a kubelet, mounts tmpfs and adds 169.254.169.254 to a bridge; run as root (sudo -E make run) or use --target kind|aks")
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, a ...any) { fmt.Fprintf(logw, "[local] "+format+"\n", a...) }
	tag := o.ImageTag
	if tag == "" {
		tag = target.DefaultImageTag()
	}
	t := &Target{Base: target.Base{TargetName: "local", Out: logw}}
	defer func() {
		if err != nil {
			if cerr := t.Close(); cerr != nil {
				err = fmt.Errorf("%w (and tearing down: %v)", err, cerr)
			}
		}
	}()

	// Images first: building them is the slow cold step and needs no root
	// state, so a build error leaves the host untouched.
	start := time.Now()
	logf("building images (tag %s)", tag)
	if o.ImagesDir == "" {
		o.ImagesDir = ImagesDir(tag)
	}
	imgs, err := images.Build(ctx, images.Options{Version: tag, OutDir: o.ImagesDir,
		Only: Images,
		Logf: func(f string, a ...any) { logf(f, a...) }})
	if err != nil {
		return nil, fmt.Errorf("build images: %w", err)
	}
	logf("images ready in %s", time.Since(start).Round(100*time.Millisecond))

	start = time.Now()
	logf("starting the local cluster")
	c, err := localcluster.Start(ctx, localcluster.Config{RunDir: o.RunDir, KeepRunDir: o.KeepRunDir,
		Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		return nil, fmt.Errorf("start the local cluster: %w", err)
	}
	t.Cluster = c
	t.Closers = append(t.Closers, c.Stop)
	logf("cluster up in %s (node IP %s)", time.Since(start).Round(100*time.Millisecond), c.NodeIP())

	var tarballs []string
	for _, im := range imgs {
		tarballs = append(tarballs, im.Path)
	}
	if err := c.LoadImages(ctx, tarballs...); err != nil {
		return nil, err
	}
	if _, err := c.AddHostAddress(IMDSAddress + "/32"); err != nil {
		return nil, fmt.Errorf("route IMDS to the emulator: %w", err)
	}

	seed, ids, err := target.NewSeed(c.ServiceAccountIssuer())
	if err != nil {
		return nil, err
	}
	tlsDir := filepath.Join(c.RunDir(), "kvemulator")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, err
	}
	// The emulator logs beside the cluster's processes, so the secret-leak
	// scan (security/no-secret-in-logs) reads it with theirs.
	emuLog, err := os.OpenFile(filepath.Join(c.RunDir(), "logs", "kvemulator.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("emulator log: %w", err)
	}
	t.Closers = append(t.Closers, emuLog.Close)
	t.emulatorConfig = kvemulator.Config{
		Logger:                 slog.New(slog.NewTextHandler(emuLog, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Addr:                   c.NodeIP() + ":443",
		AzureNames:             true,
		TLSDir:                 tlsDir,
		Seed:                   seed,
		IMDSAddr:               IMDSAddress + ":80",
		NMIAddr:                NMIAddr,
		ServiceAccountIssuer:   c.ServiceAccountIssuer(),
		ServiceAccountKeyFiles: []string{c.ServiceAccountPublicKeyFile()},
		DisableThrottling:      true,
		// Persisted, so faults/emulator-restart-persists can restart it.
		StateDir: filepath.Join(tlsDir, "state"),
	}
	// A state left by an earlier run holds another seed: start from this one.
	if err := os.RemoveAll(t.emulatorConfig.StateDir); err != nil {
		return nil, err
	}
	srv, err := kvemulator.Start(ctx, t.emulatorConfig)
	if err != nil {
		return nil, fmt.Errorf("start the emulator on %s:443: %w", c.NodeIP(), err)
	}
	t.Emulator = srv
	t.Seed = seed
	t.Closers = append(t.Closers, srv.Close)
	logf("emulator answers as %s and login.microsoftonline.com on %s", srv.AzureVaultURL(target.VaultName), srv.Addr())

	k, err := scenarios.NewKube(c.RESTConfig())
	if err != nil {
		return nil, err
	}
	t.KubeClient = k
	t.IDs = ids.Placeholders()
	v, err := emulatorVault(srv, ids)
	if err != nil {
		return nil, err
	}
	t.VaultImpl = &target.EmulatorVault{Vault: v, Admin: srv.Admin()}
	caPEM, err := addon.ReadCABundle(srv.CAFile())
	if err != nil {
		return nil, err
	}
	t.AddonConfig = target.EmulatorAddonConfig(tag, caPEM, c.NodeIP())
	return t, nil
}

// emulatorVault is the vault through the real SDK clients, authenticated as
// the harness's own service principal, over the emulator's transport.
func emulatorVault(srv *kvemulator.Server, ids *target.Identities) (*azvault.Vault, error) {
	opts := azcore.ClientOptions{Transport: srv.HTTPClient()}
	cred, err := azidentity.NewClientSecretCredential(ids.TenantID, ids.AdminClientID, ids.AdminSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		return nil, err
	}
	return azvault.New(target.VaultName, ids.TenantID, srv.AzureVaultURL(target.VaultName), cred, opts)
}

// ImagesDir is where scenario runs of image tag build their image tarballs:
// a directory per tag, so that neither a concurrent `make images` nor a
// concurrent run of another version (waiting for the host lock while this
// one builds, or building while this one waits) replaces a tarball between
// its build and its import — the tarballs' names carry no tag. The build is
// incremental, so it is kept between runs.
func ImagesDir(tag string) string { return filepath.Join(os.TempDir(), "kvcsi-scenarios-images", tag) }

// Images are the images a scenario cluster needs.
var Images = []string{"secrets-store-csi-driver", "secrets-store-provider-azure", "secrets-store-sync-controller", "csi-node-driver-registrar", "livenessprobe", "busybox", "pause", "kvemulator"}

// Close stops the emulator and the cluster, restoring the host.
func (t *Target) Close() error { return t.Base.Close() }
