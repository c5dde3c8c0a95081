package load

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/refserver"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

func problem(code string) []byte {
	return []byte(`{"type":"urn:blitzbuy:problem:` + code + `","title":"t","status":409,"detail":"d","code":"` + code + `"}`)
}

func TestClassify(t *testing.T) {
	accepted := []byte(`{"order_id":"s.1","sale_id":"s","user_id":"u","quantity":1,"status":"pending"}`)
	tests := []struct {
		name     string
		status   int
		replayed bool
		body     []byte
		want     Outcome
	}{
		{"202", 202, false, accepted, Accepted},
		{"202 replayed", 202, true, accepted, AcceptedReplay},
		{"409 sold_out", 409, false, problem("sold_out"), SoldOut},
		{"409 purchase_limit_reached", 409, false, problem("purchase_limit_reached"), LimitReached},
		{"409 sale_not_active", 409, false, problem("sale_not_active"), NotActive},
		{"409 unknown code", 409, false, problem("stock_below_sold"), HTTPError},
		{"409 no code", 409, false, []byte(`{"title":"Conflict"}`), HTTPError},
		{"409 empty body", 409, false, nil, HTTPError},
		{"409 replayed sold_out", 409, true, problem("sold_out"), SoldOut},
		{"429", 429, false, []byte(`{"code":"rate_limited"}`), RateLimited},
		{"422", 422, false, []byte(`{"code":"idempotency_key_reused"}`), KeyReused},
		{"503", 503, false, []byte(`{"code":"unavailable"}`), Unavailable},
		{"503 ledger_rebuilding", 503, false, []byte(`{"code":"ledger_rebuilding"}`), LedgerRebuilding},
		{"500", 500, false, []byte(`{"code":"internal"}`), HTTPError},
		{"400", 400, false, []byte(`{"code":"invalid_request"}`), HTTPError},
		{"200", 200, false, accepted, HTTPError},
		{"401 with a 409 code", 401, false, problem("sold_out"), HTTPError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.status, tt.replayed, tt.body); got != tt.want {
				t.Errorf("classify(%d, %v, %s) = %s, want %s", tt.status, tt.replayed, tt.body, got, tt.want)
			}
		})
	}
}

// TestClassifyAllocatesNothing guards the per-answer cost: classify runs
// once per response on the generator's hot path, table lookup and all.
func TestClassifyAllocatesNothing(t *testing.T) {
	body := problem("sale_not_active")
	if got := testing.AllocsPerRun(100, func() { classify(409, false, body) }); got != 0 {
		t.Errorf("classify allocates %v times per answer, want 0", got)
	}
}

func TestOutcomeNamesRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for o := NotSent; o < numOutcomes; o++ {
		name := o.String()
		if name == "" || seen[name] {
			t.Errorf("outcome %d has empty or duplicate name %q", o, name)
		}
		seen[name] = true
		got, ok := ParseOutcome(name)
		if !ok || got != o {
			t.Errorf("ParseOutcome(%q) = %v, %v, want %v, true", name, got, ok, o)
		}
	}
	if got, ok := ParseOutcome("nope"); ok {
		t.Errorf("ParseOutcome(%q) = %v, true, want false", "nope", got)
	}
}

func TestField(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		prefix string
		want   string
		wantOK bool // false: nil
	}{
		{"present", `{"order_id":"s.42","status":"pending"}`, `"order_id":"`, "s.42", true},
		{"present last", `{"status":"pending","order_id":"s.42"}`, `"order_id":"`, "s.42", true},
		{"code", `{"type":"x","code":"sold_out"}`, `"code":"`, "sold_out", true},
		{"empty value", `{"code":""}`, `"code":"`, "", true},
		{"first of two", `{"code":"a","code":"b"}`, `"code":"`, "a", true},
		{"missing", `{"status":"pending"}`, `"order_id":"`, "", false},
		{"empty body", ``, `"code":"`, "", false},
		{"spaced key not matched", `{"code": "sold_out"}`, `"code":"`, "", false},
		{"unterminated", `{"order_id":"s.42`, `"order_id":"`, "", false},
		{"prefix at end", `{"order_id":"`, `"order_id":"`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Field([]byte(tt.body), []byte(tt.prefix))
			if tt.wantOK {
				if got == nil || string(got) != tt.want {
					t.Errorf("Field(%q, %q) = %q (nil %v), want %q", tt.body, tt.prefix, got, got == nil, tt.want)
				}
			} else if got != nil {
				t.Errorf("Field(%q, %q) = %q, want nil", tt.body, tt.prefix, got)
			}
		})
	}
}

