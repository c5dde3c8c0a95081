// Package redisaddr turns BLITZBUY_REDIS_ADDR into a rueidis client option,
// so every client of the ledger (the services, blitzctl, the benchmark
// verifier, the drills) reads the variable the same way.
//
// Two forms are accepted:
//
//	127.0.0.1:6379
//	    one Redis server (the default profile);
//	redis://127.0.0.1:26379?addr=127.0.0.1:26380&addr=127.0.0.1:26381&master_set=blitzbuy
//	    rueidis's URL form (rueidis.ParseURL): with master_set the addresses
//	    are Sentinels, and the client follows the primary they elect.
package redisaddr

import (
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// Option returns the client option for addr, selecting database db when addr
// is host:port (a URL may name its own database as its path; db then
// overrides it only when non-zero).
func Option(addr string, db int) (rueidis.ClientOption, error) {
	if !strings.Contains(addr, "://") {
		return rueidis.ClientOption{InitAddress: []string{addr}, SelectDB: db}, nil
	}
	opt, err := rueidis.ParseURL(addr)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("redis address %q: %w", Redact(addr), err)
	}
	if db != 0 {
		opt.SelectDB = db
	}
	return opt, nil
}

// Redact returns addr with any password replaced, for logs.
func Redact(addr string) string {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return addr
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	return scheme + "://" + rest
}
