package suite

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// sample is a background poll, once a second, of the sale's persisted
// orders and the writer's lag, during the load and the drain.
type sample struct {
	at             time.Time
	persisted, lag int64
	ok             bool
}

type sampler struct {
	mu      sync.Mutex
	samples []sample
	quit    chan struct{}
	done    chan struct{}
}

func (b *Bench) sample(ctx context.Context, sale string) *sampler {
	s := &sampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			p, _, err1 := b.check.Persisted(ctx, sale)
			lag, err2 := b.check.Lag(ctx)
			s.mu.Lock()
			s.samples = append(s.samples, sample{at: time.Now(), persisted: p, lag: lag, ok: err1 == nil && err2 == nil})
			s.mu.Unlock()
			select {
			case <-s.quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) maxLag() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m int64
	for _, x := range s.samples {
		m = max(m, x.lag)
	}
	return m
}

func (s *sampler) stop() []sample {
	close(s.quit)
	<-s.done
	return s.samples
}

// timeline joins the client's per-second points with the persistence
// samples: persisted orders, accepted-but-not-persisted, writer lag. Points
// continue past the load while the drain went on.
func timeline(points []results.Point, run *load.Run, samples []sample) []results.Point {
	var acceptedAt []time.Duration
	for i := range run.Results {
		if run.Results[i].Outcome == load.Accepted {
			acceptedAt = append(acceptedAt, run.Results[i].Done)
		}
	}
	sort.Slice(acceptedAt, func(i, j int) bool { return acceptedAt[i] < acceptedAt[j] })
	sampled := map[int]bool{}
	for _, s := range samples {
		if !s.ok {
			continue
		}
		t := s.at.Sub(run.Start)
		if t < 0 {
			continue
		}
		i := int(t / time.Second)
		for len(points) <= i {
			points = append(points, results.Point{T: float64(len(points))})
		}
		acc := int64(sort.Search(len(acceptedAt), func(k int) bool { return acceptedAt[k] > t }))
		points[i].Persisted, points[i].WriterLag = s.persisted, s.lag
		points[i].Unpersisted = max(0, acc-s.persisted)
		sampled[i] = true
	}
	// A second that got no sample (the poll drifts against the clock) shows
	// the previous second's values rather than a false drop to zero.
	for i := 1; i < len(points); i++ {
		if !sampled[i] && sampled[i-1] {
			points[i].Persisted, points[i].WriterLag, points[i].Unpersisted = points[i-1].Persisted, points[i-1].WriterLag, points[i-1].Unpersisted
			sampled[i] = true
		}
	}
	return points
}
