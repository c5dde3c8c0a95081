package httpapi

import (
	"net/netip"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/sourceaddr"
)

func TestAuthLimiterWindow(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := newAuthLimiter(AuthLimit{Limit: 3, Window: time.Minute, Exempt: sourceaddr.Loopback}, clock.now)
	const a, b = "203.0.113.5:1000", "203.0.113.6:1000"
	for i := range 3 {
		if w := l.blocked(a); w != 0 {
			t.Fatalf("failure %d: blocked %s before the limit", i, w)
		}
		l.failed(a)
	}
	clock.add(10 * time.Second)
	if w := l.blocked(a); w != 50*time.Second {
		t.Errorf("past the limit: wait %s, want the 50 s left of the window", w)
	}
	if w := l.blocked("203.0.113.5:2000"); w == 0 {
		t.Error("another port of the same address is not limited")
	}
	if w := l.blocked(b); w != 0 {
		t.Errorf("another address is blocked %s", w)
	}
	clock.add(50 * time.Second)
	if w := l.blocked(a); w != 0 {
		t.Errorf("after the window: still blocked %s", w)
	}

	// IPv6: one /64 is one client.
	for range 3 {
		l.failed("[2001:db8:1:2::1]:443")
	}
	if l.blocked("[2001:db8:1:2:ffff::9]:443") == 0 || l.blocked("[2001:db8:1:3::1]:443") != 0 {
		t.Error("IPv6 failures are not counted per /64")
	}

	// Loopback is exempt; no limit limits nobody.
	for range 10 {
		l.failed("127.0.0.1:5000")
	}
	if w := l.blocked("127.0.0.1:5000"); w != 0 {
		t.Errorf("loopback blocked %s, want exempt", w)
	}
	off := newAuthLimiter(AuthLimit{}, clock.now)
	for range 10 {
		off.failed(a)
	}
	if off.blocked(a) != 0 {
		t.Error("limit 0 blocked")
	}
	var nilLimiter *authLimiter
	nilLimiter.failed(a)
	if nilLimiter.blocked(a) != 0 {
		t.Error("a nil limiter blocked")
	}
}

// The table is bounded: a flood of addresses cannot grow it without limit.
func TestAuthLimiterBounded(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := newAuthLimiter(AuthLimit{Limit: 1, Window: time.Minute}, clock.now)
	for i := range authLimitAddrs + 10 {
		l.failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String() + ":1")
	}
	if n := len(l.addrs); n > authLimitAddrs {
		t.Errorf("%d addresses tracked, want at most %d", n, authLimitAddrs)
	}
}

func TestAuthLimitValidate(t *testing.T) {
	for _, l := range []AuthLimit{{}, {Limit: 60, Window: time.Minute}} {
		if err := l.Validate(); err != nil {
			t.Errorf("%+v: %v", l, err)
		}
	}
	for _, l := range []AuthLimit{{Limit: -1}, {Limit: 5, Window: time.Millisecond}} {
		if err := l.Validate(); err == nil {
			t.Errorf("%+v accepted", l)
		}
	}
}
