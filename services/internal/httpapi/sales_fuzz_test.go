package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// FuzzDecodeSaleRequest feeds the admin body (PUT /v1/admin/sales/{id})
// through the exact-JSON decoder and the sale rules. Properties: a refusal
// is invalid_request with 400, 413 or 415 and a short detail that echoes no
// value; an acceptance satisfies every documented rule, agrees with a plain
// encoding/json reading of the same body, and round-trips: the definition
// encoded again decodes to itself.
func FuzzDecodeSaleRequest(f *testing.F) {
	const ct = "application/json"
	ok := `"name":"Phones","stock":100,"per_user_limit":2`
	for _, s := range []struct{ ct, body string }{
		{ct, `{` + ok + `}`}, {ct, `{` + ok + `,"starts_at":"2030-06-01T12:00:00Z","ends_at":"2030-06-01T13:00:00Z"}`},
		{ct, `{` + ok + `,"starts_at":null,"ends_at":null}`}, {"application/json; charset=utf-8", `{` + ok + `}`},
		{"text/plain", `{` + ok + `}`}, {"", `{` + ok + `}`}, {ct, ""}, {ct, "null"}, {ct, "[]"}, {ct, "{}"},
		// names: bounds in characters, multi-byte, NUL, invalid UTF-8, escapes
		{ct, `{"name":"` + strings.Repeat("n", 200) + `","stock":1,"per_user_limit":1}`},
		{ct, `{"name":"` + strings.Repeat("n", 201) + `","stock":1,"per_user_limit":1}`},
		{ct, `{"name":"` + strings.Repeat("é", 200) + `","stock":1,"per_user_limit":1}`},
		{ct, `{"name":"` + strings.Repeat("😀", 201) + `","stock":1,"per_user_limit":1}`},
		{ct, `{"name":"a\u0000b","stock":1,"per_user_limit":1}`}, {ct, "{\"name\":\"a\x00b\",\"stock\":1,\"per_user_limit\":1}"},
		{ct, "{\"name\":\"\xff\xfe\",\"stock\":1,\"per_user_limit\":1}"}, {ct, `{"name":"\ud800","stock":1,"per_user_limit":1}`},
		{ct, `{"name":"","stock":1,"per_user_limit":1}`}, {ct, `{"name":null,"stock":1,"per_user_limit":1}`},
		{ct, `{"name":1,"stock":1,"per_user_limit":1}`}, {ct, `{"name":["x"],"stock":1,"per_user_limit":1}`},
		// numbers: bounds, integer spellings, overflow
		{ct, `{"name":"x","stock":1000000000,"per_user_limit":1}`}, {ct, `{"name":"x","stock":1000000001,"per_user_limit":1}`},
		{ct, `{"name":"x","stock":1e9,"per_user_limit":1.0}`}, {ct, `{"name":"x","stock":10e8,"per_user_limit":20e-1}`},
		{ct, `{"name":"x","stock":-0,"per_user_limit":1}`}, {ct, `{"name":"x","stock":-1,"per_user_limit":1}`},
		{ct, `{"name":"x","stock":0.5,"per_user_limit":1}`}, {ct, `{"name":"x","stock":1,"per_user_limit":0}`},
		{ct, `{"name":"x","stock":1,"per_user_limit":9223372036854775807}`}, {ct, `{"name":"x","stock":1,"per_user_limit":9223372036854775808}`},
		{ct, `{"name":"x","stock":1,"per_user_limit":1e65}`}, {ct, `{"name":"x","stock":1,"per_user_limit":1e-400}`},
		{ct, `{"name":"x","stock":"1","per_user_limit":1}`}, {ct, `{"name":"x","stock":true,"per_user_limit":1}`},
		// times: offsets, precision, epoch, far past and future, RFC 3339 corners Go refuses
		{ct, `{` + ok + `,"starts_at":"2030-06-01T14:00:00+02:00","ends_at":"2030-06-01T12:00:00.001Z"}`},
		{ct, `{` + ok + `,"starts_at":"2030-01-01T00:00:00.0001Z","ends_at":"2030-01-01T00:00:00.0009Z"}`},
		{ct, `{` + ok + `,"starts_at":"1900-01-01T00:00:00Z","ends_at":"1901-01-01T00:00:00Z"}`},
		{ct, `{` + ok + `,"starts_at":"0000-01-01T00:00:00Z","ends_at":"1970-01-01T00:00:00Z"}`},
		{ct, `{` + ok + `,"starts_at":"0001-01-01T00:00:00Z","ends_at":"1970-01-01T00:00:00.001Z"}`},
		{ct, `{` + ok + `,"ends_at":"9999-12-31T23:59:59.999999999Z"}`}, {ct, `{` + ok + `,"ends_at":"10000-01-01T00:00:00Z"}`},
		{ct, `{` + ok + `,"starts_at":"2030-12-31T23:59:60Z"}`}, {ct, `{` + ok + `,"starts_at":"2030-01-01t00:00:00z"}`},
		{ct, `{` + ok + `,"starts_at":"2030-01-01T00:00:00+24:00"}`}, {ct, `{` + ok + `,"starts_at":"2030-02-30T00:00:00Z"}`},
		{ct, `{` + ok + `,"starts_at":"2030-01-01 00:00:00Z"}`}, {ct, `{` + ok + `,"starts_at":"2030-01-01"}`},
		{ct, `{` + ok + `,"starts_at":1893456000}`}, {ct, `{` + ok + `,"starts_at":""}`},
		// keys: case, duplicates, unknown, nesting, trailing data
		{ct, `{"NAME":"x","stock":1,"per_user_limit":1}`}, {ct, `{"name":"x","name":"y","stock":1,"per_user_limit":1}`},
		{ct, `{` + ok + `,"stock":5}`}, {ct, `{` + ok + `,"colour":"red"}`}, {ct, `{` + ok + `,"remaining":5}`},
		{ct, `{` + ok + `}{}`}, {ct, `{` + ok + `} `}, {ct, `{` + ok}, {ct, strings.Repeat(`{"name":`, 100) + `"x"` + strings.Repeat("}", 100)},
		{ct, `{"name":"` + strings.Repeat("p", 5000) + `","stock":1,"per_user_limit":1}`},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	now := time.Date(2030, 6, 1, 12, 0, 0, 123456789, time.UTC)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		rec := httptest.NewRecorder()
		spec, status, err := decodeSaleRequest(contentType, http.MaxBytesReader(rec, io.NopCloser(bytes.NewReader(body)), maxBody), "fuzz-sale", now)
		if err != nil {
			var oe *order.Error
			if !errors.As(err, &oe) || oe.Code != order.CodeInvalidRequest {
				t.Fatalf("error %T %v, want an *order.Error with code %s", err, err, order.CodeInvalidRequest)
			}
			switch status {
			case http.StatusBadRequest, http.StatusUnsupportedMediaType:
			case http.StatusRequestEntityTooLarge:
				if len(body) <= maxBody {
					t.Fatalf("413 for a body of %d bytes (limit %d)", len(body), maxBody)
				}
			default:
				t.Fatalf("error %v with status %d, want 400, 413 or 415", err, status)
			}
			if len(oe.Message) > 200 {
				t.Fatalf("error message of %d bytes: %.100q", len(oe.Message), oe.Message)
			}
			if v, ok := echoedValue(body, oe.Message); ok {
				t.Fatalf("error message %q echoes the value %q", oe.Message, v)
			}
			return
		}
		if status != 0 {
			t.Fatalf("accepted with status %d", status)
		}
		if len(body) > maxBody {
			t.Fatalf("accepted a body of %d bytes (limit %d)", len(body), maxBody)
		}
		checkSaleRules(t, spec, now)
		checkAgainstPlainJSON(t, body, spec, now)

		// The definition, encoded as a client would send it, decodes to itself.
		again, status, err := decodeSaleRequest("application/json", bytes.NewReader(encodeSpec(t, spec)), spec.ID, now)
		if err != nil || status != 0 || !sameSpec(again, spec) {
			t.Fatalf("round trip of %+v: %+v, status %d, err %v", spec, again, status, err)
		}
	})
}

