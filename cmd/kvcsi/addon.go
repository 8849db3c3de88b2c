package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/kvcsi/kvcsi/addon"
)

// addonUsage is the help text of `kvcsi addon`.
const addonUsage = `usage: kvcsi addon <enable|update|disable|status> [flags]

  enable    install the driver and provider DaemonSets (AKS names) in kube-system
  update    change rotation (or other settings) in place; the DaemonSets roll
  disable   remove the add-on; refused while any SecretProviderClass exists
  status    show what is installed and its settings

Run "kvcsi addon <command> -h" for the flags of a command.
`

func init() {
	register("addon", "enable, update, disable or show the Key Vault secrets provider add-on", func(ctx context.Context, args []string) error {
		return runAddon(ctx, args, os.Stdout, addon.RESTConfig)
	})
}

// connectFunc builds the client config from the connection flags; tests
// replace it.
type connectFunc func(kubeconfig, kubeContext string) (*rest.Config, error)

// addonCommands are the `kvcsi addon` subcommands. Each parses and validates
// everything, renders the objects, and only then connects and writes.
var addonCommands = map[string]func(ctx context.Context, fs *addonFlagSet, args []string) error{
	"enable":  addonEnable,
	"update":  addonUpdate,
	"disable": addonDisable,
	"status":  addonStatus,
}

// runAddon is `kvcsi addon ...`.
func runAddon(ctx context.Context, args []string, out io.Writer, connect connectFunc) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, addonUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	cmd, ok := addonCommands[sub]
	if !ok {
		fmt.Fprint(out, addonUsage)
		return fmt.Errorf("unknown addon command %q: use enable, update, disable or status", sub)
	}
	err := cmd(ctx, newAddonFlagSet(sub, out, connect), args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// addonFlagSet is one subcommand's flags with the connection flags every
// subcommand has.
type addonFlagSet struct {
	*flag.FlagSet
	out                     io.Writer
	connect                 connectFunc
	kubeconfig, kubeContext string
	set                     map[string]bool
}

func newAddonFlagSet(sub string, out io.Writer, connect connectFunc) *addonFlagSet {
	fs := &addonFlagSet{FlagSet: flag.NewFlagSet("kvcsi addon "+sub, flag.ContinueOnError), out: out, connect: connect}
	fs.SetOutput(out)
	fs.StringVar(&fs.kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&fs.kubeContext, "context", "", "kubeconfig context to use (default: the current context)")
	return fs
}

// parse parses flags only and records which were given.
func (fs *addonFlagSet) parse(args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (flags only)", fs.Name(), fs.Arg(0))
	}
	fs.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { fs.set[f.Name] = true })
	return nil
}

// manager connects; called only after every flag is checked.
func (fs *addonFlagSet) manager() (*addon.Manager, error) {
	rc, err := fs.connect(fs.kubeconfig, fs.kubeContext)
	if err != nil {
		return nil, err
	}
	return addon.NewManager(rc, fs.out)
}

func addonEnable(ctx context.Context, fs *addonFlagSet, args []string) error {
	cfgFlags := bindConfigFlags(fs.FlagSet, addon.DefaultImageTag())
	if err := fs.parse(args); err != nil {
		return err
	}
	c := addon.DefaultConfig(addon.DefaultImageTag())
	if err := cfgFlags.applyTo(&c, fs.set); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	// Render now: a chart error must come before the first connection.
	if _, err := addon.Objects(c, ""); err != nil {
		return err
	}
	m, err := fs.manager()
	if err != nil {
		return err
	}
	return m.Enable(ctx, c)
}

func addonUpdate(ctx context.Context, fs *addonFlagSet, args []string) error {
	cfgFlags := bindConfigFlags(fs.FlagSet, addon.DefaultImageTag())
	disable := fs.Bool("disable-secret-rotation", false, "turn secret rotation off")
	if err := fs.parse(args); err != nil {
		return err
	}
	set := fs.set
	if *disable && set["enable-secret-rotation"] {
		return errors.New("--enable-secret-rotation and --disable-secret-rotation contradict each other: give one")
	}
	if len(set) == 0 || (len(set) == 1 && (set["kubeconfig"] || set["context"])) {
		return errors.New("kvcsi addon update: nothing to change; give e.g. --enable-secret-rotation --rotation-poll-interval 5m")
	}
	// Check the given flags against a default config, so that bad values
	// fail before connecting; the stored config is changed the same way.
	probe := addon.DefaultConfig(addon.DefaultImageTag())
	if err := cfgFlags.applyTo(&probe, set); err != nil {
		return err
	}
	if err := probe.Validate(); err != nil {
		return err
	}
	m, err := fs.manager()
	if err != nil {
		return err
	}
	return m.Update(ctx, func(c *addon.Config) {
		_ = cfgFlags.applyTo(c, set) // already checked above
		if *disable {
			c.EnableSecretRotation = false
		}
	})
}

