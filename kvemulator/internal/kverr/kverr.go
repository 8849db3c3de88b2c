// Package kverr holds the Key Vault service's error shapes the emulator answers
// with, and the JSON writer every listener uses.
package kverr

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// APIError is a Key Vault error: an HTTP status and the service's body
// {"error":{"code","message","innererror":{"code"}}}. Handlers return it; the
// router writes it. Messages name the field and the fix and never carry a
// secret value or a token.
type APIError struct {
	Status     int
	Code       string
	Message    string
	InnerCode  string
	RetryAfter int // seconds; sets Retry-After when > 0
	Challenge  bool
}

func (e *APIError) Error() string {
	if e.InnerCode != "" {
		return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Code, e.InnerCode, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

type wireInner struct {
	Code string `json:"code"`
}

type wireError struct {
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	InnerError *wireInner `json:"innererror,omitempty"`
}

// MarshalJSON renders the service's error body.
func (e *APIError) MarshalJSON() ([]byte, error) {
	w := wireError{Code: e.Code, Message: e.Message}
	if e.InnerCode != "" {
		w.InnerError = &wireInner{Code: e.InnerCode}
	}
	return json.Marshal(struct {
		Error wireError `json:"error"`
	}{w})
}

// KindTitle is a kind name ("secret", "key", "certificate") as it starts an
// error code ("SecretNotFound").
func KindTitle(kind string) string {
	switch kind {
	case "secret":
		return "Secret"
	case "key":
		return "Key"
	case "certificate":
		return "Certificate"
	}
	return kind
}

// ErrBadParameter is the service's 400 for any invalid input.
func ErrBadParameter(format string, a ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: "BadParameter", Message: fmt.Sprintf(format, a...)}
}

// ErrNotFound is 404 SecretNotFound / KeyNotFound / CertificateNotFound.
func ErrNotFound(kind, name, version string) *APIError {
	what := name
	if version != "" {
		what = name + "/" + version
	}
	return &APIError{Status: http.StatusNotFound, Code: KindTitle(kind) + "NotFound",
		Message: fmt.Sprintf("A %s with (name/id) %s was not found in this key vault. If you recently deleted this %s you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", kind, what, kind)}
}

// ErrDeletedNotFound is 404 for a name that is not in the soft-deleted state.
func ErrDeletedNotFound(kind, name string) *APIError {
	return &APIError{Status: http.StatusNotFound, Code: KindTitle(kind) + "NotFound",
		Message: fmt.Sprintf("Deleted %s %s not found", KindTitle(kind), name)}
}

// ErrDisabled is 403 Forbidden with inner SecretDisabled / KeyDisabled / CertificateDisabled.
func ErrDisabled(kind, op string) *APIError {
	return &APIError{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: KindTitle(kind) + "Disabled",
		Message: fmt.Sprintf("Operation %s is not allowed on a disabled %s.", op, kind)}
}

// ErrDeletedButRecoverable is 409 for reusing the name of a soft-deleted object.
func ErrDeletedButRecoverable(kind, name string) *APIError {
	return &APIError{Status: http.StatusConflict, Code: "Conflict", InnerCode: "ObjectIsDeletedButRecoverable",
		Message: fmt.Sprintf("%s %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the %s can only be recovered or purged.", KindTitle(kind), name, kind)}
}

// ErrConflict is a plain 409 (for example restoring over an existing name).
func ErrConflict(format string, a ...any) *APIError {
	return &APIError{Status: http.StatusConflict, Code: "Conflict", Message: fmt.Sprintf(format, a...)}
}

// ErrUnauthorized is 401 with the challenge header; the router fills the
// header from the request host.
func ErrUnauthorized(message string) *APIError {
	return &APIError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: message, Challenge: true}
}

// ErrMissingToken is the service's answer to a request without a token.
func ErrMissingToken() *APIError {
	return ErrUnauthorized("AKV10000: Request is missing a Bearer or PoP token.")
}

// ErrForbidden is 403 for an identity whose access policy lacks the
// permission; location is the vault's Azure region.
func ErrForbidden(appID, objectID, issuer, kind, perm, vault, location string) *APIError {
	return &APIError{Status: http.StatusForbidden, Code: "Forbidden", InnerCode: "AccessDenied",
		Message: fmt.Sprintf("The user, group or application 'appid=%s;oid=%s;iss=%s' does not have %ss %s permission on key vault '%s;location=%s'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
			appID, objectID, issuer, kind, perm, vault, location)}
}

// ErrThrottled is 429 Throttled with Retry-After.
func ErrThrottled(retryAfter int) *APIError {
	return &APIError{Status: http.StatusTooManyRequests, Code: "Throttled", RetryAfter: retryAfter,
		Message: "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}
}

// ErrInternal is a 500 that hides the cause from the client (it is logged).
func ErrInternal() *APIError {
	return &APIError{Status: http.StatusInternalServerError, Code: "InternalServerError", Message: "The server encountered an internal error."}
}

// ErrVaultNotFound answers a host that names no vault of the emulator.
func ErrVaultNotFound(vault string) *APIError {
	return &APIError{Status: http.StatusNotFound, Code: "VaultNotFound",
		Message: fmt.Sprintf("Vault %q does not exist in this emulator; declare it under vaults: in the seed or create it with the admin API.", vault)}
}

// WriteJSON writes v as the JSON body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// Truncate shortens request data quoted in a message.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
