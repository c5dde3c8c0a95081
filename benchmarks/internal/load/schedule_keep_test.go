package load

import (
	"context"
	"testing"
	"time"
)

func TestOpenNeverSendsEarly(t *testing.T) {
	cfg := refTarget(t)
	// Pairs 1 ms apart; the second of a pair follows the first by 1..49 µs,
	// inside the dispatcher's 50 µs no-sleep window.
	sched := make(Schedule, 0, 600)
	for k := range 300 {
		base := time.Duration(k) * time.Millisecond
		sched = append(sched, base, base+time.Duration(1+k%49)*time.Microsecond)
	}
	run, err := Open(context.Background(), cfg, sched, testRequests(len(sched)))
	if err != nil {
		t.Fatal(err)
	}
	early := 0
	for _, r := range run.Results {
		if r.Sent < r.Sched {
			early++
		}
	}
	if early > 0 {
		t.Errorf("%d of %d requests sent before their scheduled time", early, len(sched))
	}
}

func TestOpenCancelledKeepsSchedule(t *testing.T) {
	cfg := refTarget(t)
	sched := make(Schedule, 300)
	for i := range sched {
		sched[i] = time.Duration(i) * 10 * time.Millisecond // 3 s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	run, err := Open(ctx, cfg, sched, testRequests(len(sched)))
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, r := range run.Results {
		if r.Sched != sched[i] {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d results have Sched != sched[i]", bad)
	}
	s := Summarize(run, "open")
	for _, p := range s.Timeline {
		if p.OfferedRPS != 100 {
			t.Errorf("timeline t=%v offered %v, want 100", p.T, p.OfferedRPS)
		}
	}
}
