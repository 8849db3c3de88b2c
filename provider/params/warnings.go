package params

import "fmt"

// WarningReason is the one Event reason kvcsi's driver gives every Warning
// (documented in docs/compatibility.md).
const WarningReason = "SecretProviderClassWarning"

// Warning is a SecretProviderClass setting that kvcsi would refuse but
// upstream accepts: kvcsi does what upstream does and reports it. Msg names
// the object, the field, what was done and the fix; never a secret value.
type Warning struct {
	// Field is the SecretProviderClass field, e.g. "objectFormat"; a
	// bounded set, usable as a metric label.
	Field string
	Msg   string
}

func (w Warning) String() string { return w.Msg }

// Lenient collects warnings, or turns them into errors with strict.
type Lenient struct {
	Strict   bool
	Warnings []Warning
}

// Warn records that where's field has a problem that kvcsi handled as
// upstream does (done), and the fix. With Strict it returns the *Error
// instead: the problem and the fix.
func (l *Lenient) Warn(where, field, problem, done, fix string) error {
	if l.Strict {
		return errf(field, "%s: %s: %s (refused: the provider runs with --strict; without it kvcsi would have %s)", where, problem, fix, done)
	}
	l.Warnings = append(l.Warnings, Warning{Field: field, Msg: fmt.Sprintf("%s: %s; %s, as upstream does: %s", where, problem, done, fix)})
	return nil
}
