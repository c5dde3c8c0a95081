package reservation

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

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

// releaseLeaseLua deletes a lease only while it still holds the caller's token.
const releaseLeaseLua = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

var releaseLease = rueidis.NewLuaScript(releaseLeaseLua)

// RebuildLease takes the right to rebuild a sale for ttl, across every
// instance sharing this Redis ({sale:<id>}:rebuild, SET NX PX).
func (s *Store) RebuildLease(ctx context.Context, saleID string, ttl time.Duration) (release func(), ok bool, err error) {
	key, token := saleKeys(saleID).sale+":rebuild", strconv.FormatInt(time.Now().UnixNano(), 36)
	err = s.client.Do(ctx, s.client.B().Set().Key(key).Value(token).Nx().Px(ttl).Build()).Error()
	switch {
	case rueidis.IsRedisNil(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("rebuild lease %s: %w", saleID, err)
	}
	return func() {
		_ = releaseLease.Exec(context.WithoutCancel(ctx), s.client, []string{key}, []string{token}).Error()
	}, true, nil
}
