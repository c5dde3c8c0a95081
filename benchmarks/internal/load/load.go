// Package load is blitzbench's HTTP load generator: open model (a fixed
// arrival schedule, latency measured from each request's scheduled time) and
// closed model (N connections, as fast as the server answers, for the
// calibration). Every request is prepared before the clock starts; a worker
// reuses one fasthttp request/response pair, so sending costs no allocation
// beyond what the answer itself needs (the order id of a 202).
package load

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Request is one prepared order request.
type Request struct {
	User string
	Key  string
	Qty  int
	// Auth is the whole Authorization header value ("Bearer <jwt>").
	Auth []byte
	Body []byte
}

// Outcome classifies an answer.
type Outcome uint8

// The outcomes, in the order reports list them. Anything a scenario did not
// expect counts as an error.
const (
	NotSent Outcome = iota
	Accepted
	AcceptedReplay
	SoldOut
	LimitReached
	NotActive
	RateLimited
	KeyReused
	Unavailable
	LedgerRebuilding
	HTTPError
	TransportError
	numOutcomes
)

// outcomeDef is what an outcome is called and, for one that stands for an
// API problem, the HTTP status that carries it. A problem outcome's name is
// the API's problem code itself (docs/api.md, docs/openapi.yaml's
// ErrorCode), written only here: classify matches it, results.json and the
// scenario files use it, and TestOutcomesMatchContract checks it against
// the contract.
type outcomeDef struct {
	name    string
	problem bool
	status  int // with problem: the status the API answers it with
}

var outcomes = [numOutcomes]outcomeDef{
	NotSent:        {name: "not_sent"},
	Accepted:       {name: "accepted"},
	AcceptedReplay: {name: "accepted_replay"},
	SoldOut:        {name: "sold_out", problem: true, status: fasthttp.StatusConflict},
	LimitReached:   {name: "purchase_limit_reached", problem: true, status: fasthttp.StatusConflict},
	NotActive:      {name: "sale_not_active", problem: true, status: fasthttp.StatusConflict},
	RateLimited:    {name: "rate_limited", problem: true, status: fasthttp.StatusTooManyRequests},
	KeyReused:      {name: "idempotency_key_reused", problem: true, status: fasthttp.StatusUnprocessableEntity},
	Unavailable:    {name: "unavailable", problem: true, status: fasthttp.StatusServiceUnavailable},
	// Redis lost the sale and it is being rebuilt: nothing reserved, retry.
	LedgerRebuilding: {name: "ledger_rebuilding", problem: true, status: fasthttp.StatusServiceUnavailable},
	HTTPError:        {name: "http_error"},
	TransportError:   {name: "transport_error"},
}

// problemsByStatus is, per HTTP status, the problem outcomes it carries.
var problemsByStatus = func() map[int][]Outcome {
	m := map[int][]Outcome{}
	for o, d := range outcomes {
		if d.problem {
			m[d.status] = append(m[d.status], Outcome(o))
		}
	}
	return m
}()

func (o Outcome) String() string { return outcomes[o].name }

// ParseOutcome is the inverse of String.
func ParseOutcome(s string) (Outcome, bool) {
	for i, d := range outcomes {
		if d.name == s {
			return Outcome(i), true
		}
	}
	return 0, false
}

// Result is the answer to one Request (same index).
type Result struct {
	// Sched and Sent are offsets from the start: when the request was due and
	// when it left. Done is when its answer was read.
	Sched, Sent, Done time.Duration
	Status            int
	Outcome           Outcome
	Replayed          bool
	OrderID           string
	Err               string
}

// Latency is what the client saw: from the scheduled time (open model) or
// from the send (closed model, where the two coincide).
func (r *Result) Latency() time.Duration { return r.Done - r.Sched }

// Config is the target and the connection settings, shared by the open and
// the closed model so the calibration and the scenarios are comparable.
type Config struct {
	Addr    string // host:port
	Path    string // the order route, e.g. /v1/sales/x/orders
	Timeout time.Duration
	// MaxConns bounds the connections (and so the requests in flight).
	MaxConns int
	// Progress, when set, is called about once a second during a run.
	Progress func(Progress)
	// OnAccepted, when set, is called with the index and the body of every
	// first (not replayed) 202, from the worker that read it, before the
	// next request: it must be quick, and must not keep body (the buffer is
	// reused). The checkout scenario schedules each winner's payment here.
	OnAccepted func(i int, body []byte)
}

// Progress is a live view of a run.
type Progress struct {
	Elapsed, Total time.Duration
	Done, Planned  int64
	Outcomes       [numOutcomes]int64
	P50, P99       time.Duration
}

