// Package doctor explains, end to end, why a pod's secrets-store volume does
// or does not work: it walks the chain a mount goes through (the pod's
// volumes, the SecretProviderClass, the CSIDriver object, the driver and the
// provider on the pod's node, the mount's SecretProviderClassPodStatus, the
// pod's events, the synced Secrets, the node's rotation settings) and reports
// one Check per link, each failed one with its cause and its fix.
//
// It reads only what a user with read access to the pod's namespace and to
// kube-system can see; a check whose read is forbidden says so ("cannot
// check: needs get on …") instead of failing. `kvcsi doctor` (cmd/kvcsi)
// parses the flags and prints a Report; this package holds no flag parsing.
package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/kvcsi/kvcsi/api/secretsstore/spcclient"
)

// Names the doctor looks for: the upstream driver name, the add-on's namespace
// and the pod labels of both DaemonSets (the same under the chart's and the
// add-on's names).
const (
	DriverName    = "secrets-store.csi.k8s.io"
	Namespace     = "kube-system"
	DriverLabel   = "app=secrets-store-csi-driver"
	ProviderLabel = "app=secrets-store-provider-azure"
	// DriverContainer is the driver pod's container that runs the driver.
	DriverContainer = "secrets-store"
)

// Status is the outcome of one check.
type Status string

const (
	// OK: the link works.
	OK Status = "ok"
	// Fail: the link is broken; Cause and Fix say why and what to do.
	Fail Status = "fail"
	// Warn: not broken, but worth knowing (e.g. a failure that has recovered).
	Warn Status = "warn"
	// Unknown: the check could not run, usually for lack of permission.
	Unknown Status = "unknown"
)

// Symbol is how the table shows a status.
func (s Status) Symbol() string {
	switch s {
	case OK:
		return "✓"
	case Fail:
		return "✗"
	case Warn:
		return "!"
	}
	return "?"
}

// Check is one link of the chain.
type Check struct {
	// Name says what was checked, e.g. "SecretProviderClass demo/azure-kv".
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail is what was found, in plain words.
	Detail string `json:"detail,omitempty"`
	// Cause and Fix are set for Fail (and Unknown, for Fix).
	Cause string `json:"cause,omitempty"`
	Fix   string `json:"fix,omitempty"`
	// Needs is the permission the check reads with, e.g. "get secretproviderclasses in demo".
	Needs string `json:"needs"`
}

// Report is every check of one `kvcsi doctor` run.
type Report struct {
	// Subject is what was diagnosed: "pod demo/web", "class demo/azure-kv", "node n1".
	Subject string  `json:"subject"`
	Checks  []Check `json:"checks"`
}

// Failed says whether any check failed (the CLI's exit code).
func (r *Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Find returns the first check whose name starts with prefix.
func (r *Report) Find(prefix string) (Check, bool) {
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c, true
		}
	}
	return Check{}, false
}

// Failures returns the failed checks.
func (r *Report) Failures() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

func (r *Report) ok(name, needs, detail string) {
	r.add(Check{Name: name, Status: OK, Detail: detail, Needs: needs})
}

func (r *Report) fail(name, needs, detail, cause, fix string) {
	r.add(Check{Name: name, Status: Fail, Detail: detail, Cause: cause, Fix: fix, Needs: needs})
}

func (r *Report) warn(name, needs, detail, fix string) {
	r.add(Check{Name: name, Status: Warn, Detail: detail, Fix: fix, Needs: needs})
}

// readErr records a check whose read failed: forbidden reads become Unknown
// ("cannot check: needs …"), other errors fail with the API's message.
func (r *Report) readErr(name, needs string, err error) {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		r.add(Check{Name: name, Status: Unknown, Detail: "cannot check: needs " + needs, Fix: "ask for " + needs + ", or have someone who has it run kvcsi doctor", Needs: needs})
		return
	}
	r.fail(name, needs, "", "the API server answered: "+firstLine(err.Error()), "check the kubeconfig and that the cluster is reachable")
}

// WriteTable prints the report as one line per check (status, name,
// detail), with the cause and the fix indented under each failure.
func (r *Report) WriteTable(w io.Writer) error { return r.writeTable(w, false) }

// WriteWide is WriteTable with the permission each check reads with
// ("needs: …") under every check.
func (r *Report) WriteWide(w io.Writer) error { return r.writeTable(w, true) }

func (r *Report) writeTable(w io.Writer, wide bool) error {
	width := 0
	for _, c := range r.Checks {
		width = max(width, utf8.RuneCountInString(c.Name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kvcsi doctor %s\n", r.Subject)
	for _, c := range r.Checks {
		pad := strings.Repeat(" ", width-utf8.RuneCountInString(c.Name))
		fmt.Fprintf(&b, "%s %s%s  %s\n", c.Status.Symbol(), c.Name, pad, c.Detail)
		if c.Cause != "" {
			fmt.Fprintf(&b, "    cause: %s\n", c.Cause)
		}
		if c.Fix != "" && c.Status != OK {
			fmt.Fprintf(&b, "    fix:   %s\n", c.Fix)
		}
		if wide && c.Needs != "" {
			fmt.Fprintf(&b, "    needs: %s\n", c.Needs)
		}
	}
	if n := len(r.Failures()); n == 0 {
		b.WriteString("no failed checks\n")
	} else {
		fmt.Fprintf(&b, "%d failed check(s)\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Clients is what the doctor reads with.
type Clients struct {
	Kube kubernetes.Interface
	SPC  *spcclient.Client
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
