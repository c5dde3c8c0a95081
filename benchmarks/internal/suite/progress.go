package suite

import (
	"fmt"
	"os"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/report"
)

// progress prints one live line to the terminal.
func progress(name string) func(load.Progress) {
	return func(p load.Progress) {
		rate := float64(p.Done) / p.Elapsed.Seconds()
		var errs int64
		for o, n := range p.Outcomes {
			switch load.Outcome(o) {
			case load.Unavailable, load.LedgerRebuilding, load.HTTPError, load.TransportError:
				errs += n
			}
		}
		left := max(0, p.Total-p.Elapsed).Round(time.Second)
		fmt.Fprintf(os.Stderr, "\r\033[K%s  %5.1fs  %s left  %s req/s  p50 %.2f ms  p99 %.2f ms  accepted %s  sold out %s  429 %s  errors %s",
			name, p.Elapsed.Seconds(), left, report.Whole(rate),
			float64(p.P50.Microseconds())/1000, float64(p.P99.Microseconds())/1000,
			report.Whole(float64(p.Outcomes[load.Accepted]+p.Outcomes[load.AcceptedReplay])),
			report.Whole(float64(p.Outcomes[load.SoldOut])), report.Whole(float64(p.Outcomes[load.RateLimited])), report.Whole(float64(errs)))
	}
}
