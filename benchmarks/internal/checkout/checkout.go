// Package checkout is blitzbench's buyers inside a sale's checkout window
// (docs/api.md, "The checkout window"): for every order answered 202 it
// decides, from the run's seed, whether the winner pays, cancels or lets the
// hold expire (and whether an expiring one tries to pay too late), then
// sends the payment or the cancellation through the real API, with the
// buyer's own token, at a time drawn inside the window, and records the
// answer for the verifier (I6).
package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// Kind is what a winner does with its hold.
type Kind uint8

// The kinds. Expire sends nothing; LatePay lets the hold expire, then pays.
const (
	Expire Kind = iota
	Pay
	Cancel
	LatePay
)

func (k Kind) String() string {
	switch k {
	case Pay:
		return "pay"
	case Cancel:
		return "cancel"
	case LatePay:
		return "late_pay"
	}
	return "expire"
}

// Decide is the seeded choice for the winner of request i: its kind and a
// uniform draw in [0, 1) that places its action in time. The same seed and
// index always decide the same (which requests win is the server's to say).
func Decide(p scenarios.Checkout, seed uint64, i int) (Kind, float64) {
	x := splitmix(seed ^ (uint64(i)+1)*0x9e3779b97f4a7c15)
	u := float64(x>>11) / (1 << 53)
	at := float64(splitmix(x)>>11) / (1 << 53)
	switch {
	case u < p.Pay:
		return Pay, at
	case u < p.Pay+p.Cancel:
		return Cancel, at
	}
	// The expiring share, scaled back to [0, 1), decides the late payers.
	if rest := 1 - p.Pay - p.Cancel; rest > 0 && (u-p.Pay-p.Cancel)/rest < p.LatePay {
		return LatePay, at
	}
	return Expire, at
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// lateBy is how long after expires_at a late payer pays: past the API's
// sweep interval (200 ms), so the hold is most often expired by the sweep
// before the payment arrives and sometimes by the payment itself (the
// script expires a due hold whoever asks); either way the answer must be
// order_expired.
const (
	lateMin    = 250 * time.Millisecond
	lateSpread = 250 * time.Millisecond
)

// Due is when a winner acts: for Pay and Cancel at ActFrom + at·(ActTo −
// ActFrom) of the window (which began hold before expires), for LatePay
// after expires; Expire never acts.
func Due(p scenarios.Checkout, k Kind, at float64, expires time.Time, hold time.Duration) (time.Time, bool) {
	switch k {
	case Pay, Cancel:
		share := p.ActFrom + at*(p.ActTo-p.ActFrom)
		return expires.Add(-hold).Add(time.Duration(share * float64(hold))), true
	case LatePay:
		return expires.Add(lateMin + time.Duration(at*float64(lateSpread))), true
	}
	return time.Time{}, false
}

// PaymentKey is the Idempotency-Key of the harness's payment of an order:
// one per payment (a retry would reuse it), and nameable by the verifier's
// cleanup.
func PaymentKey(orderID string) string { return "pay-" + orderID }

// Order is one winner: the order the API accepted, what the seed decided,
// and, when it acted, the answer.
type Order struct {
	Req     int // index of the order request (and of its answer)
	OrderID string
	User    string
	Qty     int
	Expires time.Time
	Kind    Kind
	// Err is set when the 202 could not be acted on (no expires_at in
	// the body): a break of the contract, counted as an error.
	Err    string
	Action *Action
}

// Action is one payment or cancellation and its answer.
type Action struct {
	Due, Sent, Done time.Time
	// Status is the HTTP status (0: no answer); Answer is the order's
	// status of a 200 (paid, cancelled), the problem code otherwise
	// (order_expired …), or not_sent / transport_error / http_error.
	Status int
	Answer string
	Err    string
}

// The answers that are not the API's.
const (
	NotSent        = "not_sent"
	TransportError = "transport_error"
	HTTPError      = "http_error"
)

// InDoubt reports whether the buyer cannot know what happened: no answer, or
// a 5xx (a 503 on a payment means the payment stands and a retry would
// tell, docs/api.md). Such a payment may or may not have been applied.
func (a *Action) InDoubt() bool {
	return a.Answer == TransportError || a.Status >= 500
}

// Latency is from when the action was due to its answer.
func (a *Action) Latency() time.Duration { return a.Done.Sub(a.Due) }

// Config is what the actor needs.
type Config struct {
	// API is order-api's base URL (http://127.0.0.1:8080).
	API     *url.URL
	Plan    scenarios.Checkout
	Hold    time.Duration
	Seed    uint64
	Reqs    []load.Request
	Timeout time.Duration
}

// Actor acts for the winners of one run.
type Actor struct {
	ctx    context.Context
	cfg    Config
	client *http.Client
	wg     sync.WaitGroup
	mu     sync.Mutex
	orders []*Order
}

// New is an actor whose actions stop being sent once ctx ends.
func New(ctx context.Context, cfg Config) *Actor {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	return &Actor{ctx: ctx, cfg: cfg, client: &http.Client{Timeout: cfg.Timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}}}
}

