package cpu

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the processes the tests measure: with
// CPU_TEST_ROLE set it plays that role instead of running the tests.
const roleEnv = "CPU_TEST_ROLE"

// burnFor is how much CPU a burner spends: well above the 10 ms tick.
const burnFor = 300 * time.Millisecond

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "burn": // spend burnFor of CPU, say so, stay alive until stdin closes
		burn()
		fmt.Println("burnt")
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "parent-live", "parent-reap": // on "go", start a burner; relay its word
		in := bufio.NewReader(os.Stdin)
		if _, err := in.ReadString('\n'); err != nil {
			os.Exit(3)
		}
		c := helper("burn")
		w, _ := c.StdinPipe()
		out, _ := c.StdoutPipe()
		if err := c.Start(); err != nil {
			os.Exit(4)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if os.Getenv(roleEnv) == "parent-reap" {
			w.Close()
			_ = c.Wait() // the child's time moves to our cutime
			line = "reaped\n"
		}
		fmt.Printf("%d %s", c.Process.Pid, line)
		_, _ = io.Copy(io.Discard, in)
		w.Close()
		_ = c.Wait()
	}
	os.Exit(0)
}

func helper(role string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), roleEnv+"="+role)
	c.Stderr = os.Stderr
	return c
}

// sink keeps burn's loop from being optimised away.
var sink int

// burn spins until this process has used burnFor of CPU by its own account.
func burn() {
	var ru syscall.Rusage
	for {
		for i := range 1_000_000 {
			sink += i
		}
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		if time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) >= burnFor {
			return
		}
	}
}

func TestParseStat(t *testing.T) {
	tail := " S 1 2 3 0 -1 4194560 100 0 0 0 11 22 33 44 20 0 4 0 5555 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	tests := []struct {
		name, line string
		want       Stat
	}{
		{"plain", "42 (redis-server)" + tail, Stat{PID: 42, PPID: 1, Comm: "redis-server", UTime: 11, STime: 22, CUTime: 33, CSTime: 44, Start: 5555}},
		{"spaces", "7 (postgres: walwriter )" + tail, Stat{PID: 7, PPID: 1, Comm: "postgres: walwriter ", UTime: 11, STime: 22, CUTime: 33, CSTime: 44, Start: 5555}},
		{"parens", "9 (a) (b) 1 2 3)" + tail, Stat{PID: 9, PPID: 1, Comm: "a) (b) 1 2 3", UTime: 11, STime: 22, CUTime: 33, CSTime: 44, Start: 5555}},
		{"empty comm", "10 ()" + tail + "\n", Stat{PID: 10, PPID: 1, UTime: 11, STime: 22, CUTime: 33, CSTime: 44, Start: 5555}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.Ticks() != 110 {
				t.Errorf("Ticks() = %d, want 110", got.Ticks())
			}
		})
	}
}

func TestParseStatRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"42 redis-server S 1",
		"x (a) S 1 2 3 0 -1 0 0 0 0 0 11 22 33 44 20 0 4 0 5555",
		"42 (a) S 1 2 3", // truncated
		"42 (a) S 1 2 3 0 -1 0 0 0 0 0 eleven 22 33 44 20 0 4 0 5555", // not a number
	} {
		if s, err := ParseStat(line); err == nil {
			t.Errorf("ParseStat(%q) = %+v, want an error", line, s)
		}
	}
}

func TestTreeAndTicks(t *testing.T) {
	// 1 ← 10 ← 11 ← 12, 1 ← 20; 30 is 10's sibling under 2.
	tab := Table{
		1:  {PID: 1, UTime: 1000},
		10: {PID: 10, PPID: 1, UTime: 1, STime: 2, CUTime: 3, CSTime: 4},
		11: {PID: 11, PPID: 10, UTime: 10},
		12: {PID: 12, PPID: 11, STime: 100},
		20: {PID: 20, PPID: 1, UTime: 5000},
		30: {PID: 30, PPID: 2, UTime: 7000},
	}
	tests := []struct {
		root      int
		wantTree  []int
		wantTicks uint64
	}{
		{10, []int{10, 11, 12}, 1 + 2 + 3 + 4 + 10 + 100},
		{12, []int{12}, 100},
		{99, nil, 0},
	}
	for _, tt := range tests {
		got := tab.Tree(tt.root)
		slices.Sort(got[min(1, len(got)):])
		if !slices.Equal(got, tt.wantTree) {
			t.Errorf("Tree(%d) = %v, want %v", tt.root, got, tt.wantTree)
		}
		if got := tab.TreeTicks(tt.root); got != tt.wantTicks {
			t.Errorf("TreeTicks(%d) = %d, want %d", tt.root, got, tt.wantTicks)
		}
	}
}

func TestScanSelf(t *testing.T) {
	tab, err := Scan("/proc")
	if err != nil {
		t.Fatal(err)
	}
	s, ok := tab[os.Getpid()]
	if !ok {
		t.Fatalf("no entry for this process (%d) among %d", os.Getpid(), len(tab))
	}
	if s.PPID != os.Getppid() {
		t.Errorf("PPID = %d, want %d", s.PPID, os.Getppid())
	}
	if _, err := Scan(t.TempDir()); err == nil {
		t.Error("Scan of an empty directory: no error")
	}
}

// TestTreeCountsDescendants spawns a parent whose child spends burnFor of
// CPU, and measures the parent's tree across it: the child's time must be
// there while it lives (found by the walk) and after its parent reaped it
// (through the parent's cutime).
func TestTreeCountsDescendants(t *testing.T) {
	for _, role := range []string{"parent-live", "parent-reap"} {
		t.Run(role, func(t *testing.T) {
			parent, in, out := start(t, role)

			before := ticks(t, parent)
			if _, err := io.WriteString(in, "go\n"); err != nil {
				t.Fatal(err)
			}
			var child int
			var word string
			if _, err := fmt.Fscan(out, &child, &word); err != nil {
				t.Fatal(err)
			}
			tab, err := Scan("/proc")
			if err != nil {
				t.Fatal(err)
			}
			tree := tab.Tree(parent)
			if live := role == "parent-live"; slices.Contains(tree, child) != live {
				t.Errorf("%s: child %d in the tree %v = %v, want %v", word, child, tree, !live, live)
			}
			got := time.Duration(tab.TreeTicks(parent)-before) * time.Second / ticksPerSecond
			// The child used burnFor by its own account; the ticks round
			// down to 10 ms on each side.
			if got < burnFor-20*time.Millisecond || got > 5*burnFor {
				t.Errorf("tree of %d used %s across the child's burn, want about %s", parent, got, burnFor)
			}
		})
	}
}

// start starts the test binary in role, stopped when the test ends: its
// pid, its stdin and its stdout.
func start(t *testing.T, role string) (int, io.Writer, *bufio.Reader) {
	t.Helper()
	c := helper(role)
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = c.Wait() })
	return c.Process.Pid, in, bufio.NewReader(out)
}

func ticks(t *testing.T, pid int) uint64 {
	t.Helper()
	tab, err := Scan("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tab[pid]; !ok {
		t.Fatalf("pid %d not in /proc", pid)
	}
	return tab.TreeTicks(pid)
}

// writePID writes a pid file as infra/local/lib.sh's spawn does.
func writePID(t *testing.T, dir, file string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
