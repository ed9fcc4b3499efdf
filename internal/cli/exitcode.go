package cli

import (
	"errors"
	"net/http"

	"github.com/lockstep-dev/lockstep/internal/server"
)

// Exit codes scripts can rely on (docs/cli.md lists them).
const (
	ExitOK           = 0
	ExitError        = 1 // anything else
	ExitUsage        = 2 // a bad flag or argument
	ExitUnauthorized = 3 // not logged in, or the session or token expired
	ExitForbidden    = 4 // the RBAC policy refuses it
	ExitNotFound     = 5 // no such Application, Project, account or token
	ExitConflict     = 6 // the newest commit moved on since the preview
	ExitSyncFailed   = 7 // the sync ran and failed, or was refused
)

// UsageError is a command line the command cannot run.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ExitCode is the process's exit code for a command's error.
func ExitCode(err error) int {
	var se *server.StatusError
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, server.ErrNotLoggedIn):
		return ExitUnauthorized
	case errors.Is(err, ErrSyncFailed):
		return ExitSyncFailed
	case errors.As(err, &se):
		switch se.Code {
		case http.StatusUnauthorized:
			return ExitUnauthorized
		case http.StatusForbidden:
			return ExitForbidden
		case http.StatusNotFound:
			return ExitNotFound
		case http.StatusConflict:
			return ExitConflict
		}
	}
	return ExitError
}
