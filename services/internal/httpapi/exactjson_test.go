package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Exact JSON for every body (docs/api.md, "Request bodies"): names match
// exactly, a key appears once, an integer field takes any integer-valued
// number and nothing else. The order body and the admin sale body go
// through the one decoder.
func TestExactJSONOrderBody(t *testing.T) {
	accepted := []struct {
		body string
		qty  int64
	}{
		{`{"quantity":2}`, 2},
		{`{"quantity":2.0}`, 2},
		{`{"quantity":2e0}`, 2},
		{`{"quantity":20e-1}`, 2},
		{`{"quantity":80773.0}`, 80773}, // the schemathesis case of issue #13
		{`{"quantity":1.000000000000000000000}`, 1},
		{`{"quantity":-0.0e0}`, 0}, // integer 0: refused below by the range rule, not as a non-integer
	}
	for _, c := range accepted {
		qty, status, err := DecodeOrderRequest("application/json", strings.NewReader(c.body))
		if c.qty == 0 {
			if err == nil || !strings.Contains(err.Error(), "between 1 and") {
				t.Errorf("%s: %d %d %v, want the quantity range error", c.body, qty, status, err)
			}
			continue
		}
		if err != nil || qty != c.qty {
			t.Errorf("%s: quantity %d (status %d, %v), want %d", c.body, qty, status, err, c.qty)
		}
	}
	refused := []struct{ body, detail string }{
		{`{"quantity":1,"quantity":2}`, `duplicate key "quantity"`},
		{`{"quantity":1,"quan\u0074ity":2}`, `duplicate key "quantity"`}, // the same key, escaped
		{`{"QUANTITY":2}`, `unknown field "QUANTITY"`},
		{`{"Quantity":2}`, `unknown field "Quantity"`},
		{`{"quantity":1.5}`, `field "quantity" must be an integer`},
		{`{"quantity":2.000001}`, `field "quantity" must be an integer`},
		{`{"quantity":1e-3}`, `field "quantity" must be an integer`},
		{`{"quantity":1e309}`, `field "quantity" is out of range`},
		{`{"quantity":1e999999999}`, `field "quantity" is out of range`},
		{`{"quantity":"2"}`, `field "quantity" must be int64`},
		{`{"quantity":1}{"quantity":2}`, `exactly one JSON object`},
		{`{"quantity":1,"quantity":1}`, `duplicate key "quantity"`}, // even with the same value
		{`null`, `must be a JSON object`},                           // was a 202 for one unit (schemathesis, negative_data_rejection)
		{" \n null", `must be a JSON object`},
		{`[{"quantity":2}]`, `must be a JSON object`},
		{`2`, `must be a JSON object`},
	}
	for _, c := range refused {
		_, status, err := DecodeOrderRequest("application/json", strings.NewReader(c.body))
		var oe *order.Error
		if !errors.As(err, &oe) || oe.Code != order.CodeInvalidRequest || status != http.StatusBadRequest {
			t.Errorf("%s: status %d, %v, want 400 invalid_request", c.body, status, err)
			continue
		}
		if !strings.Contains(oe.Message, c.detail) {
			t.Errorf("%s: detail %q, want it to say %s", c.body, oe.Message, c.detail)
		}
	}
}

func TestExactJSONSaleBody(t *testing.T) {
	var req SaleRequest
	if status, err := decodeJSON("application/json", strings.NewReader(
		`{"name":"phone","stock":100.0,"per_user_limit":2e0,"starts_at":"2026-12-01T10:00:00Z"}`), &req); err != nil {
		t.Fatalf("integer-valued numbers: %d %v", status, err)
	}
	if *req.Stock != 100 || *req.PerUserLimit != 2 || !req.StartsAt.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("decoded %+v", req)
	}
	for body, detail := range map[string]string{
		`{"name":"a","name":"b","stock":1,"per_user_limit":1}`:          `duplicate key "name"`,
		`{"name":"a","Stock":1,"per_user_limit":1}`:                     `unknown field "Stock"`,
		`{"name":"a","stock":1.5,"per_user_limit":1}`:                   `field "stock" must be an integer`,
		`{"name":"a","stock":1,"per_user_limit":1,"starts_at":{"t":1}}`: `unknown field "starts_at.t"`,
	} {
		var req SaleRequest
		status, err := decodeJSON("application/json", strings.NewReader(body), &req)
		if status != http.StatusBadRequest || err == nil || !strings.Contains(err.Error(), detail) {
			t.Errorf("%s: %d %v, want 400 saying %s", body, status, err, detail)
		}
	}
}
