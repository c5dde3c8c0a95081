package reservation_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// Redis at its maxmemory with the noeviction policy (docs/operations.md,
// "Redis memory"): it refuses a script's first write that could grow memory
// (a script without shebang flags is refused at that write, so it has no
// partial effect). These tests fill a private redis-server past a tiny
// maxmemory and check that an order is refused with Redis's OOM error (which
// order-api answers 503 unavailable: it is no domain answer), that nothing
// was written, and that the same Idempotency-Key is accepted once memory is
// available again.

// oomServer is a private Redis with a tiny maxmemory and a client to it.
type oomServer struct {
	rdb rueidis.Client
}

func newOOMServer(t *testing.T) *oomServer {
	t.Helper()
	addr := stacktest.PrivateRedis(t, "--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rdb.Close)
	return &oomServer{rdb: rdb}
}

func (s *oomServer) memory(t *testing.T) (used, limit int64) {
	t.Helper()
	info, err := s.rdb.Do(context.Background(), s.rdb.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) int64 {
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("INFO memory %s: %q", name, v)
				}
				return n
			}
		}
		t.Fatalf("INFO memory has no %s", name)
		return 0
	}
	return field("used_memory"), field("maxmemory")
}

// fill writes 9 MiB and lowers maxmemory to 8 MiB below it: Redis is at
// its limit, as it would be after a day of idempotency records.
func (s *oomServer) fill(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := s.rdb.Do(ctx, s.rdb.B().Set().Key("filler").Value(strings.Repeat("x", 9<<20)).Build()).Error(); err != nil {
		t.Fatalf("fill: %v", err)
	}
	s.setMax(t, "8mb")
	if used, limit := s.memory(t); used <= limit {
		t.Fatalf("after the fill: used_memory %d, want above maxmemory %d", used, limit)
	}
}

// setMax raises (or lowers) maxmemory: the operator's remedy, here on the
// test's own server.
func (s *oomServer) setMax(t *testing.T, v string) {
	t.Helper()
	if err := s.rdb.Do(context.Background(), s.rdb.B().ConfigSet().ParameterValue().ParameterValue("maxmemory", v).Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

// snapshot is every key but the filler with its serialized value and
// whether it expires: what "nothing was written" compares.
func (s *oomServer) snapshot(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := s.rdb.Do(ctx, s.rdb.B().Keys().Pattern("*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if k == "filler" {
			continue
		}
		dump, err := s.rdb.Do(ctx, s.rdb.B().Dump().Key(k).Build()).ToString()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		ttl, err := s.rdb.Do(ctx, s.rdb.B().Pttl().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = dump + "|expires=" + strconv.FormatBool(ttl >= 0)
	}
	return out
}

func isOOM(err error) bool {
	var re *rueidis.RedisError
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "OOM")
}

func TestReserveAtMaxmemoryRefusesAndHoldsNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rateLimit int64
	}{
		{"rate limit off", 0},
		// The reservation script's rate-limit window is its first write: it
		// must be one Redis refuses at the limit (ZADD), not one it allows
		// (ZREMRANGEBYSCORE), or every later write of the script would pass.
		{"rate limit on", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := newOOMServer(t)
			store, err := reservation.New(srv.rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour,
				RateLimit: tc.rateLimit, RateWindow: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			sale := "oom"
			if _, err := store.UpsertSale(ctx, order.SaleSpec{ID: sale, Name: "oom", Stock: 10, PerUserLimit: 2,
				StartsAt: time.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			before := order.Request{SaleID: sale, UserID: "u1", IdempotencyKey: "k-before", Quantity: 1}
			first, err := store.Reserve(ctx, before)
			if err != nil || first.Err != nil {
				t.Fatalf("reserve below the limit: got %v / %v, want accepted", err, first.Err)
			}

			srv.fill(t)
			want := srv.snapshot(t)
			counters, err := store.Counters(ctx, sale, time.Now())
			if err != nil {
				t.Fatal(err)
			}

			req := order.Request{SaleID: sale, UserID: "u2", IdempotencyKey: "k-at-limit", Quantity: 1}
			res, err := store.Reserve(ctx, req)
			if !isOOM(err) {
				t.Fatalf("reserve at maxmemory: got %+v, err %v; want Redis's OOM error", res, err)
			}
			if code := order.CodeOf(err); code != order.CodeInternal {
				// Not a domain answer: httpapi answers it 503 unavailable.
				t.Errorf("reserve at maxmemory: code %q, want %q (an infrastructure failure)", code, order.CodeInternal)
			}
			if res.Order.ID != "" || res.Err != nil {
				t.Errorf("reserve at maxmemory: got reservation %+v, want none", res)
			}
			got := srv.snapshot(t)
			if !maps.Equal(got, want) {
				t.Errorf("keys after the refused order: got %q, want unchanged %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
				for k, v := range got {
					if want[k] != v {
						t.Errorf("key %s was written", k)
					}
				}
			}
			if c, err := store.Counters(ctx, sale, time.Now()); err != nil || c != counters {
				t.Errorf("counters after the refused order: got %+v (%v), want %+v", c, err, counters)
			}

			// An order reserved before the limit still completes: its ack
			// (the broker acknowledged it) writes nothing new...
			if err := store.Ack(ctx, sale, first.Order.ID); err != nil {
				t.Errorf("ack at maxmemory: %v, want nil", err)
			}
			// ...but the writer's claim is refused until memory is free (it
			// retries; nothing is lost).
			ref := []order.Ref{{SaleID: sale, OrderID: first.Order.ID}}
			if _, err := store.ClaimForPersist(ctx, ref); !isOOM(err) {
				t.Errorf("claim for persist at maxmemory: got %v, want Redis's OOM error", err)
			}

			srv.setMax(t, "64mb")
			again, err := store.Reserve(ctx, req)
			if err != nil || again.Err != nil || again.Replayed || again.Order.ID == "" {
				t.Fatalf("the same key once memory is free: got %+v, err %v; want accepted", again, err)
			}
			replay, err := store.Reserve(ctx, req)
			if err != nil || !replay.Replayed || replay.Order.ID != again.Order.ID {
				t.Errorf("its replay: got %+v, err %v; want order %s replayed", replay, err, again.Order.ID)
			}
			if c, err := store.Counters(ctx, sale, time.Now()); err != nil || c.Sale.Remaining != counters.Sale.Remaining-1 {
				t.Errorf("remaining after the accepted retry: got %+v (%v), want %d", c, err, counters.Sale.Remaining-1)
			}
			if st, err := store.ClaimForPersist(ctx, ref); err != nil || len(st) != 1 || st[0] != order.StagePersisting {
				t.Errorf("claim for persist once memory is free: got %v, %v; want persisting", st, err)
			}
		})
	}
}
