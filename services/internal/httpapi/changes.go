package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// The page bounds of GET /v1/admin/sales/{saleID}/changes.
const (
	defaultChangesLimit = 50
	maxChangesLimit     = 500
)

// SaleChanges is the body of GET /v1/admin/sales/{saleID}/changes: the
// sale's recorded changes, newest first. NextBefore, when not null, is the
// `before` of the next (older) page.
type SaleChanges struct {
	SaleID     string       `json:"sale_id"`
	Changes    []SaleChange `json:"changes"`
	NextBefore *int64       `json:"next_before"`
}

// SaleChange is one recorded admin change of a sale's definition.
type SaleChange struct {
	ID        int64           `json:"id"`
	ChangedAt time.Time       `json:"changed_at"`
	Actor     string          `json:"actor"`
	Before    *SaleDefinition `json:"before"` // null for the creation
	After     SaleDefinition  `json:"after"`
}

// SaleDefinition is what the admin sets on a sale, as the PUT body names it.
type SaleDefinition struct {
	Name         string     `json:"name"`
	Stock        int64      `json:"stock"`
	PerUserLimit int64      `json:"per_user_limit"`
	StartsAt     time.Time  `json:"starts_at"`
	EndsAt       *time.Time `json:"ends_at"`
	HoldSeconds  int64      `json:"hold_seconds"`
}

func definitionOf(spec order.SaleSpec) SaleDefinition {
	return SaleDefinition{Name: spec.Name, Stock: spec.Stock, PerUserLimit: spec.PerUserLimit, StartsAt: spec.StartsAt, EndsAt: spec.EndsAt,
		HoldSeconds: spec.HoldSeconds}
}

// getSaleChanges answers the admin audit of one sale: 404 for an invalid or
// unknown sale id, and when no SaleStore keeps the history (order-api
// without PostgreSQL: there is none to read, and waiting will not make one);
// 400 for a bad limit or before; 503 when PostgreSQL is unreachable.
func (s *Server) getSaleChanges(w http.ResponseWriter, r *http.Request) {
	saleID := chi.URLParam(r, "saleID")
	if !order.ValidSaleID(saleID) {
		s.problem(w, r, order.Errorf(order.CodeNotFound, "no sale %q", saleID))
		return
	}
	if s.d.Sales == nil {
		s.problem(w, r, order.Errorf(order.CodeNotFound, "no change history: this server keeps no durable sale definitions (PostgreSQL is not configured)"))
		return
	}
	before, limit, err := changesPage(r.URL.RawQuery)
	if err != nil {
		s.problem(w, r, err)
		return
	}
	// One more than the page tells whether an older page exists.
	changes, err := s.d.Sales.SaleChanges(r.Context(), saleID, before, limit+1)
	switch {
	case errors.Is(err, order.ErrNotFound):
		s.problem(w, r, order.Errorf(order.CodeNotFound, "no sale %q", saleID))
		return
	case err != nil:
		s.problem(w, r, err)
		return
	}
	body := SaleChanges{SaleID: saleID, Changes: make([]SaleChange, 0, min(len(changes), limit))}
	if len(changes) > limit {
		changes = changes[:limit]
		next := changes[limit-1].ID
		body.NextBefore = &next
	}
	for _, c := range changes {
		sc := SaleChange{ID: c.ID, ChangedAt: c.ChangedAt, Actor: c.Actor, After: definitionOf(c.After)}
		if c.Before != nil {
			b := definitionOf(*c.Before)
			sc.Before = &b
		}
		body.Changes = append(body.Changes, sc)
	}
	writeJSON(w, http.StatusOK, "application/json", body)
}

// changesPage reads ?limit= (1–500, default 50) and ?before= (a change id,
// at least 1; absent: from the newest). Each may appear once; other
// parameters are ignored.
func changesPage(rawQuery string) (before int64, limit int, err error) {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return 0, 0, order.Errorf(order.CodeInvalidRequest, "the query string is malformed")
	}
	limit = defaultChangesLimit
	if v, ok := q["limit"]; ok {
		n, ok := positiveInt(v)
		if !ok || n > maxChangesLimit {
			return 0, 0, order.Errorf(order.CodeInvalidRequest, "limit is one integer from 1 to %d", maxChangesLimit)
		}
		limit = int(n)
	}
	if v, ok := q["before"]; ok {
		if before, ok = positiveInt(v); !ok {
			return 0, 0, order.Errorf(order.CodeInvalidRequest, "before is one change id (an integer of at least 1)")
		}
	}
	return before, limit, nil
}

// positiveInt parses the one value of a query parameter as decimal digits
// naming an int64 of at least 1.
func positiveInt(values []string) (int64, bool) {
	if len(values) != 1 || values[0] == "" {
		return 0, false
	}
	for _, c := range values[0] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(values[0], 10, 64)
	return n, err == nil && n >= 1
}
