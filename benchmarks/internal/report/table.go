package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// Table writes a plain-text summary of f for the terminal: one row per
// scenario, then one line per failure ("hot-item: I1 no oversell: …"), the
// calibration ceiling and the overall result.
func Table(w io.Writer, f *results.File) {
	if f == nil {
		fmt.Fprintln(w, "no results")
		return
	}
	nameW := len("SCENARIO")
	for _, s := range f.Scenarios {
		nameW = max(nameW, len([]rune(s.Name)))
	}
	// Numbers read best right-aligned; the name column is padded by hand so
	// that AlignRight leaves it looking left-aligned.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) {
		cells[0] = fmt.Sprintf("%-*s", nameW, cells[0])
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row("SCENARIO", "RESULT", "OFFERED", "ACHIEVED", "CEIL", "ACCEPTED", "P50", "P95", "P99", "ERRORS", "DRAIN", "PERSIST99", "GENCPU")
	passed := 0
	for _, s := range f.Scenarios {
		result := "FAIL"
		if s.Pass {
			result = "PASS"
			passed++
		}
		drain := missing
		if s.Drain != nil {
			drain = fmtSecs(s.Drain.Seconds)
			if s.Drain.TimedOut {
				drain += "!"
			}
		}
		persist := missing
		if s.Persist != nil {
			persist = fmtMs(s.Persist.P99Ms)
		}
		row(ascii(s.Name), result,
			ascii(fmtRPS(s.Load.OfferedRPS)), ascii(fmtRPS(s.Load.AchievedRPS)), ascii(ceilingRatio(s, f.Calibration != nil)), ascii(fmtRPS(s.AcceptedRPS)),
			ascii(fmtMs(s.Latency.P50Ms)), ascii(fmtMs(s.Latency.P95Ms)), ascii(fmtMs(s.Latency.P99Ms)),
			fmtCount(s.Errors), ascii(drain), ascii(persist), ascii(fmtPct(s.Generator.CPUShare)))
	}
	tw.Flush()
	fmt.Fprintln(w, "rates in req/s (CEIL = achieved / calibration ceiling), latencies in ms, DRAIN in s (! = timed out)")
	cpuTable(w, f, nameW)

	for _, s := range f.Scenarios {
		if s.Pass {
			continue
		}
		if len(s.Failures) == 0 {
			fmt.Fprintf(w, "%s: failed, no reason recorded\n", s.Name)
		}
		for _, why := range s.Failures {
			fmt.Fprintf(w, "%s: %s\n", s.Name, why)
		}
	}
	if c := f.Calibration; c != nil {
		fmt.Fprintf(w, "calibration: ceiling %s req/s (%s, %d connections, p50 %s ms, p99 %s ms, generator CPU %s)\n",
			ascii(fmtRPS(c.CeilingRPS)), orDash(c.Server), c.Connections,
			ascii(fmtMs(c.Latency.P50Ms)), ascii(fmtMs(c.Latency.P99Ms)), ascii(fmtPct(c.GeneratorCPUShare)))
	} else {
		fmt.Fprintln(w, "calibration: none (no ceiling to compare with)")
	}
	result := "FAIL"
	if f.Pass {
		result = "PASS"
	}
	fmt.Fprintf(w, "result: %s (%d of %d scenarios passed)\n", result, passed, len(f.Scenarios))
}

// cpuTable writes, under the scenarios, the CPU microseconds each process
// spent per request answered (cpu.us_per_request), one row per scenario in
// the same order; nothing for a file in which no scenario measured it.
func cpuTable(w io.Writer, f *results.File, nameW int) {
	keys := cpuKeys(f)
	if len(keys) == 0 {
		return
	}
	nameW = max(nameW, len(cpuHeader))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) {
		cells[0] = fmt.Sprintf("%-*s", nameW, cells[0])
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	fmt.Fprintln(w)
	row(append(append([]string{cpuHeader}, keys...), "total")...)
	for _, s := range f.Scenarios {
		cells := []string{ascii(s.Name)}
		for _, k := range keys {
			cells = append(cells, ascii(cpuCell(s.CPU, k)))
		}
		row(append(cells, ascii(cpuTotal(s.CPU)))...)
	}
	tw.Flush()
	fmt.Fprintln(w, "CPU us of each process (with its children) per request answered, over the load; - = not measured")
}

const cpuHeader = "CPU us/REQ"

// ascii keeps terminal output plain: the HTML's em dash becomes "-".
func ascii(s string) string { return strings.ReplaceAll(s, missing, "-") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
