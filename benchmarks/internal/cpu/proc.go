// Package cpu measures where the CPU goes during a scenario: the CPU time of
// each stack process (found from the stack's own pid files, never by a name
// match) and of the generator itself, read from /proc before and after the
// load, divided by the requests answered.
package cpu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ticksPerSecond is USER_HZ, the unit of the times in /proc/<pid>/stat. The
// kernel reports them in USER_HZ, not its own HZ, and USER_HZ is 100 on
// every architecture Go supports on Linux (what `getconf CLK_TCK` prints);
// reading it properly needs sysconf, that is cgo, for a constant.
const ticksPerSecond = 100

// Stat is what blitzbench needs of one /proc/<pid>/stat line.
type Stat struct {
	PID, PPID int
	Comm      string
	// UTime and STime are the process's own user and system CPU (all its
	// threads, live and exited); CUTime and CSTime those of the children it
	// has waited for. All four are in clock ticks.
	UTime, STime, CUTime, CSTime uint64
	// Start is when the process started, in ticks since boot: with the pid
	// it tells a process from a later one that reused the pid.
	Start uint64
}

// Ticks is the process's own CPU time plus that of its reaped children.
func (s Stat) Ticks() uint64 { return s.UTime + s.STime + s.CUTime + s.CSTime }

// ParseStat reads a /proc/<pid>/stat line. The command name is in
// parentheses and may itself contain spaces and ')', so the fields are
// counted from the last ')'.
func ParseStat(line string) (Stat, error) {
	var s Stat
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return s, fmt.Errorf("stat %q: no (comm)", trim(line))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return s, fmt.Errorf("stat %q: pid: %w", trim(line), err)
	}
	s.PID, s.Comm = pid, line[open+1:end]
	// rest[0] is field 3 (state): field n is rest[n-3].
	rest := strings.Fields(line[end+1:])
	if len(rest) < 22-2 {
		return s, fmt.Errorf("stat %q: %d fields after comm, want at least 20", trim(line), len(rest))
	}
	field := func(n int) (uint64, error) {
		v, err := strconv.ParseUint(rest[n-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat %q: field %d: %w", trim(line), n, err)
		}
		return v, nil
	}
	ppid, err := field(4)
	if err != nil {
		return s, err
	}
	s.PPID = int(ppid)
	for _, f := range []struct {
		n   int
		dst *uint64
	}{{14, &s.UTime}, {15, &s.STime}, {16, &s.CUTime}, {17, &s.CSTime}, {22, &s.Start}} {
		if *f.dst, err = field(f.n); err != nil {
			return s, err
		}
	}
	return s, nil
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return strings.TrimSpace(s)
}

// Table is every process of one scan of /proc, by pid.
type Table map[int]Stat

// Scan reads the stat of every process under procDir (/proc). A process
// that exits while it is read is simply not in the table.
func Scan(procDir string) (Table, error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	t := make(Table, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procDir, e.Name(), "stat"))
		if err != nil {
			continue // gone since ReadDir
		}
		s, err := ParseStat(string(b))
		if err != nil {
			return nil, fmt.Errorf("cpu: %s: %w", e.Name(), err)
		}
		t[pid] = s
	}
	if len(t) == 0 {
		return nil, errors.New("cpu: no process under " + procDir)
	}
	return t, nil
}

// Tree is root and every live descendant of it, root first.
func (t Table) Tree(root int) []int {
	if _, ok := t[root]; !ok {
		return nil
	}
	children := map[int][]int{}
	for pid, s := range t {
		children[s.PPID] = append(children[s.PPID], pid)
	}
	tree := []int{root}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	return tree
}

// TreeTicks is the CPU time of root's tree: for every live process in it,
// its own time plus that of the children it reaped. That counts each
// process once: a live child's time is not in its parent's cutime until the
// parent waits for it, and then the child is no longer in the tree. So
// PostgreSQL's backends of short connections, which the postmaster reaps,
// are counted (a zombie, not yet reaped, still shows its own time). What is
// lost is a process that exits after its parent did and is reaped outside
// the tree, by init.
func (t Table) TreeTicks(root int) uint64 {
	var sum uint64
	for _, pid := range t.Tree(root) {
		sum += t[pid].Ticks()
	}
	return sum
}