// checkSaleRules asserts what docs/openapi.yaml (SaleRequest) and docs/api.md
// promise of an accepted definition.
func checkSaleRules(t *testing.T, s order.SaleSpec, now time.Time) {
	t.Helper()
	switch {
	case s.ID != "fuzz-sale":
		t.Fatalf("spec id %q, want the path's", s.ID)
	case s.Name == "" || utf8.RuneCountInString(s.Name) > 200 || strings.ContainsRune(s.Name, 0) || !utf8.ValidString(s.Name):
		t.Fatalf("accepted name %q (%d characters)", s.Name, utf8.RuneCountInString(s.Name))
	case s.Stock < 0 || s.Stock > 1_000_000_000:
		t.Fatalf("accepted stock %d", s.Stock)
	case s.PerUserLimit < 1:
		t.Fatalf("accepted per_user_limit %d", s.PerUserLimit)
	case s.StartsAt.Location() != time.UTC || s.StartsAt.Nanosecond()%int(time.Millisecond) != 0:
		t.Fatalf("starts_at %v: want UTC, whole milliseconds", s.StartsAt)
	}
	if s.EndsAt == nil {
		return
	}
	e := *s.EndsAt
	switch {
	case e.Location() != time.UTC || e.Nanosecond()%int(time.Millisecond) != 0:
		t.Fatalf("ends_at %v: want UTC, whole milliseconds", e)
	case !e.After(s.StartsAt) || e.UnixMilli() <= s.StartsAt.UnixMilli():
		t.Fatalf("ends_at %v not after starts_at %v", e, s.StartsAt)
	case e.UnixMilli() <= 0:
		t.Fatalf("ends_at %v stored as %d ms, which the ledger reads as never", e, e.UnixMilli())
	}
}

