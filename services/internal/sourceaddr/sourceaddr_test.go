package sourceaddr_test

import (
	"testing"

	"github.com/blitzbuy/blitzbuy/services/internal/sourceaddr"
)

func TestSet(t *testing.T) {
	s, err := sourceaddr.Parse(" 10.1.0.0/16, 192.168.1.7,loopback, fd00::/8 ,")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		in   bool
	}{
		{"10.1.2.3:443", true}, {"10.2.0.1:443", false}, {"192.168.1.7:1", true}, {"192.168.1.8:1", false},
		{"127.0.0.1:5000", true}, {"127.9.9.9:1", true}, {"[::1]:80", true}, {"[::ffff:127.0.0.1]:80", true},
		{"[fd12::1]:80", true}, {"[fe80::1%eth0]:80", false}, {"", false}, {"garbage", false}, {"10.1.2.3", true},
	}
	for _, tc := range tests {
		if got := s.Contains(tc.addr); got != tc.in {
			t.Errorf("Contains(%q) = %v, want %v", tc.addr, got, tc.in)
		}
	}
	if (sourceaddr.Set{}).Contains("127.0.0.1:1") {
		t.Error("the empty set contains loopback")
	}
	if got := s.String(); got != "10.1.0.0/16,192.168.1.7/32,127.0.0.0/8,::1/128,fd00::/8" {
		t.Errorf("String() = %s", got)
	}
	for _, bad := range []string{"10.0.0.0/33", "nope", "1.2.3.4:80"} {
		if _, err := sourceaddr.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	var u sourceaddr.Set
	if err := u.UnmarshalText([]byte("loopback")); err != nil || !u.Contains("[::1]:9") {
		t.Errorf("UnmarshalText(loopback) = %v, %v", u, err)
	}
}
