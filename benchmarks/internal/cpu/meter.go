package cpu

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// The processes measured, as results.json names them.
const (
	OrderAPI    = "order-api"
	OrderWriter = "order-writer"
	Redis       = "redis"
	Kafka       = "kafka"
	Postgres    = "postgres"
	Jaeger      = "jaeger"
	Prometheus  = "prometheus"
	// LoadBalancer is HAProxy, in front of the APIs in the cluster profile.
	LoadBalancer = "haproxy"
	// Generator is blitzbench itself: the load, and the sampler that polls
	// PostgreSQL and Kafka once a second during it.
	Generator = "generator"
)

// Names lists the processes in the order tables and charts show them: the
// request path first, then what serves it, then the observers.
var Names = []string{LoadBalancer, OrderAPI, OrderWriter, Redis, Kafka, Postgres, Jaeger, Prometheus, Generator}

// pidFiles are each stack process's pid files under the stack's run
// directory, as globs (the NAME of infra/local/lib.sh's `spawn NAME`;
// postgres.pid is the postmaster's pid, copied from postmaster.pid by
// stack.sh). The cluster profile runs several processes of one kind
// (orderapi-1, orderapi-2, redis-1…, sentinel-1…, kafka-1…): a process's
// time is the sum over all of them.
var pidFiles = map[string][]string{
	LoadBalancer: {"haproxy.pid"},
	OrderAPI:     {"orderapi.pid", "orderapi-*.pid"},
	OrderWriter:  {"orderwriter.pid", "orderwriter-*.pid"},
	Redis:        {"redis.pid", "redis-*.pid", "sentinel-*.pid"},
	Kafka:        {"kafka.pid", "kafka-*.pid"},
	Postgres:     {"postgres.pid"},
	Jaeger:       {"jaeger.pid"},
	Prometheus:   {"prometheus.pid"},
}

// pids reads the pid files of name; none is an error.
func (m *Meter) pids(name string) ([]int, error) {
	var pids []int
	for _, g := range pidFiles[name] {
		files, _ := filepath.Glob(filepath.Join(m.runDir, g))
		for _, f := range files {
			pid, err := readPID(f)
			if err != nil {
				return nil, err
			}
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("no pid file %s in %s", strings.Join(pidFiles[name], " or "), m.runDir)
	}
	return pids, nil
}

// Meter measures the processes of one stack across many scenarios.
type Meter struct {
	runDir string // the stack's .local/run
	proc   string // /proc
	self   int
	warn   func(format string, args ...any)
	warned map[string]bool
}

// NewMeter measures the stack whose pid files are in runDir and this
// process. warn is told, once per process, why one is not measured.
func NewMeter(runDir string, warn func(format string, args ...any)) *Meter {
	return &Meter{runDir: runDir, proc: "/proc", self: os.Getpid(), warn: warn, warned: map[string]bool{}}
}

// root is one measured process tree at the start of a span.
type root struct {
	pid   int
	start uint64 // the root's start time: a restarted process is not the same
	ticks uint64
}

// Span is a measurement in progress.
type Span struct {
	m     *Meter
	roots map[string][]root
}

// Start reads the pid files and takes the first snapshot. The pid files are
// read at every Start, so a stack restarted between scenarios is followed.
func (m *Meter) Start() *Span {
	sp := &Span{m: m, roots: map[string][]root{}}
	t, err := Scan(m.proc)
	if err != nil {
		m.once("cpu", "CPU by process not measured: %v", err)
		return sp
	}
names:
	for _, name := range Names {
		pids := []int{m.self}
		if name != Generator {
			if pids, err = m.pids(name); err != nil {
				if name != LoadBalancer { // only the cluster profile has one
					m.once(name, "CPU of %s not measured: %v", name, err)
				}
				continue
			}
		}
		roots := make([]root, 0, len(pids))
		for _, pid := range pids {
			s, ok := t[pid]
			if !ok {
				m.once(name, "CPU of %s not measured: pid %d is not running", name, pid)
				continue names
			}
			roots = append(roots, root{pid: pid, start: s.Start, ticks: t.TreeTicks(pid)})
		}
		sp.roots[name] = roots
	}
	return sp
}

// Stop takes the second snapshot and returns the CPU seconds of each
// process tree between the two. A process absent at either end, or
// restarted in between, is absent from the map: its time is unknown, not 0.
func (sp *Span) Stop() map[string]float64 {
	secs := map[string]float64{}
	if len(sp.roots) == 0 {
		return secs
	}
	t, err := Scan(sp.m.proc)
	if err != nil {
		sp.m.once("cpu", "CPU by process not measured: %v", err)
		return secs
	}
roots:
	for name, rs := range sp.roots {
		var sum float64
		for _, r := range rs {
			s, ok := t[r.pid]
			if !ok || s.Start != r.start {
				sp.m.once(name, "CPU of %s not measured: pid %d exited or was replaced during a scenario", name, r.pid)
				continue roots
			}
			// A descendant that exits unreaped by the tree takes its time with
			// it (see TreeTicks), which can make the sum go down: not below 0.
			sum += max(0, float64(t.TreeTicks(r.pid))-float64(r.ticks))
		}
		secs[name] = sum / ticksPerSecond
	}
	return secs
}

func (m *Meter) once(key, format string, args ...any) {
	if m.warned[key] || m.warn == nil {
		return
	}
	m.warned[key] = true
	m.warn(format, args...)
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: %q is not a pid", path, strings.TrimSpace(string(b)))
	}
	return pid, nil
}

// Report is results.json's cpu object: the seconds by process and, per
// request answered, the microseconds. Without an answer there is no
// per-request figure, only the seconds.
func Report(secs map[string]float64, answered int64) *results.CPU {
	c := &results.CPU{Seconds: map[string]float64{}, USPerRequest: map[string]float64{}, Requests: answered}
	for name, s := range secs {
		c.Seconds[name] = math.Round(s*1000) / 1000
		if answered > 0 {
			c.USPerRequest[name] = math.Round(s*1e6/float64(answered)*10) / 10
		}
	}
	return c
}

// Add folds the repetition b into the total a (the gate's scenarios): the
// seconds and the requests add up, so the per-request figure is the
// repetitions' weighted mean. A process only counts if every repetition
// measured it, or its seconds would be divided by requests it did not see.
func Add(a, b *results.CPU) *results.CPU {
	if b == nil {
		return a
	}
	if a == nil {
		return Report(b.Seconds, b.Requests)
	}
	secs := map[string]float64{}
	for name, s := range a.Seconds {
		if t, ok := b.Seconds[name]; ok {
			secs[name] = s + t
		}
	}
	return Report(secs, a.Requests+b.Requests)
}