var (
	idField      = []byte(`"order_id":"`)
	expiresField = []byte(`"expires_at":"`)
)

// Accepted is load.Config.OnAccepted: request i was answered 202 with body.
// It decides the winner's fate and schedules its action; it never blocks.
func (a *Actor) Accepted(i int, body []byte) {
	q := a.cfg.Reqs[i]
	o := &Order{Req: i, OrderID: string(load.Field(body, idField)), User: q.User, Qty: q.Qty}
	exp, err := time.Parse(time.RFC3339Nano, string(load.Field(body, expiresField)))
	if err != nil {
		o.Err = fmt.Sprintf("a 202 without a valid expires_at (%v)", err)
	} else {
		o.Expires = exp
		var at float64
		o.Kind, at = Decide(a.cfg.Plan, a.cfg.Seed, i)
		if due, ok := Due(a.cfg.Plan, o.Kind, at, exp, a.cfg.Hold); ok {
			o.Action = &Action{Due: due}
			a.wg.Add(1)
			time.AfterFunc(time.Until(due), func() { defer a.wg.Done(); a.act(o) })
		}
	}
	a.mu.Lock()
	a.orders = append(a.orders, o)
	a.mu.Unlock()
}

// Wait returns every winner, in request order, once every action has its
// answer (each is bounded by the timeout).
func (a *Actor) Wait() []Order {
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Order, len(a.orders))
	for i, o := range a.orders {
		out[i] = *o
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Req < out[j].Req })
	return out
}

// act sends o's payment or cancellation and records the answer.
func (a *Actor) act(o *Order) {
	ac := o.Action
	if a.ctx.Err() != nil {
		ac.Answer = NotSent
		return
	}
	var req *http.Request
	var err error
	path := a.cfg.API.JoinPath("/v1/orders", o.OrderID)
	switch o.Kind {
	case Cancel:
		req, err = http.NewRequestWithContext(a.ctx, http.MethodPost, path.JoinPath("cancel").String(), nil)
	default:
		body := `{"payment_ref":"bench-` + strconv.Itoa(o.Req) + `"}`
		req, err = http.NewRequestWithContext(a.ctx, http.MethodPost, path.JoinPath("payment").String(), bytes.NewBufferString(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", PaymentKey(o.OrderID))
		}
	}
	if err != nil {
		ac.Answer, ac.Err = NotSent, err.Error()
		return
	}
	req.Header.Set("Authorization", string(a.cfg.Reqs[o.Req].Auth))
	ac.Sent = time.Now()
	resp, err := a.client.Do(req)
	if err != nil {
		ac.Done, ac.Answer, ac.Err = time.Now(), TransportError, err.Error()
		return
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	ac.Done, ac.Status = time.Now(), resp.StatusCode
	if err != nil {
		ac.Answer, ac.Err = TransportError, err.Error()
		return
	}
	ac.Answer = classify(resp.StatusCode, b)
}

// classify names an answer: a 200's order status, a problem's code. (A
// problem's "status" is its HTTP status, a number; an order's is a word.)
func classify(status int, body []byte) string {
	var v map[string]any
	if json.Unmarshal(body, &v) != nil {
		return HTTPError
	}
	key := "code"
	if status == http.StatusOK {
		key = "status"
	}
	if s, ok := v[key].(string); ok && s != "" {
		return s
	}
	return HTTPError
}