// Run is the outcome of a run: one Result per Request plus what it cost.
type Run struct {
	Results []Result
	Start   time.Time
	// Wall is from the start to the last answer.
	Wall        time.Duration
	CPU         time.Duration // the generator process's user+system CPU during the run
	MaxInFlight int64
}

// CPUShare is the generator's share of the machine during the run.
func (r *Run) CPUShare() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return r.CPU.Seconds() / (r.Wall.Seconds() * float64(runtime.NumCPU()))
}

type runner struct {
	cfg      Config
	client   *fasthttp.HostClient
	reqs     []Request
	res      []Result
	start    time.Time
	done     atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
	outcomes [numOutcomes]atomic.Int64

	mu   sync.Mutex
	hist *hdrhistogram.Histogram // live percentiles, only when Progress is set
}

func newRunner(cfg Config, reqs []Request) *runner {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4096
	}
	r := &runner{cfg: cfg, reqs: reqs, res: make([]Result, len(reqs)), client: NewClient(cfg)}
	if cfg.Progress != nil {
		r.hist = NewHistogram()
	}
	return r
}

// NewClient is the HTTP client every run uses: keep-alive, no retries (each
// prepared request is sent exactly once), no header rewriting.
func NewClient(cfg Config) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          cfg.Addr,
		MaxConns:                      cfg.MaxConns,
		MaxConnWaitTimeout:            cfg.Timeout,
		ReadTimeout:                   cfg.Timeout,
		WriteTimeout:                  cfg.Timeout,
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		RetryIfErr:                    func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
}

// Warm opens n keep-alive connections with GET path requests before the clock
// starts, so connection setup is not measured as order latency.
func Warm(cfg Config, path string, n int) error {
	return warm(NewClient(cfg), cfg.Addr, path, n)
}

func warm(c *fasthttp.HostClient, addr, path string, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + path)
			if err := c.Do(req, resp); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// Open sends reqs[i] at sched[i] (both of the same length) and waits for
// every answer, or until ctx ends (what was not sent then is NotSent).
func Open(ctx context.Context, cfg Config, sched Schedule, reqs []Request) (*Run, error) {
	if len(sched) != len(reqs) {
		return nil, fmt.Errorf("load: %d scheduled times for %d requests", len(sched), len(reqs))
	}
	r := newRunner(cfg, reqs)
	cfg = r.cfg // with defaults
	if err := warm(r.client, cfg.Addr, "/healthz", min(64, cfg.MaxConns)); err != nil {
		return nil, fmt.Errorf("load: warm-up: %w", err)
	}
	cpu0 := cpuTime()
	r.start = time.Now()
	stop := r.progress(ctx, sched.Duration())

	// Workers take request indexes from work; when none is free the
	// dispatcher starts another, so a slow answer never delays the next
	// arrival (that would be a closed model in disguise).
	work := make(chan int) // unbuffered: a send succeeds only when a worker is idle
	var wg sync.WaitGroup
	worker := func() {
		defer wg.Done()
		req, resp := r.newRequest()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for i := range work {
			r.send(i, sched[i], req, resp)
		}
	}
	workers := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := range reqs {
		r.res[i].Sched = sched[i] // unsent requests keep their due time too
	}
	for i := range reqs {
		// Never send early; a late dispatcher (the timer overshoots by tens
		// of microseconds) sends what is due at once and catches up, and the
		// latency still counts from the scheduled time.
		if wait := time.Until(r.start.Add(sched[i])); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case work <- i:
			continue
		default:
		}
		if workers < cfg.MaxConns {
			workers++
			wg.Add(1)
			go worker()
		}
		work <- i
	}
	close(work)
	wg.Wait()
	return r.finish(stop, cpu0), nil
}

// Closed runs conns workers, each sending the next unsent request as soon as
// its previous answer arrived, until every request is sent or d has passed.
// Requests left are NotSent; only the sent ones belong to the run.
func Closed(ctx context.Context, cfg Config, conns int, d time.Duration, reqs []Request) (*Run, error) {
	cfg.MaxConns = conns
	r := newRunner(cfg, reqs)
	if err := warm(r.client, cfg.Addr, "/healthz", conns); err != nil {
		return nil, fmt.Errorf("load: warm-up: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cpu0 := cpuTime()
	r.start = time.Now()
	stop := r.progress(ctx, d)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			req, resp := r.newRequest()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				r.send(i, time.Since(r.start), req, resp)
			}
		})
	}
	wg.Wait()
	run := r.finish(stop, cpu0)
	n := min(int(next.Load()), len(reqs))
	run.Results = run.Results[:n]
	return run, nil
}

func (r *runner) newRequest() (*fasthttp.Request, *fasthttp.Response) {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("http://" + r.cfg.Addr + r.cfg.Path)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	return req, fasthttp.AcquireResponse()
}

