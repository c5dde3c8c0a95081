package scenarios

import (
	"testing"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
)

func TestValidateRejectsNegativeRamp(t *testing.T) {
	for _, st := range []Stage{{From: -100, To: 100, Seconds: 1}, {From: 100, To: -100, Seconds: 1}} {
		s := &Scenario{Name: "t", Version: 1, Sale: Sale{Stock: 1, PerUserLimit: 1}, Load: []Stage{st},
			Traffic: Traffic{Quantity: 1}, Expect: []string{"accepted"}}
		err := s.Validate(knownOutcome)
		stages, _ := s.Stages(0)
		_, serr := load.NewSchedule(stages)
		if err == nil {
			t.Errorf("Validate(%+v) = nil, want an error (NewSchedule says: %v)", st, serr)
		}
	}
}
