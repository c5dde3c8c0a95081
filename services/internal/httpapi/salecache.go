package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// MaxSaleCacheTTL bounds BLITZBUY_SALE_READ_CACHE: a sale read is at most
// this old.
const MaxSaleCacheTTL = 5 * time.Second

// ErrSaleCacheTTL: the cache's age bound is out of range.
var ErrSaleCacheTTL = fmt.Errorf("httpapi: the sale read cache TTL must be between 0 (off) and %s", MaxSaleCacheTTL)

// ValidateSaleCacheTTL reports whether ttl is a cache age bound New accepts.
func ValidateSaleCacheTTL(ttl time.Duration) error {
	if ttl < 0 || ttl > MaxSaleCacheTTL {
		return ErrSaleCacheTTL
	}
	return nil
}

// saleCacheEntries bounds the cache's size: past it the cache starts over,
// so a client cycling through random sale ids costs memory for at most this
// many answers.
const saleCacheEntries = 10_000

// saleCache answers GET /v1/sales/{id} from memory for up to ttl: the public,
// unauthenticated read of the hot sale would otherwise cost a Redis round
// trip per call. Concurrent misses of one sale share one read (singleflight).
// An unknown sale is cached too (random ids must not reach Redis at will);
// errors are not. The admin PUT forgets the sale on its own instance; other
// instances serve the old definition for at most ttl.
type saleCache struct {
	ttl   time.Duration
	now   func() time.Time
	read  func(context.Context, string, time.Time) (order.Sale, error)
	group singleflight.Group

	mu      sync.Mutex
	entries map[string]cachedSale
	gen     map[string]uint64 // bumped by forget: a read begun before it is not stored
}

type cachedSale struct {
	sale     order.Sale
	notFound bool
	until    time.Time
}

func newSaleCache(ttl time.Duration, now func() time.Time, read func(context.Context, string, time.Time) (order.Sale, error)) *saleCache {
	return &saleCache{ttl: ttl, now: now, read: read, entries: map[string]cachedSale{}, gen: map[string]uint64{}}
}

// Sale has the signature of Ledger.Sale.
func (c *saleCache) Sale(ctx context.Context, saleID string, now time.Time) (order.Sale, error) {
	if c.ttl <= 0 {
		return c.read(ctx, saleID, now)
	}
	c.mu.Lock()
	e, ok := c.entries[saleID]
	gen := c.gen[saleID]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		if e.notFound {
			return order.Sale{}, order.ErrNotFound
		}
		return e.sale, nil
	}
	v, err, _ := c.group.Do(saleID, func() (any, error) {
		// Not the caller's context: one caller giving up must not fail the
		// others sharing the read.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		s, err := c.read(ctx, saleID, c.now())
		if err == nil || errors.Is(err, order.ErrNotFound) {
			c.store(saleID, gen, cachedSale{sale: s, notFound: err != nil, until: c.now().Add(c.ttl)})
		}
		return s, err
	})
	if err != nil {
		return order.Sale{}, err
	}
	return v.(order.Sale), nil
}

func (c *saleCache) store(saleID string, gen uint64, e cachedSale) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[saleID] != gen {
		return // the admin changed the sale while this read ran
	}
	if len(c.entries) >= saleCacheEntries {
		clear(c.entries)
		clear(c.gen) // safe: a read in flight across the reset compares with 0 and stores at worst ttl-old data
	}
	c.entries[saleID] = e
}

// forget drops a sale after the admin changed it, and keeps a read that
// began before the change from storing what it saw.
func (c *saleCache) forget(saleID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, saleID)
	c.gen[saleID]++
	c.group.Forget(saleID)
}