// checkAgainstPlainJSON reads the accepted body with encoding/json alone:
// the exact decoder may refuse more, never read something else.
func checkAgainstPlainJSON(t *testing.T, body []byte, s order.SaleSpec, now time.Time) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("accepted a body encoding/json refuses: %v", err)
	}
	for k := range m {
		switch k {
		case "name", "stock", "per_user_limit", "starts_at", "ends_at":
		default:
			t.Fatalf("accepted the unknown key %q", k)
		}
	}
	var name string
	if err := json.Unmarshal(m["name"], &name); err != nil || name != s.Name {
		t.Fatalf("name %s reads %q, spec %q", m["name"], name, s.Name)
	}
	for key, got := range map[string]int64{"stock": s.Stock, "per_user_limit": s.PerUserLimit} {
		n, ok := new(big.Float).SetPrec(200).SetString(string(m[key]))
		if !ok || !n.IsInt() {
			t.Fatalf("%s %s is not an integer", key, m[key])
		}
		if want, _ := n.Int(nil); !want.IsInt64() || want.Int64() != got {
			t.Fatalf("%s %s decoded as %d", key, m[key], got)
		}
	}
	for key, got := range map[string]*time.Time{"starts_at": &s.StartsAt, "ends_at": s.EndsAt} {
		raw, present := m[key]
		if !present || string(raw) == "null" {
			if key == "starts_at" && !got.Equal(now.Truncate(time.Millisecond)) {
				t.Fatalf("starts_at absent, spec %v, want now %v", got, now)
			}
			if key == "ends_at" && got != nil {
				t.Fatalf("ends_at absent, spec %v", got)
			}
			continue
		}
		var want time.Time
		if err := json.Unmarshal(raw, &want); err != nil || got == nil || !got.Equal(want.Truncate(time.Millisecond)) {
			t.Fatalf("%s %s reads %v (%v), spec %v", key, raw, want, err, got)
		}
	}
}

// encodeSpec writes a definition as the PUT body a client would send.
func encodeSpec(t *testing.T, s order.SaleSpec) []byte {
	t.Helper()
	starts := s.StartsAt
	b, err := json.Marshal(SaleRequest{Name: s.Name, Stock: &s.Stock, PerUserLimit: &s.PerUserLimit, StartsAt: &starts, EndsAt: s.EndsAt})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// echoedValue reports the body's name (the free-text field), when it is at
// least 8 bytes long and msg repeats it: a detail names keys, never values.
func echoedValue(body []byte, msg string) (string, bool) {
	var m struct{ Name any }
	if json.Unmarshal(body, &m) != nil {
		return "", false
	}
	name, ok := m.Name.(string)
	return name, ok && len(name) >= 8 && strings.Contains(msg, name)
}