func FuzzField(f *testing.F) {
	f.Add([]byte(`{"order_id":"s.1","status":"pending"}`), []byte(`"order_id":"`))
	f.Add([]byte(`{"code":"sold_out"}`), []byte(`"code":"`))
	f.Add([]byte(`{"code":"`), []byte(`"code":"`))
	f.Add([]byte(``), []byte(``))
	f.Add([]byte(`"""`), []byte(`"`))
	f.Fuzz(func(t *testing.T, body, prefix []byte) {
		got := Field(body, prefix)
		if got == nil {
			return
		}
		if bytes.IndexByte(got, '"') >= 0 {
			t.Fatalf("Field(%q, %q) = %q contains a quote", body, prefix, got)
		}
		if !bytes.Contains(body, got) {
			t.Fatalf("Field(%q, %q) = %q is not a substring of the body", body, prefix, got)
		}
		// It is exactly what follows the first occurrence of the prefix.
		i := bytes.Index(body, prefix)
		if i < 0 || !bytes.HasPrefix(body[i+len(prefix):], append(got, '"')) {
			t.Fatalf("Field(%q, %q) = %q is not the value after the first prefix", body, prefix, got)
		}
	})
}

// refTarget serves refserver.Handler in process and returns the load config
// for its order route.
func refTarget(t *testing.T) Config {
	t.Helper()
	srv := httptest.NewServer(refserver.Handler())
	t.Cleanup(srv.Close)
	return Config{Addr: strings.TrimPrefix(srv.URL, "http://"), Path: "/v1/sales/s1/orders", Timeout: 5 * time.Second}
}

// earlyWindow is how far ahead of its schedule Open's dispatcher may hand a
// request to a worker (it skips the sleep for shorter waits).
const earlyWindow = 50 * time.Microsecond

func testRequests(n int) []Request {
	auth, body := []byte("Bearer test"), []byte(`{"quantity":1}`)
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{User: "u", Key: "k", Qty: 1, Auth: auth, Body: body}
	}
	return reqs
}

