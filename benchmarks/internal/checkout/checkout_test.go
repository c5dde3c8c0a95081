package checkout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

var plan = scenarios.Checkout{Pay: 0.5, Cancel: 0.2, LatePay: 0.5, ActFrom: 0.1, ActTo: 0.6}

func TestDecideShares(t *testing.T) {
	const n = 100_000
	got := map[Kind]int{}
	for i := range n {
		k, at := Decide(plan, 42, i)
		if at < 0 || at >= 1 {
			t.Fatalf("Decide(%d) at = %v, want [0, 1)", i, at)
		}
		got[k]++
	}
	// pay 50 %, cancel 20 %, the expiring 30 % split in half.
	for k, want := range map[Kind]float64{Pay: 0.5, Cancel: 0.2, Expire: 0.15, LatePay: 0.15} {
		if share := float64(got[k]) / n; math.Abs(share-want) > 0.01 {
			t.Errorf("%s: share %.3f, want %.2f ± 0.01", k, share, want)
		}
	}
}

func TestDecideBySeed(t *testing.T) {
	same, other := 0, 0
	for i := range 1000 {
		k1, a1 := Decide(plan, 7, i)
		k2, a2 := Decide(plan, 7, i)
		if k1 != k2 || a1 != a2 {
			t.Fatalf("Decide(seed 7, %d) = %v %v then %v %v, want the same", i, k1, a1, k2, a2)
		}
		if k3, _ := Decide(plan, 8, i); k3 == k1 {
			same++
		} else {
			other++
		}
	}
	if other < 300 {
		t.Errorf("seeds 7 and 8 decide alike for %d of 1000 winners, want another seed to decide otherwise", same)
	}
}

func TestDecideEdges(t *testing.T) {
	for i := range 1000 {
		if k, _ := Decide(scenarios.Checkout{Pay: 1}, 1, i); k != Pay {
			t.Fatalf("pay 1: got %s", k)
		}
		if k, _ := Decide(scenarios.Checkout{}, 1, i); k != Expire {
			t.Fatalf("no plan: got %s, want every hold to expire", k)
		}
		if k, _ := Decide(scenarios.Checkout{LatePay: 1}, 1, i); k != LatePay {
			t.Fatalf("late_pay 1: got %s", k)
		}
	}
}

func TestDue(t *testing.T) {
	exp := time.Date(2026, 12, 1, 19, 0, 2, 0, time.UTC)
	hold := 2 * time.Second
	start := exp.Add(-hold)
	tests := []struct {
		name   string
		k      Kind
		at     float64
		want   time.Time
		acting bool
	}{
		{"pay at the plan's start", Pay, 0, start.Add(200 * time.Millisecond), true},
		{"cancel near the plan's end", Cancel, 0.999999, start.Add(1200 * time.Millisecond), true},
		{"pay in the middle", Pay, 0.5, start.Add(700 * time.Millisecond), true},
		{"late pay", LatePay, 0, exp.Add(250 * time.Millisecond), true},
		{"late pay, latest", LatePay, 0.999999, exp.Add(500 * time.Millisecond), true},
		{"expire sends nothing", Expire, 0.5, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Due(plan, tt.k, tt.at, exp, hold)
			if ok != tt.acting || got.Sub(tt.want).Abs() > time.Millisecond {
				t.Errorf("Due = %v, %v; want %v, %v", got, ok, tt.want, tt.acting)
			}
		})
	}
}

