package kvemulator

import (
	"crypto"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"
)

// Config is everything Start needs. The zero value is usable: it serves the
// default DNS suffix on a random loopback port with a generated CA and an empty
// state. Per-request settings never live here.
type Config struct {
	Addr       string // HTTPS listen address; default "127.0.0.1:0"
	DNSSuffix  string // default "vault.kvcsi.test"
	LoginHost  string // default "login.kvcsi.test"
	AzureNames bool   // also answer as *.vault.azure.net and login.microsoftonline.com
	TLSDir     string // load CA/server cert from here if present, else generate; ca.crt written here
	SeedFile   string // YAML seed; or Seed for an in-memory one
	Seed       *Seed
	StateDir   string // optional persistence
	AdminAddr  string // loopback admin API; default "127.0.0.1:0"
	IMDSAddr   string // optional plain-HTTP IMDS listener, e.g. "169.254.169.254:80"
	NMIAddr    string // optional plain-HTTP NMI (pod identity) listener, e.g. "127.0.0.1:2579"
	// MSIAddr is the always-on plain-HTTP listener for the managed identity
	// protocols (IMDS path, App Service style, NMI); default "127.0.0.1:0".
	MSIAddr string

	ServiceAccountIssuer   string             // expected iss of workload-identity assertions
	ServiceAccountKeys     []crypto.PublicKey // keys that sign them
	ServiceAccountKeyFiles []string           // PEM files (public keys or certificates) with more such keys

	// DefaultVault answers requests addressed to localhost / 127.0.0.1; default:
	// the first vault of the seed.
	DefaultVault string
	// DisableThrottling turns off the published service limits at start (they can
	// be switched at run time through the admin API).
	DisableThrottling bool
	// CertificateCreateDelay is how long a created certificate's pending
	// operation reports inProgress, so clients' pollers poll: 0 means
	// DefaultCertificateCreateDelay, a negative value none (completed on the
	// first poll).
	CertificateCreateDelay time.Duration

	// Limits of every listener against slow or oversized requests (defaults:
	// 10s to read the headers, 2m to read a whole request, 2m idle keep-alive,
	// 64 KiB of headers). Tests shorten them.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int

	Logger *slog.Logger
}

// Listener limit defaults (Config.ReadHeaderTimeout and the rest).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 2 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
)

const (
	defaultDNSSuffix = "vault.kvcsi.test"
	defaultLoginHost = "login.kvcsi.test"
	azureVaultSuffix = "vault.azure.net"
	azureLoginHost   = "login.microsoftonline.com"
	imdsHost         = "169.254.169.254"
)

var hostNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// withDefaults fills the zero fields and checks the rest, naming the field and
// the fix in every error.
func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:0"
	}
	if c.AdminAddr == "" {
		c.AdminAddr = "127.0.0.1:0"
	}
	if c.MSIAddr == "" {
		c.MSIAddr = "127.0.0.1:0"
	}
	if c.DNSSuffix == "" {
		c.DNSSuffix = defaultDNSSuffix
	}
	if c.LoginHost == "" {
		c.LoginHost = defaultLoginHost
	}
	c.DNSSuffix = strings.ToLower(strings.Trim(c.DNSSuffix, "."))
	c.LoginHost = strings.ToLower(c.LoginHost)
	if !hostNameRE.MatchString(c.DNSSuffix) {
		return c, fmt.Errorf("Config.DNSSuffix %q is not a DNS name: use lower-case labels separated by dots, e.g. %q", c.DNSSuffix, defaultDNSSuffix)
	}
	if !hostNameRE.MatchString(c.LoginHost) {
		return c, fmt.Errorf("Config.LoginHost %q is not a DNS name: use e.g. %q", c.LoginHost, defaultLoginHost)
	}
	for name, addr := range map[string]string{"Addr": c.Addr, "AdminAddr": c.AdminAddr, "MSIAddr": c.MSIAddr, "IMDSAddr": c.IMDSAddr, "NMIAddr": c.NMIAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return c, fmt.Errorf("config: %s %q is not host:port: %v; use e.g. \"127.0.0.1:0\"", name, addr, err)
		}
	}
	if err := checkLoopback(c.AdminAddr); err != nil {
		return c, fmt.Errorf("Config.AdminAddr: %w", err)
	}
	if c.SeedFile != "" && c.Seed != nil {
		return c, fmt.Errorf("both Config.SeedFile and Config.Seed are set: give one of them")
	}
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.IdleTimeout < 0 || c.MaxHeaderBytes < 0 {
		return c, fmt.Errorf("Config: ReadHeaderTimeout, ReadTimeout, IdleTimeout and MaxHeaderBytes must not be negative (0 means the default)")
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// checkLoopback refuses admin listeners reachable from other hosts: the admin
// API can read every secret.
func checkLoopback(addr string) error {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; the admin API must listen on 127.0.0.1 or [::1]", addr)
	}
	return nil
}
