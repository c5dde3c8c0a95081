package load

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// near reports whether got is within 1 ns of the offset (in seconds) want:
// the schedule truncates float seconds to whole nanoseconds.
func near(got time.Duration, want float64) bool {
	return math.Abs(float64(got)-want*float64(time.Second)) <= 1
}

func TestNewScheduleConstant(t *testing.T) {
	tests := []struct {
		name    string
		rate    float64
		seconds float64
		wantN   int
	}{
		{"1000 rps for 1 s", 1000, 1, 1000},
		{"1200 rps for 0.5 s", 1200, 0.5, 600},
		{"3 rps for 2 s", 3, 2, 6},
		{"rounds half up", 2.5, 1, 3},         // 2.5 requests → 3
		{"rounds down below half", 2.4, 1, 2}, // 2.4 requests → 2
		{"fractional seconds", 10000, 0.0123, 123},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSchedule([]results.Stage{{FromRPS: tt.rate, ToRPS: tt.rate, Seconds: tt.seconds}})
			if err != nil {
				t.Fatalf("NewSchedule: %v", err)
			}
			if got := len(s); got != tt.wantN {
				t.Fatalf("len = %d, want %d (round(%g*%g))", got, tt.wantN, tt.rate, tt.seconds)
			}
			for k, got := range s {
				if want := float64(k) / tt.rate; !near(got, want) {
					t.Fatalf("s[%d] = %v, want %v (k/rate)", k, got, time.Duration(want*float64(time.Second)))
				}
			}
			if got, want := s.Duration(), s[len(s)-1]; got != want {
				t.Errorf("Duration() = %v, want last offset %v", got, want)
			}
		})
	}
}

func TestNewScheduleRamp(t *testing.T) {
	const from, to, seconds = 1000.0, 3000.0, 2.0
	s, err := NewSchedule([]results.Stage{{FromRPS: from, ToRPS: to, Seconds: seconds}})
	if err != nil {
		t.Fatalf("NewSchedule: %v", err)
	}
	if got, want := len(s), 4000; got != want {
		t.Fatalf("len = %d, want %d ((from+to)/2*seconds)", got, want)
	}
	if s[0] != 0 {
		t.Errorf("first offset = %v, want 0", s[0])
	}
	for i := 1; i < len(s); i++ {
		if s[i] < s[i-1] {
			t.Fatalf("offsets decrease at %d: %v after %v", i, s[i], s[i-1])
		}
	}
	last := s[len(s)-1]
	if last >= 2*time.Second || last < 2*time.Second-2*time.Millisecond {
		t.Errorf("last offset = %v, want just under 2s", last)
	}
	if got := s.Duration(); got != last {
		t.Errorf("Duration() = %v, want %v", got, last)
	}
	var first, second int
	for _, d := range s {
		if d < time.Second {
			first++
		} else {
			second++
		}
	}
	// Rate 1000→2000 in the first second (1500 requests), 2000→3000 in the
	// second (2500).
	if first >= second {
		t.Errorf("first half has %d requests, second half %d: want an accelerating ramp", first, second)
	}
	if first < 1490 || first > 1510 {
		t.Errorf("first half has %d requests, want about 1500", first)
	}
	// The instantaneous spacing at the start is ~1/from, at the end ~1/to.
	if gap := s[1] - s[0]; gap < 990*time.Microsecond || gap > time.Millisecond {
		t.Errorf("first gap = %v, want about 1ms", gap)
	}
	if gap := s[len(s)-1] - s[len(s)-2]; gap < 330*time.Microsecond || gap > 340*time.Microsecond {
		t.Errorf("last gap = %v, want about 333µs", gap)
	}
}

func TestNewScheduleDownRamp(t *testing.T) {
	s, err := NewSchedule([]results.Stage{{FromRPS: 3000, ToRPS: 1000, Seconds: 2}})
	if err != nil {
		t.Fatalf("NewSchedule: %v", err)
	}
	if got, want := len(s), 4000; got != want {
		t.Fatalf("len = %d, want %d", got, want)
	}
	var first int
	for i, d := range s {
		if i > 0 && d < s[i-1] {
			t.Fatalf("offsets decrease at %d: %v after %v", i, d, s[i-1])
		}
		if d < time.Second {
			first++
		}
	}
	if first <= len(s)-first {
		t.Errorf("first half has %d of %d requests: want a decelerating ramp", first, len(s))
	}
	if last := s.Duration(); last >= 2*time.Second {
		t.Errorf("last offset = %v, want < 2s", last)
	}
}

