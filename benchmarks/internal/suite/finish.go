package suite

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/report"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// Finish writes results.json and report.html to out (default
// .local/bench/<time>), prints the table, and returns ErrFailed unless every
// scenario passed.
func Finish(f *results.File, out string) error {
	f.FinishedAt = time.Now().UTC()
	f.Pass = len(f.Scenarios) > 0
	for _, s := range f.Scenarios {
		f.Pass = f.Pass && s.Pass
	}
	if out == "" {
		out = filepath.Join(".local", "bench", f.StartedAt.Format("20060102-150405"))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := results.Write(filepath.Join(out, "results.json"), f); err != nil {
		return err
	}
	if err := report.WriteFile(filepath.Join(out, "report.html"), f); err != nil {
		return err
	}
	pointLatest(out)
	fmt.Println()
	report.Table(os.Stdout, f)
	searchBests(os.Stdout, f)
	checkoutLines(os.Stdout, f)
	fmt.Printf("\nresults: %s\nreport:  %s\n", filepath.Join(out, "results.json"), filepath.Join(out, "report.html"))
	if !f.Pass {
		fmt.Println("FAIL")
		return ErrFailed
	}
	fmt.Println("PASS")
	return nil
}

// pointLatest makes latest, beside out, point at out: .local/bench/latest is
// always the newest run. A failure only loses the shortcut.
func pointLatest(out string) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return
	}
	latest := filepath.Join(filepath.Dir(abs), "latest")
	if fi, err := os.Lstat(latest); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		_ = os.Remove(latest)
	}
	_ = os.Symlink(filepath.Base(abs), latest)
}

// searchBests prints each search's answer, the figure it exists for, under
// the table: "write-max: best 3,900 req/s (6.7 % of the ceiling, 3,880 accepted/s)
// meeting …".
func searchBests(w io.Writer, f *results.File) {
	for _, s := range f.Scenarios {
		if s.Search == nil {
			continue
		}
		share := ""
		if f.Calibration != nil && f.Calibration.CeilingRPS > 0 {
			share = fmt.Sprintf("%.1f %% of the ceiling, ", 100*s.Search.BestRPS/f.Calibration.CeilingRPS)
		}
		if s.Search.BestRPS > 0 {
			fmt.Fprintf(w, "%s: best %s req/s (%s%s accepted/s) meeting %s\n",
				s.Name, report.Whole(s.Search.BestRPS), share, report.Whole(s.AcceptedRPS), s.Search.Objective)
		} else {
			fmt.Fprintf(w, "%s: no rate tried meets %s\n", s.Name, s.Search.Objective)
		}
	}
}

// checkoutLines prints, under the table, what each checkout window did:
// "checkout: 431 winners: paid 200, expired 137, cancelled 94; 231 units
// resold; expiry lateness p50 104 ms, p99 212 ms, max 230 ms; I6 PASS".
func checkoutLines(w io.Writer, f *results.File) {
	for _, s := range f.Scenarios {
		c := s.Checkout
		if c == nil {
			continue
		}
		i6 := "not checked"
		for _, inv := range s.Invariants {
			if inv.ID == "I6" {
				i6 = "FAIL"
				if inv.Pass {
					i6 = "PASS"
				}
			}
		}
		l := c.ExpiryLateness
		fmt.Fprintf(w, "%s: %d winners: paid %d, expired %d, cancelled %d; %d units resold; %d payments answered order_expired; expiry lateness p50 %s ms, p99 %s ms, max %s ms (%d expiries); %d ledger samples; I6 %s\n",
			s.Name, c.Winners, c.Paid, c.Expired, c.Cancelled, c.ResoldUnits, c.Payments["order_expired"],
			report.Whole(l.P50Ms), report.Whole(l.P99Ms), report.Whole(l.MaxMs), l.Count, c.Samples, i6)
	}
}
