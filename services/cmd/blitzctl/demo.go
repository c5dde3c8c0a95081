package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
)

// demo runs a short, real flash sale: it creates a sale through the admin
// API, releases a crowd of distinct buyers at it at once, and prints what
// happened, read back from the API — nothing is canned.
func demo(args []string) error {
	cfg, err := demoFlags(args)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.conc}}
	sale := fmt.Sprintf("demo-%d", time.Now().Unix())
	if err := createDemoSale(client, cfg, sale); err != nil {
		return err
	}
	fmt.Printf("Sale %q: %d units, %d buyers, %d in flight at once\n", sale, cfg.stock, cfg.buyers, cfg.conc)
	tokens, err := buyerTokens(cfg.secret, cfg.buyers)
	if err != nil {
		return err
	}
	start := time.Now()
	results := fireBuyers(client, cfg, sale, tokens)
	elapsed := time.Since(start)
	t := tallyBuyers(results)
	t.print(elapsed)
	violated, err := checkSale(client, cfg, sale, t.accepted())
	if err != nil {
		return err
	}
	printTrace(t.traces, start)
	if violated {
		return fmt.Errorf("invariant violated")
	}
	return nil
}

// demoConfig is a demo's flags and the stack it talks to.
type demoConfig struct {
	buyers, conc       int
	stock              int64
	api, secret, admin string
}

func demoFlags(args []string) (demoConfig, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	buyers := fs.Int("buyers", 2000, "distinct buyers, one order each")
	stock := fs.Int64("stock", 100, "units on sale")
	conc := fs.Int("concurrency", 200, "requests in flight at once")
	if err := fs.Parse(args); err != nil {
		return demoConfig{}, err
	}
	cfg := demoConfig{buyers: *buyers, stock: *stock, conc: *conc,
		api: os.Getenv("BLITZBUY_API_URL"), secret: os.Getenv("BLITZBUY_JWT_SECRET"), admin: os.Getenv("BLITZBUY_ADMIN_TOKEN")}
	if cfg.api == "" || cfg.secret == "" || cfg.admin == "" {
		return demoConfig{}, fmt.Errorf("BLITZBUY_API_URL, BLITZBUY_JWT_SECRET and BLITZBUY_ADMIN_TOKEN must be set (source .local/env)")
	}
	return cfg, nil
}

// createDemoSale puts the sale through the admin API: one unit per buyer.
func createDemoSale(client *http.Client, cfg demoConfig, sale string) error {
	body, _ := json.Marshal(map[string]any{"name": "Demo phone", "stock": cfg.stock, "per_user_limit": 1})
	if status, b, _, err := call(client, "PUT", cfg.api+"/v1/admin/sales/"+sale, cfg.admin, nil, body); err != nil || status != http.StatusCreated {
		return fmt.Errorf("create sale: status %d %s %v", status, b, err)
	}
	return nil
}

// buyerTokens signs one user JWT per buyer before the crowd is released, so
// signing does not slow the rush.
func buyerTokens(secret string, buyers int) ([]string, error) {
	tokens := make([]string, buyers)
	for i := range tokens {
		t, err := httpapi.SignUserToken([]byte(secret), fmt.Sprintf("demo-user-%d", i), 10*time.Minute)
		if err != nil {
			return nil, err
		}
		tokens[i] = t
	}
	return tokens, nil
}

// buyerResult is what one buyer's order got.
type buyerResult struct {
	status  int
	code    string
	latency time.Duration
	trace   string
}

// fireBuyers sends every buyer's order, cfg.conc at a time, and returns the
// answers in buyer order.
func fireBuyers(client *http.Client, cfg demoConfig, sale string, tokens []string) []buyerResult {
	results := make([]buyerResult, len(tokens))
	sem := make(chan struct{}, cfg.conc)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = buy(client, cfg.api, sale, tokens[i], i)
		}()
	}
	wg.Wait()
	return results
}

// buy sends buyer i's order and classifies the answer: an accepted order's
// trace, a rejection's problem code.
func buy(client *http.Client, api, sale, token string, i int) buyerResult {
	t0 := time.Now()
	status, b, h, err := call(client, "POST", api+"/v1/sales/"+sale+"/orders", token,
		map[string]string{"Idempotency-Key": fmt.Sprintf("demo-%d", i)}, nil)
	r := buyerResult{status: status, latency: time.Since(t0)}
	if err != nil {
		r.code = "transport error"
	} else if status != http.StatusAccepted {
		var p httpapi.Problem
		_ = json.Unmarshal(b, &p)
		r.code = string(p.Code)
	} else {
		r.trace = h.Get("traceresponse")
	}
	return r
}

// tally is the crowd's answers counted: per "status code", the sorted
// latencies and the trace ids of the accepted orders that were sampled.
type tally struct {
	requests int
	outcomes map[string]int
	lat      []time.Duration
	traces   map[string]bool
}

func tallyBuyers(results []buyerResult) tally {
	t := tally{requests: len(results), outcomes: map[string]int{}, lat: make([]time.Duration, 0, len(results)), traces: map[string]bool{}}
	for _, r := range results {
		key := fmt.Sprintf("%d %s", r.status, r.code)
		t.outcomes[strings.TrimSpace(key)]++
		t.lat = append(t.lat, r.latency)
		if id, err := parseTraceID(r.trace); err == nil && strings.HasSuffix(r.trace, "-01") {
			t.traces[id] = true
		}
	}
	sort.Slice(t.lat, func(i, j int) bool { return t.lat[i] < t.lat[j] })
	return t
}

