package reservation

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Definitions tells whether a sale is defined in the durable ledger
// (PostgreSQL): a sale it defines but Redis lacks is a sale Redis lost.
type Definitions interface {
	Defined(ctx context.Context, saleID string) (bool, error)
}

// definedTTL is how long an answer of Definitions is trusted, so that a
// crowd ordering from a lost (or an unknown) sale asks PostgreSQL once a
// second per sale, not once per request.
const definedTTL = time.Second

// maxDefined bounds the cache: unknown sale ids cost an entry each, and a
// client can make up as many as it likes; past the bound it starts afresh.
const maxDefined = 4096

type definedCache struct {
	defs Definitions
	mu   sync.Mutex
	m    map[string]definedEntry
}

type definedEntry struct {
	defined bool
	until   time.Time
}

// WithDefinitions makes the store tell a sale Redis lost (order.ErrLedgerRebuilding:
// defined in defs, absent in Redis) from a sale that does not exist
// (order.ErrNotFound). Call it before the store is used.
func (s *Store) WithDefinitions(defs Definitions) *Store {
	s.defined = &definedCache{defs: defs, m: map[string]definedEntry{}}
	return s
}

// lostOrUnknown is the answer for a sale Redis does not hold.
func (s *Store) lostOrUnknown(ctx context.Context, saleID string) error {
	if s.defined == nil {
		return order.ErrNotFound
	}
	defined, err := s.defined.lookup(ctx, saleID)
	switch {
	case err != nil:
		return fmt.Errorf("is sale %s defined: %w", saleID, err)
	case defined:
		if s.onLost != nil {
			s.onLost(saleID)
		}
		return order.ErrLedgerRebuilding
	default:
		return order.ErrNotFound
	}
}

func (c *definedCache) lookup(ctx context.Context, saleID string) (bool, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[saleID]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.defined, nil
	}
	defined, err := c.defs.Defined(ctx, saleID)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	if len(c.m) >= maxDefined {
		c.m = map[string]definedEntry{}
	}
	c.m[saleID] = definedEntry{defined: defined, until: now.Add(definedTTL)}
	c.mu.Unlock()
	return defined, nil
}

// OnLost makes the store call fn (which must not block) whenever it answers
// ledger_rebuilding for a sale: order-api starts the sale's rebuild there.
func (s *Store) OnLost(fn func(saleID string)) *Store {
	s.onLost = fn
	return s
}