var (
	hAuth     = []byte("Authorization")
	hKey      = []byte("Idempotency-Key")
	hReplayed = []byte("Idempotent-Replayed")
	codeField = []byte(`"code":"`)
	idField   = []byte(`"order_id":"`)
)

func (r *runner) send(i int, sched time.Duration, req *fasthttp.Request, resp *fasthttp.Response) {
	q := &r.reqs[i]
	res := &r.res[i]
	in := r.inFlight.Add(1)
	for m := r.maxIn.Load(); in > m && !r.maxIn.CompareAndSwap(m, in); m = r.maxIn.Load() {
	}
	req.Header.SetBytesKV(hAuth, q.Auth)
	req.Header.SetBytesK(hKey, q.Key)
	req.SetBodyRaw(q.Body)
	res.Sched = sched
	res.Sent = time.Since(r.start)
	err := r.client.Do(req, resp)
	res.Done = time.Since(r.start)
	r.inFlight.Add(-1)
	if err != nil {
		res.Outcome, res.Err = TransportError, err.Error()
	} else {
		res.Status = resp.StatusCode()
		res.Replayed = res.Status == fasthttp.StatusAccepted && replayed(&resp.Header)
		res.Outcome = classify(res.Status, res.Replayed, resp.Body())
		if res.Status == fasthttp.StatusAccepted {
			res.OrderID = string(Field(resp.Body(), idField))
			if r.cfg.OnAccepted != nil && !res.Replayed {
				r.cfg.OnAccepted(i, resp.Body())
			}
		}
	}
	r.outcomes[res.Outcome].Add(1)
	r.done.Add(1)
	if r.hist != nil { // a shared, locked histogram only for the live view
		r.mu.Lock()
		_ = r.hist.RecordValue(int64(res.Latency() / time.Microsecond))
		r.mu.Unlock()
	}
}

// replayed reads Idempotent-Replayed whatever its case: header names are
// case-insensitive, the client keeps them as sent (it does not normalise
// them, for speed), and a proxy may lower them (HAProxy does).
func replayed(h *fasthttp.ResponseHeader) bool {
	if v := h.PeekBytes(hReplayed); v != nil {
		return bytes.Equal(v, []byte("true"))
	}
	found := false
	for k, v := range h.All() {
		if bytes.EqualFold(k, hReplayed) {
			found = bytes.Equal(v, []byte("true"))
			break
		}
	}
	return found
}

// classify maps an answer to an Outcome by status and problem code. A
// status only one problem outcome is answered with is that outcome whatever
// the body says (a 429 or 503 need not carry a problem body to mean it);
// where a status carries several (409), the code tells them apart, and an
// unknown code is an HTTP error.
func classify(status int, replayed bool, body []byte) Outcome {
	if status == fasthttp.StatusAccepted {
		if replayed {
			return AcceptedReplay
		}
		return Accepted
	}
	cands := problemsByStatus[status]
	switch len(cands) {
	case 0:
		return HTTPError
	case 1:
		return cands[0]
	}
	code := Field(body, codeField)
	for _, o := range cands {
		if string(code) == outcomes[o].name {
			return o
		}
	}
	return HTTPError
}

// Field returns the string value after prefix in a small JSON body (the API's
// answers are flat objects whose ids and codes never contain quotes).
func Field(body, prefix []byte) []byte {
	i := bytes.Index(body, prefix)
	if i < 0 {
		return nil
	}
	v := body[i+len(prefix):]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return nil
}

func (r *runner) progress(ctx context.Context, total time.Duration) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				r.cfg.Progress(r.snapshot(total))
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

func (r *runner) snapshot(total time.Duration) Progress {
	p := Progress{Elapsed: time.Since(r.start), Total: total, Done: r.done.Load(), Planned: int64(len(r.reqs))}
	for i := range p.Outcomes {
		p.Outcomes[i] = r.outcomes[i].Load()
	}
	r.mu.Lock()
	p.P50 = time.Duration(r.hist.ValueAtQuantile(50)) * time.Microsecond
	p.P99 = time.Duration(r.hist.ValueAtQuantile(99)) * time.Microsecond
	r.mu.Unlock()
	return p
}

func (r *runner) finish(stop func(), cpu0 time.Duration) *Run {
	stop()
	run := &Run{Results: r.res, Start: r.start, CPU: cpuTime() - cpu0, MaxInFlight: r.maxIn.Load()}
	for i := range r.res {
		if r.res[i].Outcome != NotSent && r.res[i].Done > run.Wall {
			run.Wall = r.res[i].Done
		}
	}
	r.client.CloseIdleConnections()
	return run
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