func (t tally) accepted() int64 { return int64(t.outcomes["202"]) }

// print reports the rush: throughput, the answers by kind, the latencies.
func (t tally) print(elapsed time.Duration) {
	pct := func(p float64) time.Duration { return t.lat[int(p*float64(len(t.lat)-1))] }
	fmt.Printf("\n%d requests in %s (%.0f req/s)\n", t.requests, elapsed.Round(time.Millisecond), float64(t.requests)/elapsed.Seconds())
	keys := make([]string, 0, len(t.outcomes))
	for k := range t.outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %-28s %6d\n", k, t.outcomes[k])
	}
	fmt.Printf("latency  p50 %s  p95 %s  p99 %s  max %s\n", pct(0.50).Round(time.Microsecond),
		pct(0.95).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), t.lat[len(t.lat)-1].Round(time.Microsecond))
}

// checkSale reads the sale's counters back from the API and checks them
// against the 202s (no oversell); with BLITZBUY_POSTGRES_URL set it also
// waits for the writer and checks what it persisted. It prints each verdict
// and reports whether any invariant was violated.
func checkSale(client *http.Client, cfg demoConfig, sale string, accepted int64) (violated bool, err error) {
	status, b, _, err := call(client, "GET", cfg.api+"/v1/admin/sales/"+sale, cfg.admin, nil, nil)
	if err != nil || status != http.StatusOK {
		return false, fmt.Errorf("read counters: %d %v", status, err)
	}
	var c struct {
		Stock, Remaining, Sold, Pending, Buyers int64
	}
	_ = json.Unmarshal(b, &c)
	fmt.Printf("\nsale counters (from the API): stock %d, remaining %d, sold %d, pending publish %d\n", c.Stock, c.Remaining, c.Sold, c.Pending)
	verdict := "OK: no oversell (accepted == sold <= stock)"
	if accepted != c.Sold || c.Sold > c.Stock || c.Remaining < 0 {
		verdict, violated = "VIOLATION: accepted orders and stock disagree", true
	}
	fmt.Println(verdict)
	if url := os.Getenv("BLITZBUY_POSTGRES_URL"); url != "" {
		if err := waitPersisted(url, sale, accepted, c.Remaining, c.Stock); err != nil {
			fmt.Println("VIOLATION: " + err.Error())
			violated = true
		}
	}
	return violated, nil
}

// printTrace ends the demo with one accepted order's trace as a terminal
// waterfall: HTTP, Redis, the produce, the writer's consume and its
// PostgreSQL batch in one tree. The order is persisted asynchronously and
// both services export spans in batches, so it waits (up to 20 s) for a
// trace that holds the writer's side. Jaeger's own page for it would show
// nothing (the Jaeger built here has no UI), so it names the command and
// the JSON API instead. A Jaeger problem is reported, not a demo failure.
func printTrace(traces map[string]bool, since time.Time) {
	if len(traces) == 0 {
		fmt.Println("\nno accepted order was sampled (OTEL_TRACES_SAMPLER): no trace to show")
		return
	}
	base := jaegerBase("")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id, err := writtenTrace(ctx, http.DefaultClient, base, traces, since)
	if err != nil {
		fmt.Printf("\nno accepted order's trace reached %s with the writer's spans within 20 s: %v\n", base, err)
		return
	}
	tr, err := fetchJaegerTrace(ctx, http.DefaultClient, base, id)
	if err != nil {
		fmt.Printf("\ntrace %s: %v\n", id, err)
		return
	}
	fmt.Println("\none accepted order's trace, from the HTTP request to its PostgreSQL row:")
	for _, l := range renderWaterfall(tr, renderOptions{width: 40, ascii: !utf8Locale(), maxLinks: 3}) {
		fmt.Println("  " + l)
	}
	fmt.Printf("again: go run ./services/cmd/blitzctl trace %s\n", id)
	fmt.Printf("JSON:  %s/api/traces/%s\n", base, id)
}

func call(c *http.Client, method, url, bearer string, headers map[string]string, body []byte) (int, []byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// waitPersisted waits for the writer to persist every accepted order, then
// checks I2 (every 202 persisted once) and I5 (remaining + persisted = stock).
func waitPersisted(url, sale string, accepted, remaining, stock int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	store := pgstore.New(pool)
	t0 := time.Now()
	var rows, units int64
	for {
		rows, units, err = store.Persisted(ctx, sale)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if rows >= accepted || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Printf("persisted by order-writer: %d orders, %d units, %s after the last answer\n", rows, units, time.Since(t0).Round(time.Millisecond))
	if rows != accepted {
		return fmt.Errorf("%d orders answered 202 but %d persisted", accepted, rows)
	}
	if remaining+units != stock {
		return fmt.Errorf("remaining %d + persisted %d != stock %d", remaining, units, stock)
	}
	fmt.Println("OK: every 202 persisted exactly once; remaining + persisted = stock")
	return nil
}
