// Command kvemulator runs the Key Vault + Entra ID emulator: it binds flags
// onto kvemulator.Config, starts the server, prints the vault URLs and the CA
// path, and stops cleanly on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/kvcsi/kvcsi/internal/buildinfo"
	"github.com/kvcsi/kvcsi/kvemulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvemulator:", err)
		os.Exit(1)
	}
}

// stringList collects a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func realMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kvemulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg kvemulator.Config
	var keyFiles stringList
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8443", "HTTPS listen address of the vaults and the login host")
	fs.StringVar(&cfg.DNSSuffix, "dns-suffix", "vault.kvcsi.test", "vaults are https://<vault>.<dns-suffix>[:port]/")
	fs.StringVar(&cfg.LoginHost, "login-host", "login.kvcsi.test", "host name of the Entra ID endpoints")
	fs.BoolVar(&cfg.AzureNames, "azure-names", false, "also answer as *.vault.azure.net and login.microsoftonline.com (resolve them to this process and trust the CA)")
	fs.StringVar(&cfg.TLSDir, "tls-dir", "", "directory with ca.crt/ca.key to reuse; generated and written there when missing (ca.crt is the file to trust)")
	fs.StringVar(&cfg.SeedFile, "seed", "", "YAML seed file: tenants, identities, vaults, access policies, objects")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "persist the state here (atomic writes) so it survives a restart")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "127.0.0.1:8444", "loopback address of the admin API")
	fs.StringVar(&cfg.MSIAddr, "msi-addr", "127.0.0.1:0", "plain-HTTP address of the managed identity endpoints (IMDS path, App Service, NMI)")
	fs.StringVar(&cfg.IMDSAddr, "imds-addr", "", "extra IMDS listener, e.g. 169.254.169.254:80 (the address must exist on an interface)")
	fs.StringVar(&cfg.NMIAddr, "nmi-addr", "", "extra pod-identity NMI listener, e.g. 127.0.0.1:2579")
	fs.StringVar(&cfg.ServiceAccountIssuer, "service-account-issuer", "", "expected iss of workload-identity service-account tokens")
	fs.Var(&keyFiles, "service-account-key-file", "PEM public key or certificate that signs service-account tokens (repeatable)")
	fs.StringVar(&cfg.DefaultVault, "default-vault", "", "vault answering https://localhost:<port>/ (default: the alphabetically first)")
	fs.BoolVar(&cfg.DisableThrottling, "disable-throttling", false, "start without the service's per-vault limits (switchable at run time via the admin API)")
	certDelay := fs.Duration("certificate-create-delay", kvemulator.DefaultCertificateCreateDelay, "how long a created certificate's operation stays inProgress (0: completed on the first poll)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logJSON := fs.Bool("log-format-json", false, "log as JSON")
	version := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q; every setting is a flag (see -h)", fs.Args())
	}
	if *version {
		fmt.Fprintln(stdout, buildinfo.Version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: use debug, info, warn or error", *logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	if *logJSON {
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	} else {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	}
	cfg.ServiceAccountKeyFiles = keyFiles
	cfg.CertificateCreateDelay = *certDelay
	if *certDelay == 0 {
		cfg.CertificateCreateDelay = -1 // none
	}

	srv, err := kvemulator.Start(ctx, cfg)
	if err != nil {
		return err
	}
	info, err := srv.Admin().Info()
	if err != nil {
		srv.Close()
		return err
	}
	names := make([]string, 0, len(info.VaultURLs))
	for n := range info.VaultURLs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(stdout, "kvemulator %s ready\n", buildinfo.Version)
	for _, n := range names {
		fmt.Fprintf(stdout, "vault %s: %s\n", n, info.VaultURLs[n])
	}
	fmt.Fprintf(stdout, "authority host: %s\nCA: %s\nadmin: %s\nIMDS: %s\n", info.AuthorityHost, info.CAFile, srv.AdminURL(), info.IMDSURL)
	fmt.Fprintf(stdout, "IDENTITY_ENDPOINT: %s (IDENTITY_HEADER: GET %s/info)\n", info.IdentityEndpoint, srv.AdminURL())
	fmt.Fprintf(stdout, "ARM (az login): %s\n", srv.ManagementURL())
	<-ctx.Done()
	cfg.Logger.Info("stopping")
	return srv.Close()
}