// fakeAPI answers payments and cancellations like order-api would for holds
// that all end before their window: paid, cancelled — or order_expired for
// a payment after expires_at. It records what it was sent.
type fakeAPI struct {
	mu   sync.Mutex
	seen []string // "<method> <path> <auth> <key> <body>"
	exp  map[string]time.Time
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, strings.Join([]string{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Idempotency-Key"), string(b)}, " "))
	id := strings.Split(r.URL.Path, "/")[3]
	exp := f.exp[id]
	f.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/cancel"):
		fmt.Fprintf(w, `{"order_id":%q,"status":"cancelled"}`, id)
	case time.Now().After(exp):
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"type":"urn:blitzbuy:problem:order_expired","title":"Order expired","status":409,"detail":"x","code":"order_expired"}`)
	default:
		fmt.Fprintf(w, `{"order_id":%q,"status":"paid"}`, id)
	}
}

func TestActor(t *testing.T) {
	api := &fakeAPI{exp: map[string]time.Time{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	const n = 40
	reqs := make([]load.Request, n)
	for i := range reqs {
		reqs[i] = load.Request{User: fmt.Sprintf("u%d", i), Qty: 1, Auth: []byte(fmt.Sprintf("Bearer t%d", i))}
	}
	hold := 400 * time.Millisecond
	a := New(context.Background(), Config{API: u, Plan: plan, Hold: hold, Seed: 3, Reqs: reqs})
	for i := range n {
		id := fmt.Sprintf("s.%02d", i)
		exp := time.Now().Add(hold).UTC()
		api.mu.Lock()
		api.exp[id] = exp
		api.mu.Unlock()
		body, _ := json.Marshal(map[string]any{"order_id": id, "status": "pending", "expires_at": exp})
		a.Accepted(i, body)
	}
	a.Accepted(0, []byte(`{"order_id":"s.x","status":"pending"}`)) // no expires_at
	orders := a.Wait()
	if len(orders) != n+1 {
		t.Fatalf("Wait: %d orders, want %d", len(orders), n+1)
	}
	kinds := map[Kind]int{}
	for _, o := range orders {
		if o.OrderID == "s.x" {
			if o.Err == "" || o.Action != nil {
				t.Errorf("a 202 without expires_at: err %q, action %v; want an error and no action", o.Err, o.Action)
			}
			continue
		}
		kinds[o.Kind]++
		want := map[Kind]string{Pay: "paid", Cancel: "cancelled", LatePay: "order_expired"}[o.Kind]
		switch {
		case o.Kind == Expire && o.Action != nil:
			t.Errorf("%s: left to expire but acted: %+v", o.OrderID, o.Action)
		case o.Kind != Expire && (o.Action == nil || o.Action.Answer != want):
			t.Errorf("%s (%s): action %+v, want answer %q", o.OrderID, o.Kind, o.Action, want)
		case o.Kind != Expire && o.Action.Sent.Before(o.Action.Due):
			t.Errorf("%s: sent %v before it was due %v", o.OrderID, o.Action.Sent, o.Action.Due)
		}
		if k, _ := Decide(plan, 3, o.Req); k != o.Kind {
			t.Errorf("%s: kind %s, Decide says %s", o.OrderID, o.Kind, k)
		}
	}
	for _, k := range []Kind{Pay, Cancel, Expire, LatePay} {
		if kinds[k] == 0 {
			t.Errorf("no winner decided %s among %d (seed 3): %v", k, n, kinds)
		}
	}
	// Each payment with the buyer's own token and its own key, each
	// cancellation without a body.
	for _, s := range api.seen {
		f := strings.SplitN(s, " ", 5)
		i := strings.TrimPrefix(strings.Split(f[1], "/")[3], "s.")
		wantAuth := "Bearer t" + strings.TrimLeft(i, "0")
		if i == "00" {
			wantAuth = "Bearer t0"
		}
		if f[2]+" "+f[3] != wantAuth {
			t.Errorf("%s: Authorization %q, want the buyer's %q", f[1], f[2]+" "+f[3], wantAuth)
		}
		g := strings.SplitN(f[4], " ", 2)
		switch {
		case strings.HasSuffix(f[1], "/payment"):
			if g[0] != PaymentKey("s."+i) || !strings.HasPrefix(g[1], `{"payment_ref":"bench-`) {
				t.Errorf("payment %s: key %q body %q, want key %q and a payment_ref", f[1], g[0], g[1], PaymentKey("s."+i))
			}
		case strings.HasSuffix(f[1], "/cancel"):
			if strings.TrimSpace(f[4]) != "" {
				t.Errorf("cancel %s: key/body %q, want none", f[1], f[4])
			}
		default:
			t.Errorf("unexpected request %s", s)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   string
	}{
		{200, `{"status":"paid"}`, "paid"},
		{200, `{"status":"cancelled"}`, "cancelled"},
		{409, `{"code":"order_expired"}`, "order_expired"},
		{409, `{"type":"urn:blitzbuy:problem:order_expired","title":"Order expired","status":409,"detail":"x","code":"order_expired"}`, "order_expired"},
		{409, `{"status":409}`, HTTPError},
		{503, `{"code":"unavailable"}`, "unavailable"},
		{502, `<html>bad gateway</html>`, HTTPError},
		{200, `{}`, HTTPError},
	}
	for _, tt := range tests {
		if got := classify(tt.status, []byte(tt.body)); got != tt.want {
			t.Errorf("classify(%d, %s) = %q, want %q", tt.status, tt.body, got, tt.want)
		}
	}
}
