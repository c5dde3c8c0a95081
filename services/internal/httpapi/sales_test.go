package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

func TestDecodeSaleRequest(t *testing.T) {
	now := time.Date(2030, 6, 1, 12, 0, 0, 456789, time.FixedZone("CEST", 2*3600))
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	tests := []struct {
		name       string
		body       string
		want       order.SaleSpec // compared when wantStatus is 0
		wantStatus int
	}{
		{"minimal: starts now, never ends", `{"name":"Phones","stock":100,"per_user_limit":2}`,
			order.SaleSpec{ID: "s", Name: "Phones", Stock: 100, PerUserLimit: 2, StartsAt: now.UTC().Truncate(time.Millisecond)}, 0},
		{"a window, in UTC", `{"name":"x","stock":0,"per_user_limit":1,"starts_at":"2030-06-01T14:00:00+02:00","ends_at":"2030-06-01T13:00:00Z"}`,
			order.SaleSpec{ID: "s", Name: "x", Stock: 0, PerUserLimit: 1, StartsAt: *at("2030-06-01T12:00:00Z"), EndsAt: at("2030-06-01T13:00:00Z")}, 0},
		{"nulls are absent", `{"name":"x","stock":1,"per_user_limit":1,"starts_at":null,"ends_at":null}`,
			order.SaleSpec{ID: "s", Name: "x", Stock: 1, PerUserLimit: 1, StartsAt: now.UTC().Truncate(time.Millisecond)}, 0},
		{"name of 200 characters", `{"name":"` + strings.Repeat("n", 200) + `","stock":1,"per_user_limit":1}`,
			order.SaleSpec{ID: "s", Name: strings.Repeat("n", 200), Stock: 1, PerUserLimit: 1, StartsAt: now.UTC().Truncate(time.Millisecond)}, 0},
		{"name of 201 characters", `{"name":"` + strings.Repeat("n", 201) + `","stock":1,"per_user_limit":1}`, order.SaleSpec{}, http.StatusBadRequest},
		// The schema's maxLength counts characters, as JSON Schema does: 200 of
		// them are 400 bytes here (it was refused over 200 bytes).
		{"name of 200 two-byte characters", `{"name":"` + strings.Repeat("é", 200) + `","stock":1,"per_user_limit":1}`,
			order.SaleSpec{ID: "s", Name: strings.Repeat("é", 200), Stock: 1, PerUserLimit: 1, StartsAt: now.UTC().Truncate(time.Millisecond)}, 0},
		{"name of 201 two-byte characters", `{"name":"` + strings.Repeat("é", 201) + `","stock":1,"per_user_limit":1}`, order.SaleSpec{}, http.StatusBadRequest},
		{"empty name", `{"name":"","stock":1,"per_user_limit":1}`, order.SaleSpec{}, http.StatusBadRequest},
		// PostgreSQL's text cannot hold U+0000: it was a 503 from the database.
		{"NUL in the name", `{"name":"a\u0000b","stock":1,"per_user_limit":1}`, order.SaleSpec{}, http.StatusBadRequest},
		{"stock above 1e9", `{"name":"x","stock":1000000001,"per_user_limit":1}`, order.SaleSpec{}, http.StatusBadRequest},
		{"negative stock", `{"name":"x","stock":-1,"per_user_limit":1}`, order.SaleSpec{}, http.StatusBadRequest},
		{"limit 0", `{"name":"x","stock":1,"per_user_limit":0}`, order.SaleSpec{}, http.StatusBadRequest},
		{"no limit", `{"name":"x","stock":1}`, order.SaleSpec{}, http.StatusBadRequest},
		{"ends at its start", `{"name":"x","stock":1,"per_user_limit":1,"starts_at":"2030-01-01T00:00:00Z","ends_at":"2030-01-01T01:00:00+01:00"}`,
			order.SaleSpec{}, http.StatusBadRequest},
		{"ends before now when starting now", `{"name":"x","stock":1,"per_user_limit":1,"ends_at":"2030-06-01T09:00:00Z"}`, order.SaleSpec{}, http.StatusBadRequest},
		// The ledger stores ends_ms 0 for "never ends": an end at or before the
		// epoch was stored as that, and the sale never ended.
		{"ends before the epoch", `{"name":"x","stock":1,"per_user_limit":1,"starts_at":"1900-01-01T00:00:00Z","ends_at":"1901-01-01T00:00:00Z"}`,
			order.SaleSpec{}, http.StatusBadRequest},
		{"ends within the epoch's millisecond", `{"name":"x","stock":1,"per_user_limit":1,"starts_at":"1969-12-31T00:00:00Z","ends_at":"1970-01-01T00:00:00.0009Z"}`,
			order.SaleSpec{}, http.StatusBadRequest},
		{"ends a millisecond after the epoch", `{"name":"x","stock":1,"per_user_limit":1,"starts_at":"0001-01-01T00:00:00Z","ends_at":"1970-01-01T00:00:00.001Z"}`,
			order.SaleSpec{ID: "s", Name: "x", Stock: 1, PerUserLimit: 1, StartsAt: *at("0001-01-01T00:00:00Z"), EndsAt: at("1970-01-01T00:00:00.001Z")}, 0},
		// Times are kept to the millisecond, so "after" is decided on what is stored.
		{"ends within its start's millisecond", `{"name":"x","stock":1,"per_user_limit":1,"starts_at":"2030-01-01T00:00:00.0001Z","ends_at":"2030-01-01T00:00:00.0009Z"}`,
			order.SaleSpec{}, http.StatusBadRequest},
		{"sub-millisecond times are truncated", `{"name":"x","stock":1,"per_user_limit":1,"starts_at":"2030-01-01T00:00:00.1239Z","ends_at":"2030-01-01T00:00:01.9999999Z"}`,
			order.SaleSpec{ID: "s", Name: "x", Stock: 1, PerUserLimit: 1, StartsAt: *at("2030-01-01T00:00:00.123Z"), EndsAt: at("2030-01-01T00:00:01.999Z")}, 0},
		{"not a date-time", `{"name":"x","stock":1,"per_user_limit":1,"starts_at":"tomorrow"}`, order.SaleSpec{}, http.StatusBadRequest},
		{"no body", ``, order.SaleSpec{}, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, status, err := decodeSaleRequest("application/json", strings.NewReader(tc.body), "s", now)
			if status != tc.wantStatus {
				t.Fatalf("status %d (err %v), want %d", status, err, tc.wantStatus)
			}
			if tc.wantStatus != 0 {
				if order.CodeOf(err) != order.CodeInvalidRequest {
					t.Errorf("err %v, want code %s", err, order.CodeInvalidRequest)
				}
				return
			}
			if err != nil || !sameSpec(got, tc.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// sameSpec compares two definitions, times as instants in UTC.
func sameSpec(a, b order.SaleSpec) bool {
	if a.ID != b.ID || a.Name != b.Name || a.Stock != b.Stock || a.PerUserLimit != b.PerUserLimit ||
		!a.StartsAt.Equal(b.StartsAt) || a.StartsAt.Location() != b.StartsAt.Location() || (a.EndsAt == nil) != (b.EndsAt == nil) {
		return false
	}
	return a.EndsAt == nil || (a.EndsAt.Equal(*b.EndsAt) && a.EndsAt.Location() == b.EndsAt.Location())
}
