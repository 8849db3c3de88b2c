package kvemulator

import (
	"net/http"
	"strings"

	"github.com/kvcsi/kvcsi/kvemulator/internal/arm"
)

// azureManagementHost is Azure Resource Manager of the public cloud.
const azureManagementHost = "management.azure.com"

// managementHost is ARM under the emulator's own names: the login host with
// "login." replaced by "management." (management.kvcsi.test by default).
func (c Config) managementHost() string {
	return "management." + strings.TrimPrefix(c.LoginHost, "login.")
}

// managementHosts are the names the emulator answers ARM as.
func (c Config) managementHosts() []string {
	hosts := []string{c.managementHost()}
	if c.AzureNames {
		hosts = append(hosts, azureManagementHost)
	}
	return hosts
}

func (s *Server) isManagementHost(hostport string) bool {
	host, _ := splitHostPort(hostport)
	for _, h := range s.cfg.managementHosts() {
		if host == h {
			return true
		}
	}
	return false
}

// serveARM answers the read-only ARM calls of az login and az account.
func (s *Server) serveARM(w http.ResponseWriter, r *http.Request) {
	login := map[string]string{s.cfg.managementHost(): s.cfg.LoginHost, azureManagementHost: azureLoginHost}
	(&arm.Handler{Store: s.store, Tokens: s.tokens, Hosts: s.cfg.managementHosts(), LoginHost: login}).ServeHTTP(w, r)
}

// ManagementURL is https://<management host>:<port>/, ARM for az login under
// the emulator's own names (az cloud register --endpoint-resource-manager).
func (s *Server) ManagementURL() string {
	return "https://" + withPort(s.cfg.managementHost(), s.publicPort()) + "/"
}
