package addon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Usage is the help text of `kvcsi addon`.
const Usage = `usage: kvcsi addon <enable|update|disable|status> [flags]

  enable    install the driver and provider DaemonSets (AKS names) in kube-system
  update    change rotation (or other settings) in place; the DaemonSets roll
  disable   remove the add-on; refused while any SecretProviderClass exists
  status    show what is installed and its settings

Run "kvcsi addon <command> -h" for the flags of a command.
`

// Run is `kvcsi addon ...`: it parses and validates everything, renders the
// objects, and only then connects and writes.
func Run(ctx context.Context, args []string, out io.Writer) error {
	return run(ctx, args, out, restConfig)
}

// connectFunc builds the client config from the parsed connection flags; tests
// replace it.
type connectFunc func(kubeconfig, kubeContext string) (*rest.Config, error)

func run(ctx context.Context, args []string, out io.Writer, connect connectFunc) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out, Usage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("kvcsi addon "+sub, flag.ContinueOnError)
	fs.SetOutput(out)
	kubeconfig := fs.String("kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context to use (default: the current context)")

	var (
		cfgFlags  *configFlags
		disable   bool
		keepCRDs  bool
		action    func(*Manager) error
		imageTag  = defaultImageTag()
		validated Config
	)
	switch sub {
	case "enable", "update":
		cfgFlags = bindConfigFlags(fs, imageTag)
		if sub == "update" {
			fs.BoolVar(&disable, "disable-secret-rotation", false, "turn secret rotation off")
		}
	case "disable":
		fs.BoolVar(&keepCRDs, "keep-crds", false, "leave the SecretProviderClass CRDs installed")
	case "status":
	default:
		fmt.Fprint(out, Usage)
		return fmt.Errorf("unknown addon command %q: use enable, update, disable or status", sub)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("kvcsi addon %s: unexpected argument %q (flags only)", sub, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch sub {
	case "enable":
		c := DefaultConfig(imageTag)
		if err := cfgFlags.applyTo(&c, set); err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return err
		}
		// Render now: a chart error must come before the first connection.
		if _, err := Objects(c, ""); err != nil {
			return err
		}
		validated = c
		action = func(m *Manager) error { return m.Enable(ctx, validated) }
	case "update":
		if disable && set["enable-secret-rotation"] {
			return errors.New("--enable-secret-rotation and --disable-secret-rotation contradict each other: give one")
		}
		if len(set) == 0 || (len(set) == 1 && (set["kubeconfig"] || set["context"])) {
			return errors.New("kvcsi addon update: nothing to change; give e.g. --enable-secret-rotation --rotation-poll-interval 5m")
		}
		// Check the given flags against a default config, so that bad values
		// fail before connecting; the stored config is changed the same way.
		probe := DefaultConfig(imageTag)
		if err := cfgFlags.applyTo(&probe, set); err != nil {
			return err
		}
		if err := probe.Validate(); err != nil {
			return err
		}
		action = func(m *Manager) error {
			return m.Update(ctx, func(c *Config) {
				_ = cfgFlags.applyTo(c, set) // already checked above
				if disable {
					c.EnableSecretRotation = false
				}
			})
		}
	case "disable":
		action = func(m *Manager) error { return m.Disable(ctx, DisableOptions{KeepCRDs: keepCRDs}) }
	case "status":
		action = func(m *Manager) error {
			s, err := m.Status(ctx)
			if err != nil {
				return err
			}
			s.Write(out)
			return nil
		}
	}
	rc, err := connect(*kubeconfig, *kubeContext)
	if err != nil {
		return err
	}
	m, err := NewManager(rc, out)
	if err != nil {
		return err
	}
	return action(m)
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
}

func bindConfigFlags(fs *flag.FlagSet, tag string) *configFlags {
	f := &configFlags{}
	fs.BoolVar(&f.rotation, "enable-secret-rotation", false, "turn on secret rotation (polling)")
	fs.StringVar(&f.interval, "rotation-poll-interval", DefaultRotationPollInterval, "rotation poll interval (Go duration, e.g. 2m, 30s)")
	fs.BoolVar(&f.sync, "sync-secret", true, "allow syncing mounted objects into Kubernetes Secrets (secretObjects)")
	fs.StringVar(&f.registry, "image-registry", "ghcr.io/kvcsi", "registry and path of the kvcsi images")
	fs.StringVar(&f.tag, "image-tag", tag, "tag of the kvcsi images")
	fs.BoolVar(&f.official, "official-sidecars", false, "use the registry.k8s.io/sig-storage registrar and livenessprobe images")
	fs.StringVar(&f.caBundleFile, "provider-ca-bundle", "", "PEM `file` of extra CA certificates the provider trusts (e.g. the emulator's CA)")
	fs.Var(&f.hostAliases, "provider-host-alias", "`IP=host1,host2` host alias for the provider pods (repeatable)")
	fs.Var(&f.extraArgs, "provider-extra-arg", "extra provider `--flag=value` (repeatable)")
	return f
}

// applyTo changes c only where a flag was given, so update keeps the rest.
func (f *configFlags) applyTo(c *Config, set map[string]bool) error {
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
		if f.caBundleFile == "" {
			c.ProviderCABundle = ""
		} else {
			data, err := os.ReadFile(f.caBundleFile)
			if err != nil {
				return fmt.Errorf("--provider-ca-bundle: %w", err)
			}
			if err := checkCABundle(data); err != nil {
				return fmt.Errorf("--provider-ca-bundle %s: %w", f.caBundleFile, err)
			}
			c.ProviderCABundle = string(data)
		}
	}
	if set["provider-host-alias"] {
		c.ProviderHostAliases = nil
		for _, s := range f.hostAliases {
			h, err := ParseHostAlias(s)
			if err != nil {
				return err
			}
			c.ProviderHostAliases = append(c.ProviderHostAliases, h)
		}
	}
	if set["provider-extra-arg"] {
		c.ProviderExtraArgs = append([]string(nil), f.extraArgs...)
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// restConfig loads the kubeconfig as kubectl does: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, else in-cluster.
func restConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w; give --kubeconfig or set KUBECONFIG", err)
	}
	return cfg, nil
}
