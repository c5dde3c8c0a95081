package writer

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

type transientError struct {
	reason string
	err    error
}

func (e *transientError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// isPermanent reports whether err is the database refusing a row for good:
// a data exception (SQLSTATE class 22) or an integrity violation (class 23).
// Everything else — connection refused, timeouts, serialization failures,
// the server shutting down, even a missing table — is retried: a good order
// is never dead-lettered because the database is unwell.
func isPermanent(err error) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || len(pg.Code) != 5 {
		return false
	}
	class := pg.Code[:2]
	return class == "22" || class == "23"
}

// transientReason names a retryable failure for logs and the retries metric.
func transientReason(err error) string {
	var te *transientError
	if errors.As(err, &te) && te.reason != "" && te.reason != "database" {
		return te.reason
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) && len(pg.Code) == 5 {
		switch {
		case pg.Code == "40001":
			return "serialization_failure"
		case pg.Code == "40P01":
			return "deadlock"
		case pg.Code[:2] == "08":
			return "connection"
		case pg.Code[:2] == "57":
			return "database_shutdown"
		case pg.Code[:2] == "53":
			return "insufficient_resources"
		default:
			return "database_error"
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return "connection"
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return "connection"
	}
	return "database_unavailable"
}
