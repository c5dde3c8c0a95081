package telemetry

import (
	"context"
	"strings"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracedRedis wraps a rueidis.Client so that every Do and DoMulti (which is
// what rueidis's Lua helpers use: EVALSHA, falling back to EVAL) becomes a
// client span with the database semantic-convention attributes. rueidisotel
// is not available from this project's registries, and the hot path needs
// only these two methods traced.
type TracedRedis struct {
	rueidis.Client
	tracer trace.Tracer
	attrs  []attribute.KeyValue
}

var _ rueidis.Client = (*TracedRedis)(nil)

// TraceRedis returns client with tracing around Do and DoMulti. addr is the
// server address recorded on spans.
func TraceRedis(client rueidis.Client, addr string) *TracedRedis {
	return &TracedRedis{
		Client: client,
		tracer: otel.Tracer("github.com/blitzbuy/blitzbuy/services/internal/telemetry/redis"),
		attrs:  []attribute.KeyValue{attribute.String("db.system.name", "redis"), attribute.String("server.address", addr)},
	}
}

// Do traces one command.
func (c *TracedRedis) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if !trace.SpanFromContext(ctx).IsRecording() {
		// No sampled trace to join (background work, scrapes, or a request the
		// sampler dropped): no span, no allocation — the lean path.
		return c.Client.Do(ctx, cmd)
	}
	op := opName(cmd.Commands())
	ctx, span := c.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(c.attrs, attribute.String("db.operation.name", op))...))
	res := c.Client.Do(ctx, cmd)
	end(span, res.Error())
	return res
}

// DoMulti traces a pipeline as one span.
func (c *TracedRedis) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	if !trace.SpanFromContext(ctx).IsRecording() || len(multi) == 0 {
		return c.Client.DoMulti(ctx, multi...)
	}
	op := opName(multi[0].Commands())
	ctx, span := c.tracer.Start(ctx, "pipeline "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(c.attrs, attribute.String("db.operation.name", op),
			attribute.Int("db.operation.batch.size", len(multi)))...))
	res := c.Client.DoMulti(ctx, multi...)
	var first error
	for _, r := range res {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			first = err
			break
		}
	}
	end(span, first)
	return res
}

func end(span trace.Span, err error) {
	if err != nil && !rueidis.IsRedisNil(err) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func opName(args []string) string {
	if len(args) == 0 {
		return "redis"
	}
	return strings.ToUpper(args[0])
}
