package load

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// NewHistogram records microseconds from 1 µs to one minute with three
// significant digits.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
}

// LatencyOf reads a histogram of microseconds into the report's form.
func LatencyOf(h *hdrhistogram.Histogram) results.Latency {
	if h.TotalCount() == 0 {
		return results.Latency{}
	}
	ms := func(v int64) float64 { return float64(v) / 1000 }
	return results.Latency{
		Count: h.TotalCount(), MinMs: ms(h.Min()), MeanMs: round3(h.Mean() / 1000), MaxMs: ms(h.Max()),
		P50Ms: ms(h.ValueAtQuantile(50)), P90Ms: ms(h.ValueAtQuantile(90)), P95Ms: ms(h.ValueAtQuantile(95)),
		P99Ms: ms(h.ValueAtQuantile(99)), P999Ms: ms(h.ValueAtQuantile(99.9)),
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Summary is the client's view of a run in the results schema.
type Summary struct {
	Load      results.Load
	Latency   results.Latency
	Outcomes  map[string]int64
	Generator results.Generator
	// Timeline has one point per second of the schedule; the caller adds
	// the persistence columns.
	Timeline []results.Point
}

// Count returns how many results had outcome o.
func (s *Summary) Count(o Outcome) int64 { return s.Outcomes[o.String()] }

// Answered counts the requests that got an HTTP answer, whatever its
// status: all but those never sent and the transport errors (which include
// the timeouts). It is what per-request costs divide by.
func (s *Summary) Answered() int64 {
	var n int64
	for o, c := range s.Outcomes {
		if o != NotSent.String() && o != TransportError.String() {
			n += c
		}
	}
	return n
}

// Summarize computes rates, latency percentiles, the outcome mix and a
// per-second timeline of a run. The window for rates is from the first
// scheduled request to the last answer.
func Summarize(run *Run, model string) Summary {
	all, late := NewHistogram(), NewHistogram()
	outcomes := map[string]int64{}
	var secs []struct {
		offered, achieved int64
		hist              *hdrhistogram.Histogram
		outcomes          map[string]int64
	}
	bucket := func(d time.Duration) int {
		i := int(d / time.Second)
		for len(secs) <= i {
			secs = append(secs, struct {
				offered, achieved int64
				hist              *hdrhistogram.Histogram
				outcomes          map[string]int64
			}{hist: NewHistogram(), outcomes: map[string]int64{}})
		}
		return i
	}
	var sent int64
	for i := range run.Results {
		r := &run.Results[i]
		outcomes[r.Outcome.String()]++
		b := bucket(r.Sched)
		secs[b].offered++
		if r.Outcome == NotSent {
			continue
		}
		sent++
		us := int64(r.Latency() / time.Microsecond)
		_ = all.RecordValue(us)
		_ = late.RecordValue(int64(max(0, r.Sent-r.Sched) / time.Microsecond))
		_ = secs[b].hist.RecordValue(us)
		secs[b].outcomes[r.Outcome.String()]++
		secs[bucket(r.Done)].achieved++
	}
	wall := run.Wall.Seconds()
	s := Summary{
		Load:    results.Load{Model: model, Requests: sent, Seconds: round3(wall)},
		Latency: LatencyOf(all), Outcomes: outcomes,
		Generator: results.Generator{
			CPUSeconds: round3(run.CPU.Seconds()), CPUShare: round3(run.CPUShare()),
			MaxInFlight: run.MaxInFlight, LateP99Ms: float64(late.ValueAtQuantile(99)) / 1000,
		},
	}
	if wall > 0 {
		s.Load.AchievedRPS = math.Round(float64(sent) / wall)
	}
	for i, b := range secs {
		l := LatencyOf(b.hist)
		s.Timeline = append(s.Timeline, results.Point{
			T: float64(i), OfferedRPS: float64(b.offered), AchievedRPS: float64(b.achieved),
			P50Ms: l.P50Ms, P95Ms: l.P95Ms, P99Ms: l.P99Ms, Outcomes: b.outcomes,
		})
	}
	return s
}
