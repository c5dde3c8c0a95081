package redisaddr

import (
	"slices"
	"testing"
)

func TestOption(t *testing.T) {
	cases := []struct {
		addr      string
		db        int
		wantAddrs []string
		wantDB    int
		wantSet   string
	}{
		{addr: "127.0.0.1:6379", db: 1, wantAddrs: []string{"127.0.0.1:6379"}, wantDB: 1},
		{addr: "redis://127.0.0.1:26379?addr=127.0.0.1:26380&addr=127.0.0.1:26381&master_set=blitzbuy",
			wantAddrs: []string{"127.0.0.1:26379", "127.0.0.1:26380", "127.0.0.1:26381"}, wantSet: "blitzbuy"},
		{addr: "redis://127.0.0.1:6379/3", wantAddrs: []string{"127.0.0.1:6379"}, wantDB: 3},
		{addr: "redis://127.0.0.1:6379/3", db: 2, wantAddrs: []string{"127.0.0.1:6379"}, wantDB: 2},
	}
	for _, c := range cases {
		opt, err := Option(c.addr, c.db)
		if err != nil {
			t.Fatalf("Option(%q): %v", c.addr, err)
		}
		if !slices.Equal(opt.InitAddress, c.wantAddrs) || opt.SelectDB != c.wantDB || opt.Sentinel.MasterSet != c.wantSet {
			t.Errorf("Option(%q, %d) = addrs %q db %d master_set %q, want %q %d %q", c.addr, c.db,
				opt.InitAddress, opt.SelectDB, opt.Sentinel.MasterSet, c.wantAddrs, c.wantDB, c.wantSet)
		}
	}
	if _, err := Option("redis://127.0.0.1:6379/notanumber", 0); err == nil {
		t.Error("a URL with a bad database: got no error")
	}
}

func TestRedact(t *testing.T) {
	if got, want := Redact("redis://user:s3cret@127.0.0.1:6379"), "redis://user:xxxxx@127.0.0.1:6379"; got != want {
		t.Errorf("Redact = %q, want %q", got, want)
	}
	if got := Redact("127.0.0.1:6379"); got != "127.0.0.1:6379" {
		t.Errorf("Redact(host:port) = %q", got)
	}
}
