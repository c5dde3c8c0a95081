package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
)

// The admin audit (sale_changes) against the real PostgreSQL.

func changes(t *testing.T, s *pgstore.Store, id string, before int64, limit int) []order.SaleChange {
	t.Helper()
	got, err := s.SaleChanges(context.Background(), id, before, limit)
	if err != nil {
		t.Fatalf("SaleChanges(%s, %d, %d): %v", id, before, limit, err)
	}
	return got
}

// sameBefore reports whether a change's before is want (nil: a creation).
func sameBefore(got *order.SaleSpec, want *order.SaleSpec) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return same(*got, *want)
}

func TestSaleChangesRecordEveryChange(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := saleID(t, pool)
	if _, err := s.SaleChanges(ctx, id, 0, 10); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("changes of an unknown sale: %v, want not found", err)
	}

	first := spec(id, 10)
	first.StartsAt = first.StartsAt.Add(123456789 * time.Nanosecond) // below PostgreSQL's microsecond
	if _, _, err := s.PutSale(ctx, first, "admin:1111"); err != nil {
		t.Fatal(err)
	}
	second := spec(id, 20)
	second.Name, second.EndsAt = "Phone v2", nil
	if _, _, err := s.PutSale(ctx, second, "admin:2222"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutSale(ctx, second, "admin:3333"); err != nil { // the same definition again: not a change
		t.Fatal(err)
	}
	_, undo, err := s.PutSale(ctx, spec(id, 5), "admin:4444") // then the hot ledger refuses it
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(t, s, id, 0, 10); len(got) != 3 || got[0].Actor != "admin:4444" {
		t.Fatalf("before the undo: %d changes, newest by %q; want 3, the newest by admin:4444", len(got), got[0].Actor)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutSale(ctx, first, "admin:5555"); err != nil { // ns below the microsecond: still the same as stored?
		t.Fatal(err)
	}

	got := changes(t, s, id, 0, 10)
	stored := first
	stored.StartsAt = stored.StartsAt.Truncate(time.Microsecond)
	want := []struct {
		actor         string
		before, after *order.SaleSpec
	}{
		{"admin:5555", &second, &stored},
		{"admin:2222", &stored, &second},
		{"admin:1111", nil, &stored},
	}
	if len(got) != len(want) {
		for _, c := range got {
			t.Logf("change %d by %s: %+v -> %+v", c.ID, c.Actor, c.Before, c.After)
		}
		t.Fatalf("%d changes, want %d: the no-op and the undone change are not recorded", len(got), len(want))
	}
	for i, w := range want {
		c := got[i]
		if c.Actor != w.actor || c.SaleID != id || !sameBefore(c.Before, w.before) || !same(c.After, *w.after) {
			t.Errorf("change %d: by %q %+v -> %+v; want by %q %+v -> %+v", i, c.Actor, c.Before, c.After, w.actor, w.before, w.after)
		}
		if c.ChangedAt.IsZero() || c.ChangedAt.Location() != time.UTC || time.Since(c.ChangedAt) > time.Minute {
			t.Errorf("change %d: changed_at %v, want a moment ago, in UTC", i, c.ChangedAt)
		}
		if i > 0 && (c.ID >= got[i-1].ID || c.ChangedAt.After(got[i-1].ChangedAt)) {
			t.Errorf("change %d (id %d, %v) is not older than change %d (id %d, %v)", i, c.ID, c.ChangedAt, i-1, got[i-1].ID, got[i-1].ChangedAt)
		}
	}

	// Pages: limit, then before = the last id seen.
	page := changes(t, s, id, 0, 2)
	if len(page) != 2 || page[0].ID != got[0].ID || page[1].ID != got[1].ID {
		t.Fatalf("first page of 2: %+v", page)
	}
	rest := changes(t, s, id, page[1].ID, 2)
	if len(rest) != 1 || rest[0].ID != got[2].ID {
		t.Fatalf("page before %d: %+v, want the creation alone", page[1].ID, rest)
	}
	if end := changes(t, s, id, got[2].ID, 2); len(end) != 0 {
		t.Fatalf("page before the creation: %+v, want none", end)
	}
}

// A sale PostgreSQL defines without a recorded change (defined before the
// audit existed) has an empty history, not a missing one.
func TestSaleChangesOfASaleDefinedBeforeTheAudit(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := saleID(t, pool)
	if _, err := pool.Exec(ctx, `INSERT INTO sales (sale_id, name, stock, per_user_limit, starts_at) VALUES ($1, 'old', 1, 1, now())`, id); err != nil {
		t.Fatal(err)
	}
	got, err := s.SaleChanges(ctx, id, 0, 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("changes %+v, %v; want none, no error", got, err)
	}
}

// An undone creation leaves neither the sale nor its record; an undo that
// another write overtook leaves both writes' records, chained.
func TestSaleChangesUndo(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()

	id := saleID(t, pool)
	_, undo, err := s.PutSale(ctx, spec(id, 10), testActor)
	if err != nil {
		t.Fatal(err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.SaleChanges(ctx, id, 0, 10); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("after undoing a creation: %+v, %v; want not found", got, err)
	}

	first, refused, later := spec(id, 10), spec(id, 20), spec(id, 30)
	if _, _, err := s.PutSale(ctx, first, testActor); err != nil {
		t.Fatal(err)
	}
	_, undo, err = s.PutSale(ctx, refused, testActor)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutSale(ctx, later, testActor); err != nil {
		t.Fatal(err)
	}
	if err := undo(ctx); err != nil {
		t.Fatal(err)
	}
	got := changes(t, s, id, 0, 10)
	if len(got) != 3 || !same(got[0].After, later) || !sameBefore(got[0].Before, &refused) || !same(got[1].After, refused) {
		t.Fatalf("after an overtaken undo: %+v; want 3 changes, the last from the refused definition to the later one", got)
	}
}

// A write PostgreSQL refuses (stock below the persisted units) records
// nothing; a write without an actor is refused.
func TestSaleChangesRefusedWrites(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	id := saleID(t, pool)
	if _, _, err := s.PutSale(ctx, spec(id, 10), ""); err == nil {
		t.Fatal("a write without an actor was accepted")
	}
	if _, err := s.SaleSpec(ctx, id); !errors.Is(err, order.ErrNotFound) {
		t.Fatalf("a write without an actor left the sale defined: %v", err)
	}
	if _, _, err := s.PutSale(ctx, spec(id, 10), testActor); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO sale_totals (sale_id, orders, units) VALUES ($1, 7, 7)`, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutSale(ctx, spec(id, 6), testActor); order.CodeOf(err) != order.CodeStockBelowSold {
		t.Fatalf("stock 6 with 7 persisted: %v, want stock_below_sold", err)
	}
	if got := changes(t, s, id, 0, 10); len(got) != 1 {
		t.Errorf("%d changes after a refused write, want the creation alone", len(got))
	}
}

// Concurrent writes of one sale, first writes included, each record what
// the one before it left: the creation has no before, and every other
// change's before is the previous change's after.
func TestSaleChangesConcurrentWritesChain(t *testing.T) {
	s, pool := newStore(t)
	ctx := context.Background()
	for _, existing := range []bool{false, true} {
		t.Run(fmt.Sprintf("existing=%v", existing), func(t *testing.T) {
			id := saleID(t, pool)
			if existing {
				if _, _, err := s.PutSale(ctx, spec(id, 1), testActor); err != nil {
					t.Fatal(err)
				}
			}
			const n = 12
			var wg sync.WaitGroup
			var mu sync.Mutex
			creations := 0
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					existed, _, err := s.PutSale(ctx, spec(id, int64(100+i)), fmt.Sprintf("admin:%04d", i))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					if !existed {
						creations++
					}
				})
			}
			close(start)
			wg.Wait()
			wantCreations, wantChanges := 1, n
			if existing {
				wantCreations, wantChanges = 0, n+1
			}
			if creations != wantCreations {
				t.Errorf("%d writes created the sale, want %d", creations, wantCreations)
			}
			got := changes(t, s, id, 0, 100)
			if len(got) != wantChanges {
				t.Fatalf("%d changes, want %d", len(got), wantChanges)
			}
			oldest := got[len(got)-1]
			if oldest.Before != nil {
				t.Errorf("the oldest change has a before %+v, want the creation", oldest.Before)
			}
			for i := len(got) - 2; i >= 0; i-- {
				if !sameBefore(got[i].Before, &got[i+1].After) {
					t.Errorf("change %d by %s: before %+v, want the previous change's after %+v", got[i].ID, got[i].Actor, got[i].Before, got[i+1].After)
				}
			}
			if last := read(t, s, id); !same(last, got[0].After) {
				t.Errorf("the sale reads %+v, want the newest change's after %+v", last, got[0].After)
			}
		})
	}
}
