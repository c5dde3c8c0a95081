package load

import (
	"fmt"
	"math"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// Schedule is an open-model arrival schedule: the send time of every request,
// as an offset from the start, fixed before the clock starts. Latency is
// measured from these times, not from when the generator got round to
// sending, so a stalled server (or a stalled generator) cannot hide queueing
// delay — no coordinated omission.
type Schedule []time.Duration

// NewSchedule lays out the arrivals of the given stages back to back: a
// constant rate (FromRPS == ToRPS) sends evenly spaced requests, a ramp
// accelerates linearly from FromRPS to ToRPS over the stage.
func NewSchedule(stages []results.Stage) (Schedule, error) {
	var s Schedule
	var offset float64 // seconds
	for i, st := range stages {
		if st.Seconds <= 0 || st.FromRPS < 0 || st.ToRPS < 0 || (st.FromRPS == 0 && st.ToRPS == 0) {
			return nil, fmt.Errorf("stage %d: need seconds > 0 and a positive rate, got %+v", i+1, st)
		}
		a, b, d := st.FromRPS, st.ToRPS, st.Seconds
		n := int(math.Round((a + b) / 2 * d))
		for k := range n {
			s = append(s, time.Duration((offset+arrival(a, b, d, float64(k)))*float64(time.Second)))
		}
		offset += d
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("the stages schedule no request")
	}
	return s, nil
}

// arrival is the time (seconds into the stage) of the k-th request of a stage
// whose rate goes linearly from a to b over d seconds: the root of
// a·t + (b−a)·t²/(2d) = k.
func arrival(a, b, d, k float64) float64 {
	if a == b {
		return k / a
	}
	slope := (b - a) / d
	return (-a + math.Sqrt(a*a+2*slope*k)) / slope
}

// Duration is the scheduled time of the last request.
func (s Schedule) Duration() time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}
