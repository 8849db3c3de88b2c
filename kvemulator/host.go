package kvemulator

import (
	"net"
	"net/http"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/internal/dataplane"
	"github.com/kvcsi/kvcsi/kvemulator/internal/faults"
	"github.com/kvcsi/kvcsi/kvemulator/internal/kverr"
)

// splitHostPort splits a Host header; the port is "" when absent.
func splitHostPort(hostport string) (host, port string) {
	host = hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	}
	return strings.ToLower(strings.TrimSuffix(host, ".")), port
}

func withPort(host, port string) string {
	if port == "" {
		return host
	}
	return host + ":" + port
}

// resolveVault maps a request host to a vault: <vault>.<suffix>,
// <vault>.vault.azure.net with AzureNames, and localhost/127.0.0.1 to the
// default vault.
func (s *Server) resolveVault(hostport string) (dataplane.Addr, bool) {
	host, port := splitHostPort(hostport)
	suffixes := []string{s.cfg.DNSSuffix}
	if s.cfg.AzureNames {
		suffixes = append(suffixes, azureVaultSuffix)
	}
	for _, suf := range suffixes {
		if name, ok := strings.CutSuffix(host, "."+suf); ok && name != "" && !strings.Contains(name, ".") {
			login := s.cfg.LoginHost
			if suf == azureVaultSuffix {
				login = azureLoginHost
			}
			return dataplane.Addr{Vault: name, Base: "https://" + withPort(host, port), Resource: "https://" + withPort(suf, port), Authority: "https://" + withPort(login, port)}, true
		}
	}
	if host == "localhost" || host == "127.0.0.1" || host == "::1" {
		return dataplane.Addr{Vault: s.defaultVault(), Base: "https://" + withPort(hostForURL(host), port), Resource: "https://" + withPort(hostForURL(host), port), Authority: "https://" + withPort(s.cfg.LoginHost, port)}, true
	}
	return dataplane.Addr{}, false
}

func hostForURL(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func (s *Server) isLoginHost(hostport string) bool {
	host, _ := splitHostPort(hostport)
	return host == s.cfg.LoginHost || host == azureLoginHost
}

// ServeHTTP dispatches by host: login host → Entra ID, vault hosts → data plane.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.isLoginHost(r.Host) {
		s.login.ServeHTTP(w, r)
		return
	}
	if s.isManagementHost(r.Host) {
		s.serveARM(w, r)
		return
	}
	addr, ok := s.resolveVault(r.Host)
	if !ok {
		kverr.WriteJSON(w, http.StatusNotFound, kverr.ErrBadParameter("The host %q is neither a vault (<vault>.%s) nor the login host (%s).", r.Host, s.cfg.DNSSuffix, s.cfg.LoginHost))
		return
	}
	if !s.store.HasVault(addr.Vault) {
		// The name comes from the Host header: counted without it.
		s.counters.Add(faults.CounterKey{Op: "VaultNotFound", Status: http.StatusNotFound})
		kverr.WriteJSON(w, http.StatusNotFound, kverr.ErrVaultNotFound(addr.Vault))
		return
	}
	s.data.Serve(w, r, addr)
}
