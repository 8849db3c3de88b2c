// Package scenarios is kvcsi's executable specification: every behaviour the AKS
// documentation page "Use the Azure Key Vault Provider for Secrets Store CSI Driver
// in an AKS cluster" promises is one Scenario with a stable name, and the same
// scenario code runs on every Target (local, kind, aks).
//
// Each behaviour lives in its own file; catalogue.go lists them in the order they
// run (the add-on is enabled first and disabled last).
package scenarios

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// Scenario is one documented behaviour.
type Scenario struct {
	// Name is stable ("group/behaviour"): reports, --run filters and the e2e
	// feature names use it.
	Name string
	// Section is the heading of the documentation section the scenario proves.
	Section string
	// Summary says in one line what is checked.
	Summary string
	// Code names the package.Function that implements the behaviour, so a reader
	// of the report can find it.
	Code []string
	// Run performs the behaviour and returns an error saying what broke.
	Run func(ctx context.Context, env *Env) error
}

// Select returns the scenarios of the catalogue whose names match re (all when re is nil).
func Select(re *regexp.Regexp) []Scenario {
	var out []Scenario
	for _, s := range Catalogue() {
		if re == nil || re.MatchString(s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// Env is what a scenario runs with: the target and a namespace of its own,
// which the runner creates before and deletes after the scenario.
type Env struct {
	Target    Target
	Namespace string
	logf      func(format string, args ...any)
	figures   []string
}

// Figure records one figure of the run for the report's figures column,
// e.g. Figure("reads", 10412) gives "10,412 reads". Figures are counts and
// names, never a secret value.
func (e *Env) Figure(what string, value any) {
	var v string
	switch n := value.(type) {
	case int:
		v = thousands(int64(n))
	case int64:
		v = thousands(n)
	case float64:
		v = thousands(int64(n))
	default:
		v = fmt.Sprint(value)
	}
	e.figures = append(e.figures, v+" "+what)
}

// Figures is what the scenario recorded with Figure, comma-separated.
func (e *Env) Figures() string { return strings.Join(e.figures, ", ") }

// thousands formats n with comma thousands separators (10412 → "10,412").
func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Logf prints a progress line under the running scenario.
func (e *Env) Logf(format string, args ...any) {
	if e.logf != nil {
		e.logf(format, args...)
	}
}

// Render substitutes the documentation's placeholders (<keyvault-name>,
// <tenant-id>, <client-id>, ...) and the scenario's namespace in a YAML
// example, so the documented YAML is used as written.
func (e *Env) Render(yaml string, extra ...string) string {
	v := e.Target.Vault()
	pairs := []string{
		"<keyvault-name>", v.Name(),
		"<tenant-id>", v.TenantID(),
		"<namespace>", e.Namespace,
	}
	for k, val := range e.Target.Identities() {
		pairs = append(pairs, "<"+k+">", val)
	}
	pairs = append(pairs, extra...)
	return strings.NewReplacer(pairs...).Replace(yaml)
}

// errorf is fmt.Errorf; named for symmetry with the scenario checks.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
