package writer_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// The real order-writer binary is SIGKILLed in the middle of a batch stream
// and started again: every event is persisted exactly once (no loss from
// offsets committed too early, no duplicate row from redelivery).
func TestWriterKilledMidBatchLosesNothing(t *testing.T) {
	const n = 50_000
	f := newFixture(t, 12)
	sale, evs := f.events(n)
	bin := buildWriter(t)
	f.produce(evs)

	first := f.startBinary(bin)
	deadline := time.Now().Add(2 * time.Minute)
	for f.rows(sale) == 0 { // kill it once it is writing
		if time.Now().After(deadline) {
			t.Fatal("the writer wrote nothing in 2 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := f.rows(sale)
	t.Logf("SIGKILL with %d of %d rows written", killedAt, n)
	if killedAt == n {
		t.Log("the writer finished before the kill landed; the restart still has to be a no-op")
	}

	second := f.startBinary(bin)
	f.waitRows(sale, n, 3*time.Minute)
	time.Sleep(time.Second) // anything redelivered after the last row must not add one
	if got := f.rows(sale); got != n {
		t.Fatalf("rows %d after restart, want %d", got, n)
	}
	_ = second.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("writer after SIGTERM: %v, want a clean exit", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("writer did not stop within 30 s of SIGTERM")
	}
}

func buildWriter(t *testing.T) string {
	t.Helper()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "orderwriter")
	cmd := exec.Command("go", "build", "-o", bin, "./services/cmd/orderwriter")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func (f *fixture) startBinary(bin string) *exec.Cmd {
	f.t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"BLITZBUY_REDIS_ADDR="+f.env.RedisAddr, "BLITZBUY_KAFKA_BROKERS="+strings.Join(f.env.KafkaBrokers, ","),
		"BLITZBUY_POSTGRES_URL="+f.env.PostgresURL, "BLITZBUY_ORDERS_TOPIC="+f.topic, "BLITZBUY_DLQ_TOPIC="+f.dlq,
		"BLITZBUY_WRITER_GROUP="+f.group, "BLITZBUY_METRICS_ADDR=127.0.0.1:0", "BLITZBUY_LOG_LEVEL=warn",
		"BLITZBUY_WRITER_BATCH_SIZE=2000")
	logf, err := os.Create(filepath.Join(f.t.TempDir(), "orderwriter.log"))
	if err != nil {
		f.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if f.t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			f.t.Logf("order-writer log:\n%s", b)
		}
	})
	return cmd
}
