// Package writer is the write-behind half of BlitzBuy: a franz-go group
// consumer on `orders` that persists OrderPlaced events into PostgreSQL in
// idempotent batches — and applies the checkout window's transitions
// (OrderPaid, OrderExpired, OrderCancelled) in the same batches — retries
// transient failures forever with exponential backoff, dead-letters poison
// records with the reason in headers, and compensates valid orders that are
// permanently rejected. Offsets are committed only after the rows they carry
// are committed (or dead-lettered).
package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
)

// Store is the durable ledger.
type Store interface {
	// ApplyBatch inserts orders and applies hold transitions (issue #14) in
	// one transaction; a transition whose order is not there yet is kept
	// for the insert of that order.
	ApplyBatch(ctx context.Context, rows []pgstore.Row, ts []pgstore.Transition) (pgstore.InsertResult, pgstore.TransitionResult, error)
	ApplyTransitions(ctx context.Context, ts []pgstore.Transition) (pgstore.TransitionResult, error)
	InsertOne(ctx context.Context, r pgstore.Row) (bool, error)
	// InsertVouched writes orders no live reservation backs, only within the
	// sale's durable stock and per-user limit; the others are refused.
	InsertVouched(ctx context.Context, rows []pgstore.Row) (pgstore.InsertResult, []pgstore.Refusal, error)
}

// Ledger is the hot ledger (Redis), for the claim/confirm handshake and
// compensation.
type Ledger interface {
	ClaimForPersist(ctx context.Context, refs []order.Ref) ([]order.Stage, error)
	Confirm(ctx context.Context, refs []order.Ref) error
	Release(ctx context.Context, o order.Order, mode order.ReleaseMode) error
}

// Config of the writer. Every field is required: the process defaults live
// once, in the config package's envDefault tags, and a zero here is a wiring
// mistake that Validate names rather than a value New quietly fills in.
type Config struct {
	Brokers  []string
	Topic    string // orders
	DLQTopic string // orders.dlq
	Group    string // consumer group id
	// BatchSize and BatchWait bound a batch: up to BatchSize records, or
	// whatever arrived within BatchWait of the first one.
	BatchSize int
	BatchWait time.Duration
	// BackoffMin/BackoffMax bound the exponential retry delay (1 s … 30 s).
	BackoffMin, BackoffMax time.Duration
	// ShutdownTimeout is how long Run may take to stop once its context is
	// cancelled: the batches in hand are inserted, confirmed and committed
	// within it, then Run leaves the group and returns.
	ShutdownTimeout time.Duration
	// Pipelines is how many batches are claimed and inserted at once (≥ 1).
	// Offsets are committed in order whatever the value.
	Pipelines int
	// Opts are extra client options (tests, tracing and metrics hooks).
	Opts []kgo.Opt
	// Tracer, when set, gives every record an "orders process" span that
	// continues the producer's trace, and the batch insert a span linking them.
	Tracer *kotel.Tracer
}

// Named validation errors.
var (
	ErrNoBrokers       = errors.New("writer: no brokers")
	ErrTopics          = errors.New("writer: topic, DLQ topic and group are required")
	ErrBatch           = errors.New("writer: batch size must be >= 1 and batch wait > 0")
	ErrBackoff         = errors.New("writer: backoff min must be > 0 and <= backoff max")
	ErrPipelines       = errors.New("writer: pipelines must be >= 1")
	ErrShutdownTimeout = errors.New("writer: shutdown timeout must be > 0")
)

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return ErrNoBrokers
	case c.Topic == "" || c.DLQTopic == "" || c.Group == "":
		return ErrTopics
	case c.BatchSize < 1 || c.BatchWait <= 0:
		return fmt.Errorf("%w (got %d / %s)", ErrBatch, c.BatchSize, c.BatchWait)
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("%w (got %s…%s)", ErrBackoff, c.BackoffMin, c.BackoffMax)
	case c.Pipelines < 1:
		return fmt.Errorf("%w (got %d)", ErrPipelines, c.Pipelines)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("%w (got %s)", ErrShutdownTimeout, c.ShutdownTimeout)
	}
	return nil
}

