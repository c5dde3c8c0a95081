package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// The admin audit end to end: PUTs through the real handler into the real
// PostgreSQL and Redis, read back at GET /v1/admin/sales/{id}/changes.

func (r response) changes(t testing.TB) httpapi.SaleChanges {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("changes: status %d, body %s", r.Status, r.Body)
	}
	var c httpapi.SaleChanges
	if err := json.Unmarshal(r.Body, &c); err != nil {
		t.Fatalf("changes body %s: %v", r.Body, err)
	}
	return c
}

func def(name string, stock, limit int64, starts time.Time) *httpapi.SaleDefinition {
	return &httpapi.SaleDefinition{Name: name, Stock: stock, PerUserLimit: limit, StartsAt: starts}
}

func sameDefinition(a, b *httpapi.SaleDefinition) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Name == b.Name && a.Stock == b.Stock && a.PerUserLimit == b.PerUserLimit && a.StartsAt.Equal(b.StartsAt) &&
		(a.EndsAt == nil) == (b.EndsAt == nil) && (a.EndsAt == nil || a.EndsAt.Equal(*b.EndsAt))
}

func TestAdminSaleChanges(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id := "aud-" + testkit.RandHex(4)
	t.Cleanup(func() { h.deleteSale(id) })
	put, changes := "/v1/admin/sales/"+id, "/v1/admin/sales/"+id+"/changes"
	starts := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	body := func(name string, stock int64) string {
		return fmt.Sprintf(`{"name":%q,"stock":%d,"per_user_limit":2,"starts_at":%q}`, name, stock, starts.Format(time.RFC3339))
	}
	for _, step := range []struct {
		name, body string
		want       int
	}{
		{"create", body("Phone", 10), http.StatusCreated},
		{"update", body("Phone", 12), http.StatusOK},
		{"the same definition again", body("Phone", 12), http.StatusOK},
	} {
		if r := h.do("PUT", put, h.Admin, nil, step.body); r.Status != step.want {
			t.Fatalf("%s: %d %s, want %d", step.name, r.Status, r.Body, step.want)
		}
	}
	// Four units reserved: a stock of 3 is refused (by Redis, or by PostgreSQL
	// if the writer persisted them already) and must leave no record.
	for i := range 2 {
		if r := h.placeOrder(id, fmt.Sprintf("buyer-%d", i), "k", `{"quantity":2}`); r.Status != http.StatusAccepted {
			t.Fatalf("order: %d %s", r.Status, r.Body)
		}
	}
	if r := h.do("PUT", put, h.Admin, nil, body("Phone", 3)); r.Status != http.StatusConflict || r.problem(t).Code != order.CodeStockBelowSold {
		t.Fatalf("stock below sold: %d %s, want 409 stock_below_sold", r.Status, r.Body)
	}

	sum := sha256.Sum256([]byte(h.Admin))
	actor := "admin:" + hex.EncodeToString(sum[:])[:16]
	r := h.do("GET", changes, h.Admin, nil, nil)
	got := r.changes(t)
	want := []struct{ before, after *httpapi.SaleDefinition }{
		{def("Phone", 10, 2, starts), def("Phone", 12, 2, starts)},
		{nil, def("Phone", 10, 2, starts)},
	}
	if got.SaleID != id || got.NextBefore != nil || len(got.Changes) != len(want) {
		t.Fatalf("changes %s; want sale %s, 2 changes (no-op and refused change not recorded), no next page", r.Body, id)
	}
	for i, w := range want {
		c := got.Changes[i]
		if c.Actor != actor || !sameDefinition(c.Before, w.before) || !sameDefinition(&c.After, w.after) {
			t.Errorf("change %d: by %q %+v -> %+v; want by %q %+v -> %+v", i, c.Actor, c.Before, c.After, actor, w.before, w.after)
		}
		if time.Since(c.ChangedAt) > time.Minute || c.ChangedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("change %d: changed_at %v, want a moment ago", i, c.ChangedAt)
		}
	}
	if got.Changes[0].ID <= got.Changes[1].ID {
		t.Errorf("ids %d, %d: want newest first", got.Changes[0].ID, got.Changes[1].ID)
	}
	// The body's names, exactly (the creation's before is an explicit null).
	var raw struct {
		Top     map[string]json.RawMessage
		Changes []map[string]json.RawMessage `json:"changes"`
	}
	if err := json.Unmarshal(r.Body, &raw.Top); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.Body, &raw); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(raw.Top)); !slices.Equal(keys, []string{"changes", "next_before", "sale_id"}) {
		t.Errorf("body keys %v", keys)
	}
	if keys := slices.Sorted(maps.Keys(raw.Changes[1])); !slices.Equal(keys, []string{"actor", "after", "before", "changed_at", "id"}) || string(raw.Changes[1]["before"]) != "null" {
		t.Errorf("creation keys %v, before %s; want before null", keys, raw.Changes[1]["before"])
	}
	var after map[string]any
	if err := json.Unmarshal(raw.Changes[0]["after"], &after); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(after)); !slices.Equal(keys, []string{"ends_at", "hold_seconds", "name", "per_user_limit", "starts_at", "stock"}) {
		t.Errorf("definition keys %v, want the sale body's", keys)
	}

	// The token itself is nowhere: not in the answer, not in the stored rows.
	if strings.Contains(string(r.Body), h.Admin) {
		t.Errorf("the answer contains the admin token: %s", r.Body)
	}
	var rows string
	if err := h.pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(concat_ws(' ', id, sale_id, changed_at, actor, before, after), E'\n'), '')
		FROM sale_changes WHERE sale_id = $1`, id).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rows, actor) || strings.Contains(rows, h.Admin) {
		t.Errorf("stored rows %q: want the token id %s, never the token", rows, actor)
	}

	// Pages of one.
	first := h.do("GET", changes+"?limit=1", h.Admin, nil, nil).changes(t)
	if len(first.Changes) != 1 || first.Changes[0].ID != got.Changes[0].ID || first.NextBefore == nil || *first.NextBefore != got.Changes[0].ID {
		t.Fatalf("page 1 of limit 1: %+v", first)
	}
	second := h.do("GET", fmt.Sprintf("%s?limit=1&before=%d", changes, *first.NextBefore), h.Admin, nil, nil).changes(t)
	if len(second.Changes) != 1 || second.Changes[0].ID != got.Changes[1].ID || second.NextBefore != nil {
		t.Fatalf("page 2 of limit 1: %+v, want the creation and no next page", second)
	}
	end := h.do("GET", fmt.Sprintf("%s?before=%d", changes, got.Changes[1].ID), h.Admin, nil, nil)
	if c := end.changes(t); len(c.Changes) != 0 || c.NextBefore != nil || !strings.Contains(string(end.Body), `"changes":[]`) {
		t.Errorf("past the oldest change: %s, want an empty list", end.Body)
	}

	for _, tc := range []struct {
		name, path, bearer string
		wantStatus         int
		wantCode           order.Code
	}{
		{"no token", changes, "", http.StatusUnauthorized, order.CodeUnauthorized},
		{"user token", changes, h.token("u1"), http.StatusForbidden, order.CodeForbidden},
		{"wrong admin token", changes, "not-the-admin-token", http.StatusForbidden, order.CodeForbidden},
		{"unknown sale", "/v1/admin/sales/none-" + testkit.RandHex(4) + "/changes", h.Admin, http.StatusNotFound, order.CodeNotFound},
		{"invalid sale id", "/v1/admin/sales/bad~id/changes", h.Admin, http.StatusNotFound, order.CodeNotFound},
		{"limit 0", changes + "?limit=0", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"limit 501", changes + "?limit=501", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"limit not a number", changes + "?limit=ten", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"limit signed", changes + "?limit=%2B5", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"limit empty", changes + "?limit=", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"limit twice", changes + "?limit=1&limit=2", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"before 0", changes + "?before=0", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"before negative", changes + "?before=-1", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"before beyond int64", changes + "?before=9223372036854775808", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
		{"malformed query", changes + "?limit=%zz", h.Admin, http.StatusBadRequest, order.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", tc.path, tc.bearer, nil, nil)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", r.Status, tc.wantStatus, r.Body)
			}
			if got := r.problem(t).Code; got != tc.wantCode {
				t.Errorf("code %q, want %q", got, tc.wantCode)
			}
			if tc.wantStatus == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q, want Bearer", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	if r := h.do("GET", changes+"?limit=500&unknown=1", h.Admin, nil, nil); r.Status != http.StatusOK {
		t.Errorf("limit 500 and an unknown parameter: %d %s, want 200", r.Status, r.Body)
	}
}

// Concurrent PUTs of one sale each leave a record, and they chain: the
// before of one is the after of the other.
func TestAdminSaleChangesConcurrentPUTs(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	id := h.newSale(10, 2)
	const n = 6
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			r := h.do("PUT", "/v1/admin/sales/"+id, h.Admin, nil, map[string]any{"name": fmt.Sprintf("v%d", i), "stock": 20 + i, "per_user_limit": 2})
			if r.Status != http.StatusOK {
				t.Errorf("PUT %d: %d %s", i, r.Status, r.Body)
			}
		})
	}
	close(start)
	wg.Wait()
	got := h.do("GET", "/v1/admin/sales/"+id+"/changes", h.Admin, nil, nil).changes(t)
	if len(got.Changes) != n+1 {
		t.Fatalf("%d changes, want %d (the creation and every PUT)", len(got.Changes), n+1)
	}
	for i := 0; i < n; i++ {
		newer, older := got.Changes[i], got.Changes[i+1]
		if !sameDefinition(newer.Before, &older.After) {
			t.Errorf("change %d: before %+v, want the previous change's after %+v", newer.ID, newer.Before, older.After)
		}
	}
	if s := h.sale(id); s.Name != got.Changes[0].After.Name || s.Stock != got.Changes[0].After.Stock {
		t.Errorf("the sale reads %s/%d, want the newest change's %s/%d", s.Name, s.Stock, got.Changes[0].After.Name, got.Changes[0].After.Stock)
	}
}

// Without PostgreSQL there is no history to read: 404, said plainly, and
// still the admin routes' 401/403 first.
func TestAdminSaleChangesWithoutPostgres(t *testing.T) {
	h := newHarness(t, harnessOpts{noSales: true})
	id := h.newSale(1, 1)
	r := h.do("GET", "/v1/admin/sales/"+id+"/changes", h.Admin, nil, nil)
	if p := r.problem(t); r.Status != http.StatusNotFound || p.Code != order.CodeNotFound || !strings.Contains(p.Detail, "PostgreSQL") {
		t.Errorf("changes without PostgreSQL: %d %s, want 404 not_found naming PostgreSQL", r.Status, r.Body)
	}
	if r := h.do("GET", "/v1/admin/sales/"+id+"/changes", "", nil, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", r.Status)
	}
}
