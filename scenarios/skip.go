package scenarios

import (
	"errors"
	"fmt"
)

// ErrSkipped marks a scenario that did not run because the target lacks
// what it needs; the result says `skipped: <what is missing>` and counts
// neither as passed nor as failed.
var ErrSkipped = errors.New("skipped")

// skipf is the error of a skipped scenario: "skipped: <what is missing>".
func skipf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrSkipped, fmt.Sprintf(format, args...))
}

// PrerequisiteTarget is a target on which some scenarios need prerequisites
// the operator declares (the aks target: environment variables naming
// identities that exist there). MissingPrerequisite names what is missing for
// the scenario, or "" when it may run.
type PrerequisiteTarget interface {
	MissingPrerequisite(scenario string) string
}

func missingPrerequisite(t Target, scenario string) string {
	if p, ok := t.(PrerequisiteTarget); ok {
		return p.MissingPrerequisite(scenario)
	}
	return ""
}

// Skipped says whether the scenario did not run (ErrSkipped).
func (r Result) Skipped() bool { return errors.Is(r.Err, ErrSkipped) }

// Skipped counts the skipped results.
func Skipped(results []Result) int {
	n := 0
	for _, r := range results {
		if r.Skipped() {
			n++
		}
	}
	return n
}
