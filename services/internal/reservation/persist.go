package reservation

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"
)

var (
	//go:embed persist_claim.lua
	persistClaimLua string
	//go:embed confirm.lua
	confirmLua string
)

// Ref names one reservation.
type Ref struct{ SaleID, OrderID string }

// Claim outcomes for the writer (see persist_claim.lua).
const (
	PersistOK        = "ok"
	PersistAbsent    = "absent"
	PersistConfirmed = "confirmed"
	PersistReleased  = "released"
	PersistFailed    = "failed"
)

// ClaimForPersist moves each reservation to "persisting" before the writer
// inserts it, in one pipelined round trip, and returns each one's outcome.
func (s *Store) ClaimForPersist(ctx context.Context, refs []Ref) ([]string, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	execs := make([]rueidis.LuaExec, len(refs))
	for i, r := range refs {
		execs[i] = rueidis.LuaExec{Keys: []string{orderKey(r.SaleID, r.OrderID)}}
	}
	out := make([]string, len(refs))
	var errs []error
	for i, res := range s.persistClaim.ExecMulti(ctx, s.client, execs...) {
		v, err := res.ToString()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[i] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("claim for persist: %w", err)
	}
	return out, nil
}

// Confirm marks reservations as persisted (GET /v1/orders/{id} then reads
// confirmed even before it asks Postgres) and drops them from the outbox.
func (s *Store) Confirm(ctx context.Context, refs []Ref) error {
	if len(refs) == 0 {
		return nil
	}
	ttl := strconv.FormatInt(s.ttl, 10)
	execs := make([]rueidis.LuaExec, len(refs))
	for i, r := range refs {
		execs[i] = rueidis.LuaExec{Keys: []string{orderKey(r.SaleID, r.OrderID), saleKeys(r.SaleID).pending}, Args: []string{r.OrderID, ttl}}
	}
	var errs []error
	for _, res := range s.confirm.ExecMulti(ctx, s.client, execs...) {
		if err := res.Error(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("confirm: %w", err)
	}
	return nil
}
