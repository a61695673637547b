// SPDX-License-Identifier: LGPL-2.1-or-later

package delegate

import (
	"errors"
	"fmt"
	"syscall"
)

// Error codes of API version 1 (delegate-protocol(7), ERROR CODES), and
// CodeLocal for failures on the client's side (socket, decoding).
const (
	CodeBadRequest  = "bad-request"
	CodeAPIMismatch = "api-mismatch"
	CodeDenied      = "denied"
	CodeNotFound    = "not-found"
	CodeExists      = "exists"
	CodeTooLarge    = "too-large"
	CodeRateLimited = "rate-limited"
	CodeUnsupported = "unsupported"
	CodeSystem      = "system"
	CodeLocal       = "local"
)

// Error is a refusal or failure: one the broker sent (an error reply or a
// handshake error) or one found by the client itself (Code "local").
type Error struct {
	Code         string        // one of the Code* constants
	Errno        syscall.Errno // 0 when the broker gave none
	Rule         string        // the deciding policy rule, when one is relevant
	Message      string        // what failed, on what, and why
	RetryAfterMS uint64        // for rate-limited: milliseconds until a retry may succeed
	// Handshake is true for a {"type":"error"} answer to the hello: the
	// broker closed the connection after it.
	Handshake bool
	// Lost is true when the connection broke before the answer came: the
	// request may or may not have been carried out.  Calling the same
	// operation with the same arguments again (after the broker is back)
	// resends it under the same id, so the broker answers it from its reply
	// cache instead of doing it twice, when the session was resumed.
	Lost bool
}

func (e *Error) Error() string {
	s := "delegate: " + e.Code
	if e.Errno != 0 {
		s += fmt.Sprintf(" (errno %d, %s)", int(e.Errno), e.Errno.Error())
	}
	if e.Rule != "" {
		s += " [rule '" + e.Rule + "']"
	}
	return s + ": " + e.Message
}

// Unwrap returns the errno, so that errors.Is(err, syscall.EPERM) works.
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// Is matches another *Error by code (and by errno when the target sets one):
// errors.Is(err, &delegate.Error{Code: delegate.CodeDenied}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Errno == 0 || t.Errno == e.Errno)
}

// ErrorCode returns the Code of err when it is (or wraps) an *Error, else "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func localError(errno syscall.Errno, format string, a ...interface{}) *Error {
	return &Error{Code: CodeLocal, Errno: errno, Message: fmt.Sprintf(format, a...)}
}