// Writer consumes, persists, dead-letters and compensates.
type Writer struct {
	cfg    Config
	cl     *kgo.Client
	store  Store
	ledger Ledger
	m      *Metrics
	log    *slog.Logger
	ready  atomic.Bool
	now    func() time.Time
	tracer trace.Tracer
}

// New connects the consumer (auto-commit off, rebalances blocked while a
// batch is in hand) and the DLQ producer (one client does both).
func New(cfg Config, store Store, ledger Ledger, m *Metrics, log *slog.Logger) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// At-least-once: offsets are committed by hand after the work, and a
		// rebalance cannot take partitions away in the middle of a batch.
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// A writer that dies hands its partitions over after 10 s instead of
		// Kafka's 45 s default: lag after a crash is bounded by this.
		kgo.SessionTimeout(10 * time.Second),
		kgo.HeartbeatInterval(time.Second),
		// The broker holds a fetch until it has fetchMinBytes or BatchWait
		// passed, so at moderate rates one fetch carries a batch's worth of
		// records instead of a few (franz-go's default of 1 byte answers as
		// soon as anything arrived: many small fetches, each a broker and a
		// writer wake-up). See docs/benchmarks.md.
		kgo.FetchMinBytes(fetchMinBytes),
		kgo.FetchMaxWait(cfg.BatchWait),
		// The DLQ gets the same durability as orders.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(cfg.DLQTopic),
	}, cfg.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("writer: %w", err)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	w := &Writer{cfg: cfg, cl: cl, store: store, ledger: ledger, m: m, log: log, now: time.Now,
		tracer: otel.Tracer("github.com/blitzbuy/blitzbuy/services/internal/writer")}
	w.ready.Store(true)
	return w, nil
}

// Client exposes the Kafka client (lag reporting, readiness).
func (w *Writer) Client() *kgo.Client { return w.cl }

// Ready is false while the writer is retrying a failure (database down…).
func (w *Writer) Ready() bool { return w.ready.Load() }

// Run consumes until ctx is cancelled, then finishes the batches in hand,
// commits them and leaves the group.
//
// Batches flow through a pipeline: up to Pipelines batches are claimed and
// inserted concurrently (Postgres can use more than one core), and a single
// finishing stage confirms them in Redis and commits their offsets strictly
// in the order they were polled, each only after its rows are committed. A
// rebalance in between can only cause redelivery, which the idempotent
// insert absorbs.
func (w *Writer) Run(ctx context.Context) error {
	// Batches in hand are finished even when shutdown has begun, for at most
	// the shutdown timeout.
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(w.cfg.ShutdownTimeout, cancel) })
	defer stop()

	type inflight struct {
		recs      []*kgo.Record
		persisted []order.Ref
		err       error
		done      chan struct{}
	}
	queue := make(chan *inflight, w.cfg.Pipelines) // in poll order
	slots := make(chan struct{}, w.cfg.Pipelines)  // concurrent persists
	failed := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for b := range queue {
			<-b.done
			if b.err != nil {
				// Nothing after a failed batch may be committed: its records would
				// be skipped. Stop here; they are all redelivered after a restart.
				select {
				case failed <- b.err:
				default:
				}
				for range queue {
				}
				return
			}
			w.finish(work, finishJob{recs: b.recs, persisted: b.persisted})
		}
	}()
	defer func() {
		close(queue)
		<-finished
		w.cl.CloseAllowingRebalance() // leaves the group
	}()

	for {
		recs, err := w.poll(ctx)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			b := &inflight{recs: recs, done: make(chan struct{})}
			select {
			case slots <- struct{}{}:
			case err := <-failed:
				return err
			}
			select {
			case queue <- b:
			case err := <-failed:
				return err
			}
			go func() {
				defer func() { <-slots; close(b.done) }()
				b.persisted, b.err = w.persist(work, b.recs)
			}()
		}
		w.cl.AllowRebalance()
		select {
		case err := <-failed:
			return err // only when the shutdown timeout ran out: nothing after it committed
		default:
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

type finishJob struct {
	recs      []*kgo.Record
	persisted []order.Ref
}

// finish confirms a persisted batch in Redis and commits its offsets.
func (w *Writer) finish(ctx context.Context, j finishJob) {
	for attempt := 1; ; attempt++ {
		err := w.ledger.Confirm(ctx, j.persisted)
		if err == nil {
			break
		}
		// The rows are in Postgres; only the reservations' stage lags. Keep
		// trying: the outbox entries must go.
		w.m.retries.WithLabelValues("redis").Inc()
		delay := backoff(attempt, w.cfg.BackoffMin, w.cfg.BackoffMax)
		w.log.Warn("confirm failed, retrying", "attempt", attempt, "retry_in", delay.String(), "err", err)
		select {
		case <-ctx.Done():
			return // redelivered after restart: claim and confirm again
		case <-time.After(delay):
		}
	}
	for attempt := 1; attempt <= 5; attempt++ {
		err := w.cl.CommitRecords(ctx, j.recs...)
		if err == nil {
			return
		}
		w.m.retries.WithLabelValues("commit").Inc()
		w.log.Warn("offset commit failed", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff(attempt, w.cfg.BackoffMin, w.cfg.BackoffMax)):
		}
	}
	// Typically a rebalance took the partitions: their next owner re-reads
	// from the last commit, and the idempotent insert skips what is there.
	w.log.Warn("giving up committing a persisted batch; it will be redelivered", "records", len(j.recs))
}

