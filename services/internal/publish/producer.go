// Package publish hands reserved orders to Kafka: a franz-go producer that
// answers only once the broker acknowledged the record (acks=all, idempotent),
// and a relay that re-publishes reservations left in the outbox by a process
// that died between reserving and the broker's ack.
package publish

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Config of the producer. Every option has its reason written next to it.
type Config struct {
	Brokers []string
	Topic   string
	// DeliveryTimeout bounds how long one record may wait for the broker's ack
	// (retries included); the HTTP handler answers 503 and releases the
	// reservation after it. Keep it below the relay threshold.
	DeliveryTimeout time.Duration
	// Linger trades latency for batch size. 0 sends at once; concurrent
	// records still batch while a produce request is in flight.
	Linger time.Duration
	// Opts are extra client options (tests, tracing and metrics hooks).
	Opts []kgo.Opt
	// Metrics, optional.
	Metrics *Metrics
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("publish: no brokers")
	case c.Topic == "":
		return errors.New("publish: no topic")
	case c.DeliveryTimeout < 100*time.Millisecond:
		return fmt.Errorf("publish: delivery timeout %s too small", c.DeliveryTimeout)
	}
	return nil
}

// Producer publishes OrderPlaced events.
type Producer struct {
	cl      *kgo.Client
	topic   string
	m       *Metrics
	timeout time.Duration
}

// NewProducer connects a producer. The client does not dial until first use;
// Ping checks the broker.
func NewProducer(cfg Config) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.DefaultProduceTopic(cfg.Topic),
		// An order is accepted only when every in-sync replica has it.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Idempotent writes are franz-go's default (they need acks=all): a retry
		// after a lost response does not duplicate the record in the log.
		kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout),
		kgo.ProduceRequestTimeout(cfg.DeliveryTimeout),
		kgo.ProducerLinger(cfg.Linger),
		// Orders are keyed by id: they spread over all partitions (a sale keyed
		// to one partition would make a single writer the bottleneck).
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		// A missing topic is a deployment error: fail fast instead of waiting.
		kgo.UnknownTopicRetries(3),
	}, cfg.Opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return &Producer{cl: cl, topic: cfg.Topic, m: cfg.Metrics, timeout: cfg.DeliveryTimeout}, nil
}

// Record builds the Kafka record of an order's OrderPlaced event. The record
// carries ctx: the kotel hook (when configured) starts the "orders publish"
// span under it and writes the W3C trace context into the record's headers.
func (p *Producer) Record(ctx context.Context, o order.Order) (*kgo.Record, error) {
	value, err := order.NewOrderPlaced(o).Encode()
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return p.record(ctx, o.ID, value, order.OrderPlacedType, order.OrderPlacedVersion), nil
}

// record is the one shape of an event's Kafka record: keyed by the order id
// (so an order's events share a partition), with the content type, event
// type and schema version headers the writer dispatches on.
func (p *Producer) record(ctx context.Context, orderID string, value []byte, eventType string, version int) *kgo.Record {
	r := &kgo.Record{
		Topic: p.topic,
		Key:   []byte(orderID),
		Value: value,
		Headers: []kgo.RecordHeader{
			{Key: order.HeaderContentType, Value: []byte(order.EventContentType)},
			{Key: order.HeaderEventType, Value: []byte(eventType)},
			{Key: order.HeaderSchemaVersion, Value: []byte(strconv.Itoa(version))},
		},
	}
	r.Context = ctx
	return r
}

// Publish sends o's event and waits for the broker's acknowledgement (or the
// delivery timeout). The wait is not cut short when ctx is cancelled (a client
// that hangs up must not turn an acknowledged record into a released one).
func (p *Producer) Publish(ctx context.Context, o order.Order) error {
	return p.publish(ctx, "api", o, p.Record)
}

// EndedRecord builds the Kafka record of o's transition event (OrderPaid,
// OrderExpired, OrderCancelled: how its checkout window ended), keyed by the
// order id like its OrderPlaced, so both share a partition.
func (p *Producer) EndedRecord(ctx context.Context, o order.Order) (*kgo.Record, error) {
	if o.EndedAt == nil {
		return nil, fmt.Errorf("transition of %s: the hold has not ended (%q)", o.ID, o.Hold)
	}
	ref := ""
	if o.Hold == order.HoldPaid {
		ref = o.PaymentRef
	}
	ev := order.NewOrderTransition(o, o.Hold, *o.EndedAt, ref)
	if err := ev.Validate(); err != nil {
		return nil, fmt.Errorf("transition of %s: %w", o.ID, err)
	}
	value, err := ev.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return p.record(ctx, o.ID, value, ev.Type, order.OrderTransitionVersion), nil
}

// PublishEnded sends o's transition event and waits for the broker's ack,
// as Publish does (counted as source "transition").
func (p *Producer) PublishEnded(ctx context.Context, o order.Order) error {
	return p.publish(ctx, "transition", o, p.EndedRecord)
}

func (p *Producer) publish(ctx context.Context, source string, o order.Order, record func(context.Context, order.Order) (*kgo.Record, error)) error {
	// The record's context bounds its life: franz-go fails a record whose
	// context ends before it was written, which RecordDeliveryTimeout alone
	// does not do while no broker can be reached at all. Not the caller's
	// cancellation, though: a client hanging up must not fail an order.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	r, err := record(rctx, o)
	if err != nil {
		return err
	}
	t0 := time.Now()
	// An idempotent producer cannot fail a record that may already have been
	// written, so with the broker gone a record can wait for it indefinitely.
	// The caller waits no longer than the delivery timeout: after it, the
	// outcome is unknown and the API releases the reservation — safe, because
	// the writer refuses to persist a released reservation should the record
	// arrive after all.
	done := make(chan error, 1)
	p.cl.Produce(rctx, r, func(_ *kgo.Record, err error) { done <- err })
	wait := time.NewTimer(p.timeout + 250*time.Millisecond)
	defer wait.Stop()
	select {
	case err = <-done:
	case <-wait.C:
		err = fmt.Errorf("%w: no broker ack within %s", kgo.ErrRecordTimeout, p.timeout)
	}
	p.m.observe(ctx, source, time.Since(t0), err)
	if err != nil {
		return fmt.Errorf("publish %s: %w", o.ID, err)
	}
	return nil
}

// Relayed publishes on behalf of the relay (counted apart from the API's).
func (p *Producer) Relayed(ctx context.Context, o order.Order) error {
	err := p.publish(ctx, "relay", o, p.Record)
	if err == nil && p.m != nil {
		p.m.relayed.Inc()
	}
	return err
}

// Admin is an admin client over the producer's own connections (order-api
// reads the writers' lag with it; no second client to the brokers).
func (p *Producer) Admin() *kadm.Client { return kadm.NewClient(p.cl) }

// Ping checks that a broker answers.
func (p *Producer) Ping(ctx context.Context) error { return p.cl.Ping(ctx) }

// Close flushes buffered records (bounded by ctx) and closes the client.
func (p *Producer) Close(ctx context.Context) error {
	err := p.cl.Flush(ctx)
	p.cl.Close()
	return err
}
