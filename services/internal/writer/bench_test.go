package writer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// BenchmarkWriterThroughput measures the writer alone: a topic pre-filled
// with events, then the time until every row is committed, for several batch
// sizes. Run it with one iteration per size (each iteration is a full drain):
//
//	go test -run '^$' -bench WriterThroughput -benchtime 1x -count 3 ./services/internal/writer/
//
// It reports rows/s in steady state (first committed batch to last row) and
// drain-rows/s including the consumer group join; ns/op is the whole drain.
// Rows are counted every 200 ms, which bounds the precision. See docs/benchmarks.md.
func BenchmarkWriterThroughput(b *testing.B) {
	const events = 200_000
	type variant struct {
		name   string
		batch  int
		ledger bool // false: the Redis claim/confirm handshake is replaced by a no-op, to show its share
	}
	var variants []variant
	for _, batch := range []int{500, 2000, 5000, 10000} {
		variants = append(variants, variant{fmt.Sprintf("batch=%d", batch), batch, true})
	}
	variants = append(variants, variant{"batch=10000/no-redis-handshake", 10000, false})
	for _, v := range variants {
		batch := v.batch
		b.Run(v.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f := newFixture(b, 12)
				sale, evs := f.events(events)
				f.produce(evs)
				cfg := f.config()
				cfg.BatchSize = batch
				if !v.ledger {
					f.ledgerOverride = noopLedger{}
				}
				b.StartTimer()
				t0 := time.Now()
				f.start(cfg)
				// Steady state: from the first committed batch to the last row,
				// so the consumer group join does not count against the writer.
				var first time.Time
				var n0 int64
				for deadline := time.Now().Add(time.Minute); first.IsZero() && time.Now().Before(deadline); {
					if n := f.rows(sale); n > 0 {
						first, n0 = time.Now(), n
					}
					time.Sleep(10 * time.Millisecond)
				}
				f.waitRows(sale, events, 5*time.Minute)
				elapsed := time.Since(t0)
				b.StopTimer()
				b.ReportMetric(float64(events)/elapsed.Seconds(), "drain-rows/s")
				b.ReportMetric(float64(events-n0)/time.Since(first).Seconds(), "rows/s")
			}
		})
	}
}

// noopLedger answers "gone" for every claim and confirms nothing: the
// writer without its Redis handshake (a measurement aid, never the product).
type noopLedger struct{}

func (noopLedger) ClaimForPersist(_ context.Context, refs []order.Ref) ([]order.Stage, error) {
	out := make([]order.Stage, len(refs))
	for i := range out {
		out[i] = order.StageGone
	}
	return out, nil
}
func (noopLedger) Confirm(context.Context, []order.Ref) error { return nil }
func (noopLedger) Release(context.Context, order.Order, order.ReleaseMode) error {
	return nil
}
