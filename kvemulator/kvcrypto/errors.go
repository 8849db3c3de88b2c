package kvcrypto

import (
	"errors"
	"fmt"
)

// Error is a caller mistake (bad parameter, unsupported algorithm, undecodable certificate).
// The emulator answers it with 400 BadParameter and Message as the error message; it never
// contains key material or passwords.
type Error struct {
	// Field is the request field at fault, as Key Vault spells it (for example "kty" or "pwd").
	Field string
	// Message says what is wrong and how to fix it.
	Message string
}

func (e *Error) Error() string { return e.Message }

// badParam builds an *Error for field with a formatted message.
func badParam(field, format string, args ...any) error {
	return &Error{Field: field, Message: fmt.Sprintf(format, args...)}
}

// AsError reports whether err is (or wraps) a caller mistake and returns it.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
