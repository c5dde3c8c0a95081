// Package sourceaddr names sets of client addresses: the callers whose
// traceparent is trusted (BLITZBUY_TRACE_TRUSTED), the callers exempt from
// the failed-authentication limit (BLITZBUY_AUTH_LIMIT_EXEMPT). A request's
// source is its connection's peer address (http.Request.RemoteAddr), never a
// header such as X-Forwarded-For that the client writes itself.
package sourceaddr

import (
	"fmt"
	"net/netip"
	"strings"
)

// Set is a list of address prefixes; the zero Set contains nothing.
type Set []netip.Prefix

// Loopback is 127.0.0.0/8 and ::1.
var Loopback = Set{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// Parse reads a comma-separated list of CIDR prefixes or single addresses
// ("10.0.0.0/8, 192.168.1.7, ::1"), the word "loopback" for Loopback, or
// the word "none". An empty list, or "none", is the empty Set.
func Parse(list string) (Set, error) {
	var s Set
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "" || item == "none":
			continue
		case item == "loopback":
			s = append(s, Loopback...)
		case strings.Contains(item, "/"):
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("sourceaddr: %q is not a CIDR prefix: %w", item, err)
			}
			s = append(s, p.Masked())
		default:
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("sourceaddr: %q is not an address: %w", item, err)
			}
			s = append(s, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return s, nil
}

// UnmarshalText lets the env loader parse a Set.
func (s *Set) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// String renders the set as Parse reads it.
func (s Set) String() string {
	parts := make([]string, len(s))
	for i, p := range s {
		parts[i] = p.String()
	}
	return strings.Join(parts, ",")
}

// Contains reports whether addr, a host:port (RemoteAddr) or a bare
// address, is in the set. An address that does not parse is in no set.
func (s Set) Contains(addr string) bool {
	if len(s) == 0 {
		return false
	}
	a, ok := Addr(addr)
	if !ok {
		return false
	}
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr is the address of a host:port or bare address, IPv4-mapped IPv6
// unmapped and zones dropped.
func Addr(addr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}