func TestOpenAgainstRefServer(t *testing.T) {
	cfg := refTarget(t)
	sched, err := NewSchedule([]results.Stage{{FromRPS: 1200, ToRPS: 1200, Seconds: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sched) != 600 {
		t.Fatalf("schedule has %d requests, want 600", len(sched))
	}
	run, err := Open(context.Background(), cfg, sched, testRequests(len(sched)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got, want := len(run.Results), 600; got != want {
		t.Fatalf("len(Results) = %d, want %d", got, want)
	}
	for i, r := range run.Results {
		if r.Outcome != Accepted {
			t.Fatalf("result %d: outcome %s (status %d, err %q), want accepted", i, r.Outcome, r.Status, r.Err)
		}
		if r.Status != 202 {
			t.Errorf("result %d: status %d, want 202", i, r.Status)
		}
		if r.OrderID != "s1.0" {
			t.Errorf("result %d: order id %q, want %q", i, r.OrderID, "s1.0")
		}
		if r.Sched != sched[i] {
			t.Errorf("result %d: Sched %v, want %v", i, r.Sched, sched[i])
		}
		// Open does not sleep for an arrival less than 50 µs ahead and
		// sends it at once, so Sent may precede Sched by up to that much
		// (reported separately as a defect: strict Sent >= Sched fails).
		if r.Sent < r.Sched-earlyWindow {
			t.Errorf("result %d: Sent %v more than %v before Sched %v", i, r.Sent, earlyWindow, r.Sched)
		}
		if r.Done < r.Sent {
			t.Errorf("result %d: Done %v before Sent %v", i, r.Done, r.Sent)
		}
		if r.Latency() != r.Done-r.Sched {
			t.Errorf("result %d: Latency %v, want Done-Sched %v", i, r.Latency(), r.Done-r.Sched)
		}
	}
	if run.Wall < sched.Duration() {
		t.Errorf("Wall = %v, want >= the schedule's %v", run.Wall, sched.Duration())
	}
	if run.MaxInFlight < 1 {
		t.Errorf("MaxInFlight = %d, want >= 1", run.MaxInFlight)
	}

	s := Summarize(run, "open")
	if s.Load.Requests != 600 {
		t.Errorf("Summary.Load.Requests = %d, want 600", s.Load.Requests)
	}
	if s.Load.Model != "open" {
		t.Errorf("Summary.Load.Model = %q, want open", s.Load.Model)
	}
	if got := s.Outcomes["accepted"]; got != 600 {
		t.Errorf("Outcomes[accepted] = %d, want 600 (all: %v)", got, s.Outcomes)
	}
	if got := s.Count(Accepted); got != 600 {
		t.Errorf("Count(Accepted) = %d, want 600", got)
	}
	if len(s.Outcomes) != 1 {
		t.Errorf("Outcomes = %v, want only accepted", s.Outcomes)
	}
	if s.Latency.Count != 600 {
		t.Errorf("Latency.Count = %d, want 600", s.Latency.Count)
	}
	if len(s.Timeline) < 1 {
		t.Fatalf("Timeline has %d points, want >= 1", len(s.Timeline))
	}
	var offered float64
	for _, p := range s.Timeline {
		offered += p.OfferedRPS
	}
	if offered != 600 {
		t.Errorf("timeline offers %v requests in all, want 600", offered)
	}
	if s.Load.AchievedRPS <= 0 {
		t.Errorf("AchievedRPS = %v, want > 0", s.Load.AchievedRPS)
	}
}

func TestClosedAgainstRefServer(t *testing.T) {
	cfg := refTarget(t)
	const planned = 100000
	run, err := Closed(context.Background(), cfg, 4, 300*time.Millisecond, testRequests(planned))
	if err != nil {
		t.Fatalf("Closed: %v", err)
	}
	sent := 0
	for i, r := range run.Results {
		if r.Outcome != NotSent {
			sent++
		}
		if r.Outcome != Accepted {
			t.Fatalf("result %d: outcome %s (status %d, err %q), want accepted", i, r.Outcome, r.Status, r.Err)
		}
		if r.Sent < r.Sched || r.Done < r.Sent {
			t.Errorf("result %d: Sched %v, Sent %v, Done %v out of order", i, r.Sched, r.Sent, r.Done)
		}
	}
	if sent == 0 || sent >= planned {
		t.Fatalf("sent %d requests, want 0 < sent < %d", sent, planned)
	}
	if got := len(run.Results); got != sent {
		t.Errorf("len(Results) = %d, want the %d sent", got, sent)
	}
	if run.MaxInFlight < 1 || run.MaxInFlight > 4 {
		t.Errorf("MaxInFlight = %d, want 1..4 (4 connections)", run.MaxInFlight)
	}
	s := Summarize(run, "closed")
	if s.Load.Requests != int64(sent) || s.Count(Accepted) != int64(sent) {
		t.Errorf("Summary: Requests %d, accepted %d, want %d each", s.Load.Requests, s.Count(Accepted), sent)
	}
}

func TestClosedSendsEverythingWhenFewRequests(t *testing.T) {
	cfg := refTarget(t)
	run, err := Closed(context.Background(), cfg, 4, 5*time.Second, testRequests(50))
	if err != nil {
		t.Fatalf("Closed: %v", err)
	}
	if got := len(run.Results); got != 50 {
		t.Fatalf("len(Results) = %d, want 50", got)
	}
	for i, r := range run.Results {
		if r.Outcome != Accepted {
			t.Errorf("result %d: outcome %s, want accepted", i, r.Outcome)
		}
	}
}

func TestOpenCancelled(t *testing.T) {
	cfg := refTarget(t)
	// 1000 requests over 2 s, cancelled after about 300 ms.
	sched, err := NewSchedule([]results.Stage{{FromRPS: 500, ToRPS: 500, Seconds: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	run, err := Open(ctx, cfg, sched, testRequests(len(sched)))
	if err != nil {
		t.Fatalf("Open: %v, want no error on cancellation", err)
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("Open took %v after cancellation at 300ms, want it to stop early", el)
	}
	if got := len(run.Results); got != len(sched) {
		t.Fatalf("len(Results) = %d, want %d (one per request)", got, len(sched))
	}
	sent, notSent := 0, 0
	for i, r := range run.Results {
		switch r.Outcome {
		case Accepted:
			sent++
			if notSent > 0 {
				t.Fatalf("result %d sent after an unsent one: the sent results must be a prefix", i)
			}
		case NotSent:
			notSent++
			if r.Sent != 0 || r.Done != 0 || r.Status != 0 || r.OrderID != "" {
				t.Errorf("unsent result %d has Sent %v, Done %v, status %d, id %q; want zero", i, r.Sent, r.Done, r.Status, r.OrderID)
			}
		default:
			t.Fatalf("result %d: outcome %s, want accepted or not_sent", i, r.Outcome)
		}
	}
	if sent == 0 || notSent == 0 {
		t.Fatalf("sent %d, not sent %d: want both > 0 after a mid-run cancel", sent, notSent)
	}
	s := Summarize(run, "open")
	if s.Load.Requests != int64(sent) || s.Count(NotSent) != int64(notSent) || s.Latency.Count != int64(sent) {
		t.Errorf("Summary: Requests %d, not_sent %d, latency count %d; want %d, %d, %d",
			s.Load.Requests, s.Count(NotSent), s.Latency.Count, sent, notSent, sent)
	}
}

func TestOpenLengthMismatch(t *testing.T) {
	tests := []struct {
		name  string
		sched Schedule
		reqs  int
	}{
		{"fewer times", Schedule{0, time.Millisecond}, 3},
		{"more times", Schedule{0, time.Millisecond, 2 * time.Millisecond}, 2},
		{"no times", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No server: the lengths are checked before any connection.
			cfg := Config{Addr: "127.0.0.1:1", Path: "/v1/sales/s/orders", Timeout: time.Second}
			run, err := Open(context.Background(), cfg, tt.sched, testRequests(tt.reqs))
			if err == nil {
				t.Fatalf("Open with %d times for %d requests: no error", len(tt.sched), tt.reqs)
			}
			if run != nil {
				t.Errorf("run = %+v, want nil on error", run)
			}
		})
	}
}

func TestOpenWarmUpFailure(t *testing.T) {
	// A closed port: the warm-up fails, and Open says so instead of
	// measuring transport errors.
	srv := httptest.NewServer(refserver.Handler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	cfg := Config{Addr: addr, Path: "/v1/sales/s/orders", Timeout: time.Second, MaxConns: 2}
	if _, err := Open(context.Background(), cfg, Schedule{0}, testRequests(1)); err == nil || !strings.Contains(err.Error(), "warm-up") {
		t.Errorf("Open against a closed port: err = %v, want a warm-up error", err)
	}
}

// Idempotent-Replayed is read whatever the case of its name: HAProxy, in
// front of the cluster profile's APIs, sends it lower-cased.
func TestReplayedHeaderAnyCase(t *testing.T) {
	for _, c := range []struct {
		name, value string
		want        bool
	}{
		{"Idempotent-Replayed", "true", true},
		{"idempotent-replayed", "true", true},
		{"IDEMPOTENT-REPLAYED", "true", true},
		{"idempotent-replayed", "false", false},
		{"Idempotent-Replay", "true", false},
	} {
		var h fasthttp.ResponseHeader
		h.DisableNormalizing()
		h.Set(c.name, c.value)
		if got := replayed(&h); got != c.want {
			t.Errorf("%s: %s = %v, want %v", c.name, c.value, got, c.want)
		}
	}
	var none fasthttp.ResponseHeader
	if replayed(&none) {
		t.Error("no header: replayed")
	}
}

// OnAccepted sees every first 202 with its index and body, and never a
// replay or another answer.
func TestOpenOnAccepted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Idempotency-Key") {
		case "replay":
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{"order_id":"s.r","status":"pending"}`)
		case "sold":
			w.WriteHeader(http.StatusConflict)
			w.Write(problem("sold_out"))
		default:
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"order_id":"s.%s","status":"pending","expires_at":"2030-01-01T00:00:02Z"}`, r.Header.Get("Idempotency-Key"))
		}
	}))
	defer srv.Close()
	reqs := testRequests(30)
	for i := range reqs {
		reqs[i].Key = fmt.Sprint(i)
		switch i % 3 {
		case 1:
			reqs[i].Key = "replay"
		case 2:
			reqs[i].Key = "sold"
		}
	}
	var mu sync.Mutex
	seen := map[int]string{}
	cfg := Config{Addr: strings.TrimPrefix(srv.URL, "http://"), Path: "/v1/sales/s/orders", Timeout: 5 * time.Second,
		OnAccepted: func(i int, body []byte) {
			mu.Lock()
			seen[i] = string(body)
			mu.Unlock()
		}}
	sched, err := NewSchedule([]results.Stage{{FromRPS: 300, ToRPS: 300, Seconds: 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), cfg, sched, reqs); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 10 {
		t.Errorf("OnAccepted saw %d answers, want the 10 first 202s", len(seen))
	}
	for i, body := range seen {
		if want := fmt.Sprintf(`"order_id":"s.%d"`, i); i%3 != 0 || !strings.Contains(body, want) || !strings.Contains(body, "expires_at") {
			t.Errorf("OnAccepted(%d, %s), want a first 202's body with %s", i, body, want)
		}
	}
}