func TestNewScheduleStagesBackToBack(t *testing.T) {
	stages := []results.Stage{
		{FromRPS: 100, ToRPS: 100, Seconds: 1.5},
		{FromRPS: 200, ToRPS: 400, Seconds: 1},
	}
	s, err := NewSchedule(stages)
	if err != nil {
		t.Fatalf("NewSchedule: %v", err)
	}
	const n1, n2 = 150, 300
	if got := len(s); got != n1+n2 {
		t.Fatalf("len = %d, want %d", got, n1+n2)
	}
	if !near(s[n1-1], float64(n1-1)/100) {
		t.Errorf("last of stage 1 = %v, want %v", s[n1-1], 1490*time.Millisecond)
	}
	if got, want := s[n1], 1500*time.Millisecond; got != want {
		t.Errorf("first of stage 2 = %v, want %v (stage 1's duration)", got, want)
	}
	for i := n1; i < len(s); i++ {
		if s[i] < 1500*time.Millisecond || s[i] >= 2500*time.Millisecond {
			t.Fatalf("stage 2 offset s[%d] = %v, want in [1.5s, 2.5s)", i, s[i])
		}
		if s[i] < s[i-1] {
			t.Fatalf("offsets decrease at %d: %v after %v", i, s[i], s[i-1])
		}
	}
	if d := s.Duration(); d <= 2490*time.Millisecond || d >= 2500*time.Millisecond {
		t.Errorf("Duration() = %v, want just under 2.5s", d)
	}
}

func TestNewScheduleErrors(t *testing.T) {
	ok := results.Stage{FromRPS: 10, ToRPS: 10, Seconds: 1}
	tests := []struct {
		name    string
		stages  []results.Stage
		wantErr string
	}{
		{"no stages", nil, "no request"},
		{"zero seconds", []results.Stage{{FromRPS: 10, ToRPS: 10, Seconds: 0}}, "stage 1"},
		{"negative seconds", []results.Stage{{FromRPS: 10, ToRPS: 10, Seconds: -1}}, "stage 1"},
		{"zero rates", []results.Stage{{FromRPS: 0, ToRPS: 0, Seconds: 1}}, "stage 1"},
		{"negative from", []results.Stage{{FromRPS: -10, ToRPS: 10, Seconds: 1}}, "stage 1"},
		{"negative to", []results.Stage{{FromRPS: 10, ToRPS: -10, Seconds: 1}}, "stage 1"},
		{"bad second stage", []results.Stage{ok, {FromRPS: 10, ToRPS: 10, Seconds: 0}}, "stage 2"},
		{"rounds to no request", []results.Stage{{FromRPS: 0.1, ToRPS: 0.1, Seconds: 1}}, "no request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSchedule(tt.stages)
			if err == nil {
				t.Fatalf("NewSchedule(%+v) = %d offsets, want an error", tt.stages, len(s))
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", err, tt.wantErr)
			}
			if s != nil {
				t.Errorf("schedule = %v, want nil on error", s)
			}
		})
	}
}

func TestNewScheduleRampFromZero(t *testing.T) {
	// A ramp may start (or end) at 0 as long as one end is positive.
	s, err := NewSchedule([]results.Stage{{FromRPS: 0, ToRPS: 200, Seconds: 1}})
	if err != nil {
		t.Fatalf("NewSchedule: %v", err)
	}
	if got, want := len(s), 100; got != want {
		t.Fatalf("len = %d, want %d", got, want)
	}
	if s[0] != 0 {
		t.Errorf("first offset = %v, want 0", s[0])
	}
	// k-th arrival of rate 200·t is at sqrt(k/100).
	for _, k := range []int{1, 25, 99} {
		if want := math.Sqrt(float64(k) / 100); !near(s[k], want) {
			t.Errorf("s[%d] = %v, want %v", k, s[k], time.Duration(want*float64(time.Second)))
		}
	}
}

func TestScheduleDuration(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		want time.Duration
	}{
		{"nil", nil, 0},
		{"empty", Schedule{}, 0},
		{"one", Schedule{0}, 0},
		{"several", Schedule{0, time.Millisecond, 3 * time.Second}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Duration(); got != tt.want {
				t.Errorf("Duration() = %v, want %v", got, tt.want)
			}
		})
	}
}
