package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// securityScenarios is this file's group of the catalogue (see catalogue.go).
var securityScenarios = []Scenario{securityNoSecretInLogs}

// LeakSources is what a target offers the secret-leak scan: every log its
// components wrote and every secret the run used. The local target
// implements it; a target that does not (kind, aks: the harness cannot read
// the node's logs) fails the scan saying so.
type LeakSources interface {
	// ComponentLogs returns the logs of every component the target ran
	// (emulator, provider, driver, registrar, kubelet, containerd,
	// apiserver, ...), by a name that says where each came from.
	ComponentLogs(ctx context.Context) (map[string][]byte, error)
	// Secrets returns every secret value the vault holds (all versions) and
	// every client secret of its identities.
	Secrets(ctx context.Context) ([]string, error)
}

// minNeedle is the shortest secret searched for: shorter ones (none in the
// seed or the scenarios) would match unrelated text.
const minNeedle = 8

// jwtRE finds any JWT (access tokens, service-account tokens, client
// assertions): no log, event or metric may carry one, whoever issued it.
var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}`)

// LeakFinding is one secret found in one place; Secret is never the value.
type LeakFinding struct {
	Place  string
	Secret string // "secret #n" or "a JWT"
}

// ScanForLeaks searches every place for every needle and for JWTs. It
// returns the findings (never the values themselves).
func ScanForLeaks(places map[string][]byte, needles []string) []LeakFinding {
	var found []LeakFinding
	names := make([]string, 0, len(places))
	for n := range places {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, place := range names {
		data := places[place]
		for i, s := range needles {
			if len(s) >= minNeedle && bytes.Contains(data, []byte(s)) {
				found = append(found, LeakFinding{Place: place, Secret: fmt.Sprintf("secret #%d (%d bytes)", i+1, len(s))})
			}
		}
		if jwtRE.Match(data) {
			found = append(found, LeakFinding{Place: place, Secret: "a JWT (token or assertion)"})
		}
	}
	return found
}

// securityNoSecretInLogs mounts a secret (so a leaking provider or driver
// has something to leak) and then searches every component log, every
// Event of the cluster and a metric scrape of the driver and the provider
// for every secret value and client secret of the run, and for any JWT.
var securityNoSecretInLogs = Scenario{
	Name:    "security/no-secret-in-logs",
	Section: "Troubleshooting",
	Summary: "no component log, Event or metric scrape of the run holds a secret value, client secret, token or assertion (places searched and found are logged; found must be 0)",
	Code:    []string{"scenarios.ScanForLeaks"},
	Run: func(ctx context.Context, env *Env) error {
		src, ok := env.Target.(LeakSources)
		if !ok {
			return skipf("target %s cannot show its components' logs (no LeakSources): the scan runs on the local target", env.Target.Name())
		}
		if _, err := mountForMetrics(ctx, env); err != nil {
			return err
		}
		k := env.Target.Kube()
		places, err := src.ComponentLogs(ctx)
		if err != nil {
			return err
		}
		logs := len(places)
		evs, err := k.Events(ctx, "", "")
		if err != nil {
			return err
		}
		for _, e := range evs {
			places[fmt.Sprintf("event %s/%s", e.Namespace, e.Name)] = []byte(e.Reason + "\n" + e.Message + "\n" + e.Source.Component)
		}
		scrapes := 0
		for _, m := range []struct {
			app  string
			port int
		}{{"secrets-store-csi-driver", 8095}, {"secrets-store-provider-azure", 8898}} {
			_, raw, err := k.PodMetrics(ctx, "kube-system", "app="+m.app, m.port)
			if err != nil {
				return err
			}
			places[fmt.Sprintf("metrics %s:%d", m.app, m.port)] = []byte(raw)
			scrapes++
		}
		needles, err := src.Secrets(ctx)
		if err != nil {
			return err
		}
		var searched []string
		for _, n := range needles {
			if len(n) >= minNeedle {
				searched = append(searched, n)
			}
		}
		if len(searched) == 0 || logs == 0 {
			return errorf("nothing to scan: %d secrets and %d logs; the scan must search something", len(searched), logs)
		}
		found := ScanForLeaks(places, searched)
		env.Logf("searched %d places (%d logs, %d events, %d metric scrapes) for %d secrets and any JWT: %d found",
			len(places), logs, len(evs), scrapes, len(searched), len(found))
		if len(found) > 0 {
			var b strings.Builder
			for i, f := range found {
				if i == 20 {
					fmt.Fprintf(&b, "; and %d more", len(found)-20)
					break
				}
				if i > 0 {
					b.WriteString("; ")
				}
				fmt.Fprintf(&b, "%s in %s", f.Secret, f.Place)
			}
			return errorf("leak: %d found in %d places searched: %s", len(found), len(places), b.String())
		}
		return nil
	},
}
