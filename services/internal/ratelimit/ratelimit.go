// Package ratelimit limits order requests per user with a sliding window kept
// in Redis: one Lua script, one round trip, and a rejected request touches no
// stock.
package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

//go:embed sliding_window.lua
var slidingWindowLua string

// Limiter is a per-user sliding-window limiter. Limit 0 disables it.
type Limiter struct {
	client rueidis.Client
	limit  int64
	window time.Duration
	script *rueidis.Lua
	seq    atomic.Uint64
	prefix string
}

// ErrInvalidLimit: the limit is negative, or positive over a window shorter
// than the millisecond the Lua script counts in.
var ErrInvalidLimit = errors.New("ratelimit: limit must be >= 0 (0 disables) with a window of at least 1ms")

// Validate reports whether limit per window is a limiter New accepts. The
// limiter owns this rule; the config package calls Validate so a bad
// environment fails before anything connects.
func Validate(limit int64, window time.Duration) error {
	if limit < 0 || (limit > 0 && window < time.Millisecond) {
		return fmt.Errorf("%w (got %d per %s)", ErrInvalidLimit, limit, window)
	}
	return nil
}

// New returns a limiter allowing limit requests per window per user.
func New(client rueidis.Client, limit int64, window time.Duration) (*Limiter, error) {
	if err := Validate(limit, window); err != nil {
		return nil, err
	}
	return &Limiter{client: client, limit: limit, window: window, script: rueidis.NewLuaScript(slidingWindowLua),
		prefix: strconv.FormatInt(time.Now().UnixNano(), 36)}, nil
}

// Enabled reports whether requests are limited at all.
func (l *Limiter) Enabled() bool { return l != nil && l.limit > 0 }

// Allow counts one request of userID if the window has room.
func (l *Limiter) Allow(ctx context.Context, userID string) (order.RateLimit, error) {
	if !l.Enabled() {
		return order.RateLimit{Allowed: true}, nil
	}
	member := l.prefix + "-" + strconv.FormatUint(l.seq.Add(1), 36)
	r, err := l.script.Exec(ctx, l.client, []string{"ratelimit:{" + userID + "}"},
		[]string{strconv.FormatInt(l.limit, 10), strconv.FormatInt(l.window.Milliseconds(), 10), member}).AsIntSlice()
	if err != nil {
		return order.RateLimit{}, fmt.Errorf("ratelimit: %w", err)
	}
	if len(r) != 3 {
		return order.RateLimit{}, fmt.Errorf("ratelimit: unexpected reply %v", r)
	}
	return order.RateLimit{Allowed: r[0] == 1, Limit: l.limit, Remaining: r[1], Reset: time.Duration(r[2]) * time.Millisecond}, nil
}
