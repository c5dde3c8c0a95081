package writer_test

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkWriterThroughput measures the writer alone: a topic pre-filled
// with events, then the time until every row is committed, for several batch
// sizes. Run it with one iteration per size (each iteration is a full drain):
//
//	go test -run '^$' -bench WriterThroughput -benchtime 1x -count 3 ./services/internal/writer/
//
// It reports rows/s; ns/op is the whole drain. See docs/benchmarks.md.
func BenchmarkWriterThroughput(b *testing.B) {
	const events = 200_000
	for _, batch := range []int{500, 2000, 5000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f := newFixture(b, 12)
				sale, evs := f.events(events)
				f.produce(evs)
				cfg := f.config()
				cfg.BatchSize = batch
				b.StartTimer()
				t0 := time.Now()
				f.start(cfg)
				f.waitRows(sale, events, 5*time.Minute)
				elapsed := time.Since(t0)
				b.StopTimer()
				b.ReportMetric(float64(events)/elapsed.Seconds(), "rows/s")
			}
		})
	}
}
