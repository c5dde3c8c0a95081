//go:build faults

package writer_test

import (
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// PostgreSQL is stopped for 30 s while events keep arriving: when it is back,
// every event is in the table, none in the DLQ, the writer never stopped and
// its lag returns to 0. Run with: go tool task test:faults
func TestFaultPostgresOutage(t *testing.T) {
	f := newFixture(t, 12)
	sale, evs := f.events(6_000)
	w, stop := f.start(f.config())

	f.produce(evs[:1000])
	f.waitRows(sale, 1000, time.Minute)

	stacktest.Stop(t, "postgres")
	sawNotReady := false
	for i := 0; i < 30; i++ { // 30 s of traffic into the outage, 5,000 events
		f.produce(evs[1000+i*5000/30 : 1000+(i+1)*5000/30])
		time.Sleep(time.Second)
		if !w.Ready() {
			sawNotReady = true
		}
	}
	if !sawNotReady {
		t.Error("the writer stayed ready while the database was down")
	}
	stacktest.Start(t, "postgres")

	f.waitRows(sale, int64(len(evs)), 3*time.Minute)
	f.waitLagZero(w, time.Minute)
	if !w.Ready() {
		t.Error("the writer is not ready after the database returned")
	}
	if dlq := f.dlqRecords(1, 3*time.Second); len(dlq) != 0 {
		t.Errorf("%d records dead-lettered during a database outage, want 0", len(dlq))
	}
	if err := stop(); err != nil {
		t.Errorf("the writer ended with %v; it must ride out the outage", err)
	}
}
