package main

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// The drill for the outbox: order-api is SIGKILLed between reserving an
// order and publishing it (BLITZBUY_TEST_CRASH_AFTER_RESERVE in a binary built
// with -tags crashdrill, drill_crash.go), so the buyer
// never hears back and the reservation is stranded in the outbox. Another
// order-api replica's relay must publish it within its threshold, and that
// replica must shut down gracefully on SIGTERM.
func TestCrashBetweenReserveAndAckIsRelayed(t *testing.T) {
	env := stacktest.Load(t)
	bin := proc.Build(t, ".", filepath.Join(t.TempDir(), "orderapi"), ".", "-tags", "crashdrill")
	// The drill uses its own Redis database: replica B's relay publishes every
	// stranded order it finds, and other packages' tests run beside this one.
	const redisDB = 1
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}, SelectDB: redisDB})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	store, err := reservation.New(rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sale := "crash-" + testkit.RandHex(4)
	if _, err := store.UpsertSale(ctx, order.SaleSpec{ID: sale, Name: "crash drill", Stock: 10, PerUserLimit: 1,
		StartsAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	defer rdb.Do(ctx, rdb.B().Srem().Key(ledgerkeys.SalesIndex).Member(sale).Build())
	tail := stacktest.NewTail(t, env, "orders")
	secret, admin := testkit.RandHex(32), testkit.RandHex(16)

	// Replica A dies right after its first reservation.
	a := startAPI(t, bin, env, secret, admin, "BLITZBUY_TEST_CRASH_AFTER_RESERVE=true")
	tok, _ := httpapi.SignUserToken([]byte(secret), "victim", time.Hour)
	req, _ := http.NewRequest("POST", a.url+"/v1/sales/"+sale+"/orders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Idempotency-Key", "crash-1")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("order answered %d; the process should have died before answering", resp.StatusCode)
	}
	err = a.Wait(10 * time.Second)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("replica A ended with %v, want death by SIGKILL", err)
	}
	stranded, err := store.Stale(ctx, sale, time.Now().Add(time.Hour), 10)
	if err != nil || len(stranded) != 1 {
		t.Fatalf("outbox after the crash: %v (err %v), want exactly one stranded order", stranded, err)
	}
	id := stranded[0]

	// Replica B's relay publishes it once it is older than the threshold.
	const threshold = 2 * time.Second
	b := startAPI(t, bin, env, secret, admin, "BLITZBUY_RELAY_THRESHOLD="+threshold.String(),
		"BLITZBUY_RELAY_INTERVAL=200ms", "BLITZBUY_PUBLISH_TIMEOUT=1s")
	start := time.Now()
	var got *order.OrderPlaced
	tail.Read(t, 30*time.Second, func(r *kgo.Record) {
		if e, err := order.DecodeOrderPlaced(r.Value); err == nil && e.OrderID == id {
			got = &e
		}
	}, func() bool { return got != nil })
	if got == nil {
		t.Fatalf("stranded order %s was not published within 30 s", id)
	}
	t.Logf("relayed %s %s after replica B started (threshold %s)", id, time.Since(start).Round(10*time.Millisecond), threshold)
	if got.UserID != "victim" || got.IdempotencyKey != "crash-1" || got.Quantity != 1 || got.SaleID != sale {
		t.Errorf("relayed event %+v does not match the reservation", got)
	}
	if waited := time.Since(start); waited > threshold+10*time.Second {
		t.Errorf("relayed after %s, want within the threshold (%s) plus a few scan intervals", waited, threshold)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := store.Counters(ctx, sale, time.Now())
		if err == nil && c.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d after the relay published (err %v)", c.Pending, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Graceful shutdown: SIGTERM drains and exits 0.
	if err := b.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(20 * time.Second); err != nil {
		t.Errorf("replica B after SIGTERM: %v, want a clean exit", err)
	}
}

type apiProc struct {
	*proc.Process
	url string
}

func startAPI(t *testing.T, bin string, env stacktest.Env, secret, admin string, extra ...string) *apiProc {
	t.Helper()
	httpAddr, metricsAddr := proc.FreeAddr(t), proc.FreeAddr(t)
	p := proc.Start(t, bin, append([]string{
		"BLITZBUY_HTTP_ADDR=" + httpAddr, "BLITZBUY_METRICS_ADDR=" + metricsAddr,
		"BLITZBUY_REDIS_ADDR=" + env.RedisAddr, "BLITZBUY_REDIS_DB=1", "BLITZBUY_KAFKA_BROKERS=" + strings.Join(env.KafkaBrokers, ","),
		"BLITZBUY_JWT_SECRET=" + secret, "BLITZBUY_ADMIN_TOKEN=" + admin, "BLITZBUY_LOG_LEVEL=warn",
		"OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=",
	}, extra...)...)
	a := &apiProc{Process: p, url: "http://" + httpAddr}
	proc.WaitReady(t, a.url+"/readyz", 20*time.Second)
	return a
}
