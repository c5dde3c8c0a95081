package httpapi

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/sourceaddr"
)

// AuthLimit bounds failed authentications per source address: past Limit
// failures (401 or 403) within Window, the address is answered 429
// rate_limited until the window ends, before its credentials are read, so a
// client guessing tokens pays more than the server. Exempt addresses are
// never limited (loopback by default, so load tests on 127.0.0.1 still
// work). The count is per API instance, in memory: behind a load balancer
// the source is the balancer, which then has to limit at the edge.
type AuthLimit struct {
	Limit  int           // 0: no limit
	Window time.Duration // the fixed window the failures are counted in
	Exempt sourceaddr.Set
}

// ErrAuthLimit: a limit without a usable window.
var ErrAuthLimit = errors.New("httpapi: the failed-authentication limit needs a window of at least 1s (limit 0 turns it off)")

// Validate reports whether l is a limit New accepts.
func (l AuthLimit) Validate() error {
	if l.Limit < 0 || (l.Limit > 0 && l.Window < time.Second) {
		return ErrAuthLimit
	}
	return nil
}

// authLimitAddrs bounds the limiter's memory: past it, windows that ended
// are dropped, and if every address is still live the table starts over
// (failing open for memory's sake, never closed for an honest client).
const authLimitAddrs = 100_000

type authLimiter struct {
	AuthLimit
	now     func() time.Time
	limited prometheus.Counter // nil without metrics

	mu    sync.Mutex
	addrs map[netip.Prefix]*failWindow
}

type failWindow struct {
	start time.Time
	fails int
}

func newAuthLimiter(l AuthLimit, now func() time.Time) *authLimiter {
	return &authLimiter{AuthLimit: l, now: now, addrs: map[netip.Prefix]*failWindow{}}
}

// key is the unit an attacker controls: one IPv4 address, one IPv6 /64.
// ok is false for an address not limited (exempt, unparsable, no limit).
func (l *authLimiter) key(remote string) (netip.Prefix, bool) {
	if l == nil || l.Limit == 0 || l.Exempt.Contains(remote) {
		return netip.Prefix{}, false
	}
	a, ok := sourceaddr.Addr(remote)
	if !ok {
		return netip.Prefix{}, false
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p, true
}

// blocked reports how long remote must wait, 0 when it may authenticate.
func (l *authLimiter) blocked(remote string) time.Duration {
	k, ok := l.key(remote)
	if !ok {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.addrs[k]
	if w == nil || w.fails < l.Limit {
		return 0
	}
	if left := w.start.Add(l.Window).Sub(now); left > 0 {
		if l.limited != nil {
			l.limited.Inc()
		}
		return left
	}
	delete(l.addrs, k)
	return 0
}

// failed counts one failed authentication of remote.
func (l *authLimiter) failed(remote string) {
	k, ok := l.key(remote)
	if !ok {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.addrs[k]
	if w == nil || !now.Before(w.start.Add(l.Window)) {
		if w == nil && len(l.addrs) >= authLimitAddrs {
			l.prune(now)
		}
		w = &failWindow{start: now}
		l.addrs[k] = w
	}
	w.fails++
}

func (l *authLimiter) prune(now time.Time) {
	for k, w := range l.addrs {
		if !now.Before(w.start.Add(l.Window)) {
			delete(l.addrs, k)
		}
	}
	if len(l.addrs) >= authLimitAddrs {
		clear(l.addrs)
	}
}