// fetchMinBytes is about a full batch of OrderPlaced records (≈ 100 bytes
// each, LZ4-compressed, at the default BatchSize of 10,000): a fetch is
// answered with a batch, or after BatchWait with whatever there is.
const fetchMinBytes = 1 << 20

// poll gathers up to BatchSize records, waiting at most BatchWait after the
// first arrived.
func (w *Writer) poll(ctx context.Context) ([]*kgo.Record, error) {
	var recs []*kgo.Record
	var deadline time.Time
	for len(recs) < w.cfg.BatchSize {
		pctx := ctx
		var cancel context.CancelFunc = func() {}
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			pctx, cancel = context.WithTimeout(ctx, left)
		}
		fs := w.cl.PollRecords(pctx, w.cfg.BatchSize-len(recs))
		cancel()
		if fs.IsClientClosed() {
			return nil, errors.New("writer: client closed")
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				w.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		recs = append(recs, fs.Records()...)
		if ctx.Err() != nil {
			break
		}
		if len(recs) > 0 && deadline.IsZero() {
			deadline = time.Now().Add(w.cfg.BatchWait)
		}
	}
	return recs, nil
}

// persist processes a batch until it succeeds, retrying transient failures
// with backoff, and returns the orders persisted.
func (w *Writer) persist(ctx context.Context, recs []*kgo.Record) ([]order.Ref, error) {
	w.m.consumed.Add(float64(len(recs)))
	w.m.batchSize.Observe(float64(len(recs)))
	var first time.Time
	for attempt := 1; ; attempt++ {
		persisted, err := w.process(ctx, recs, attempt, first)
		if err == nil {
			w.ready.Store(true)
			w.m.outage.Set(0)
			return persisted, nil
		}
		if first.IsZero() {
			first = w.now()
		}
		reason := transientReason(err)
		w.m.retries.WithLabelValues(reason).Inc()
		w.ready.Store(false)
		w.m.outage.Set(1)
		delay := backoff(attempt, w.cfg.BackoffMin, w.cfg.BackoffMax)
		w.log.Warn("batch failed, retrying", "reason", reason, "attempt", attempt, "retry_in", delay.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("writer: gave up on a batch at shutdown: %w", err)
		case <-time.After(delay):
		}
	}
}

// backoff is min·2^(attempt-1) capped at max, with "equal jitter": a random
// point in the upper half, so a fleet of writers does not retry in lockstep.
func backoff(attempt int, min, max time.Duration) time.Duration {
	d := max
	if attempt < 32 {
		if e := min << (attempt - 1); e > 0 && e < max {
			d = e
		}
	}
	return d/2 + rand.N(d/2+1)
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// traceID extracts the trace id from a W3C traceparent header.
func traceID(r *kgo.Record) string {
	tp := header(r, "traceparent")
	if len(tp) == 55 && tp[2] == '-' && tp[35] == '-' {
		return tp[3:35]
	}
	return ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