func addonDisable(ctx context.Context, fs *addonFlagSet, args []string) error {
	keepCRDs := fs.Bool("keep-crds", false, "leave the SecretProviderClass CRDs installed")
	if err := fs.parse(args); err != nil {
		return err
	}
	m, err := fs.manager()
	if err != nil {
		return err
	}
	return m.Disable(ctx, addon.DisableOptions{KeepCRDs: *keepCRDs})
}

func addonStatus(ctx context.Context, fs *addonFlagSet, args []string) error {
	if err := fs.parse(args); err != nil {
		return err
	}
	m, err := fs.manager()
	if err != nil {
		return err
	}
	s, err := m.Status(ctx)
	if err != nil {
		return err
	}
	s.Write(fs.out)
	return nil
}

// configFlags are the settings flags shared by enable and update.
type configFlags struct {
	rotation     bool
	interval     string
	sync         bool
	registry     string
	tag          string
	official     bool
	caBundleFile string
	hostAliases  multiFlag
	extraArgs    multiFlag
	syncCtl      bool
	cloudName    string
	windowsTag   string
}

func bindConfigFlags(fs *flag.FlagSet, tag string) *configFlags {
	f := &configFlags{}
	fs.BoolVar(&f.rotation, "enable-secret-rotation", false, "turn on secret rotation (polling)")
	fs.StringVar(&f.interval, "rotation-poll-interval", addon.DefaultRotationPollInterval, "rotation poll interval (Go duration, e.g. 2m, 30s)")
	fs.BoolVar(&f.sync, "sync-secret", true, "allow syncing mounted objects into Kubernetes Secrets (secretObjects)")
	fs.StringVar(&f.registry, "image-registry", "ghcr.io/kvcsi", "registry and path of the kvcsi images")
	fs.StringVar(&f.tag, "image-tag", tag, "tag of the kvcsi images")
	fs.BoolVar(&f.official, "official-sidecars", false, "use the registry.k8s.io/sig-storage registrar and livenessprobe images")
	fs.StringVar(&f.caBundleFile, "provider-ca-bundle", "", "PEM `file` of extra CA certificates the provider trusts (e.g. the emulator's CA)")
	fs.Var(&f.hostAliases, "provider-host-alias", "`IP=host1,host2` host alias for the provider pods (repeatable)")
	fs.Var(&f.extraArgs, "provider-extra-arg", "extra provider `--flag=value` (repeatable)")
	fs.BoolVar(&f.syncCtl, "enable-secret-sync-controller", false, "install the secrets-store-sync-controller (SecretSync objects synced without a pod; polls at --rotation-poll-interval when rotation is on, else 12h)")
	fs.StringVar(&f.cloudName, "cloud-name", "", "the provider's --cloud-name: AzurePublicCloud (default), AzureUSGovernmentCloud, AzureChinaCloud, AzureGermanCloud, AzureStackCloud")
	fs.StringVar(&f.windowsTag, "windows-image-tag", "", "tag of your Windows images in --image-registry; with it the Windows DaemonSets are installed when the cluster has Windows nodes (docs/deploy.md#windows-images)")
	return f
}

// applyTo changes c only where a flag was given, so update keeps the rest.
func (f *configFlags) applyTo(c *addon.Config, set map[string]bool) error {
	if set["enable-secret-rotation"] {
		c.EnableSecretRotation = f.rotation
	}
	if set["rotation-poll-interval"] {
		c.RotationPollInterval = f.interval
	}
	if set["sync-secret"] {
		c.SyncSecret = f.sync
	}
	if set["image-registry"] {
		c.ImageRegistry = f.registry
	}
	if set["image-tag"] {
		c.ImageTag = f.tag
	}
	if set["official-sidecars"] {
		c.OfficialSidecars = f.official
	}
	if set["provider-ca-bundle"] {
		c.ProviderCABundle = ""
		if f.caBundleFile != "" {
			pem, err := addon.ReadCABundle(f.caBundleFile)
			if err != nil {
				return fmt.Errorf("--provider-ca-bundle %w", err)
			}
			c.ProviderCABundle = pem
		}
	}
	if set["provider-host-alias"] {
		c.ProviderHostAliases = nil
		for _, s := range f.hostAliases {
			h, err := addon.ParseHostAlias(s)
			if err != nil {
				return err
			}
			c.ProviderHostAliases = append(c.ProviderHostAliases, h)
		}
	}
	if set["enable-secret-sync-controller"] {
		c.EnableSecretSyncController = f.syncCtl
	}
	if set["windows-image-tag"] {
		c.WindowsImageTag = f.windowsTag
	}
	if set["cloud-name"] {
		c.CloudName = f.cloudName
	}
	if set["provider-extra-arg"] {
		c.ProviderExtraArgs = append([]string(nil), f.extraArgs...)
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
