package writer

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Lag returns the group's total lag (records produced but not committed) on
// the orders topic and updates the per-partition gauge.
func (w *Writer) Lag(ctx context.Context) (int64, error) {
	lags, err := kadm.NewClient(w.cl).Lag(ctx, w.cfg.Group)
	if err != nil {
		return 0, err
	}
	if err := lags.Error(); err != nil {
		return 0, err
	}
	var total int64
	for _, l := range lags {
		for _, ml := range l.Lag[w.cfg.Topic] {
			if ml.Lag >= 0 {
				total += ml.Lag
				w.m.Lag.WithLabelValues(strconv.Itoa(int(ml.Partition))).Set(float64(ml.Lag))
			}
		}
	}
	return total, nil
}

// ReportLag refreshes the lag gauge every interval until ctx is done.
func (w *Writer) ReportLag(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c, cancel := context.WithTimeout(ctx, every)
			if _, err := w.Lag(c); err != nil && ctx.Err() == nil {
				w.log.Debug("lag report failed", "err", err)
			}
			cancel()
		}
	}
}
