package load

import "testing"

func TestAnswered(t *testing.T) {
	tests := []struct {
		name     string
		outcomes map[string]int64
		want     int64
	}{
		{"every status counts", map[string]int64{"accepted": 10, "sold_out": 80, "rate_limited": 5, "unavailable": 2, "http_error": 3}, 100},
		{"no answer does not", map[string]int64{"accepted": 10, "not_sent": 7, "transport_error": 4}, 10},
		{"nothing", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summary{Outcomes: tt.outcomes}
			if got := s.Answered(); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
