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
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	buyers := fs.Int("buyers", 2000, "distinct buyers, one order each")
	stock := fs.Int64("stock", 100, "units on sale")
	conc := fs.Int("concurrency", 200, "requests in flight at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	api, secret, admin := os.Getenv("BLITZBUY_API_URL"), os.Getenv("BLITZBUY_JWT_SECRET"), os.Getenv("BLITZBUY_ADMIN_TOKEN")
	if api == "" || secret == "" || admin == "" {
		return fmt.Errorf("BLITZBUY_API_URL, BLITZBUY_JWT_SECRET and BLITZBUY_ADMIN_TOKEN must be set (source .local/env)")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc}}
	sale := fmt.Sprintf("demo-%d", time.Now().Unix())

	body, _ := json.Marshal(map[string]any{"name": "Demo phone", "stock": *stock, "per_user_limit": 1})
	if status, b, _, err := call(client, "PUT", api+"/v1/admin/sales/"+sale, admin, nil, body); err != nil || status != http.StatusCreated {
		return fmt.Errorf("create sale: status %d %s %v", status, b, err)
	}
	fmt.Printf("Sale %q: %d units, %d buyers, %d in flight at once\n", sale, *stock, *buyers, *conc)

	tokens := make([]string, *buyers)
	for i := range tokens {
		t, err := httpapi.SignUserToken([]byte(secret), fmt.Sprintf("demo-user-%d", i), 10*time.Minute)
		if err != nil {
			return err
		}
		tokens[i] = t
	}
	type result struct {
		status  int
		code    string
		latency time.Duration
		trace   string
	}
	results := make([]result, *buyers)
	sem := make(chan struct{}, *conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range tokens {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t0 := time.Now()
			status, b, h, err := call(client, "POST", api+"/v1/sales/"+sale+"/orders", tokens[i],
				map[string]string{"Idempotency-Key": fmt.Sprintf("demo-%d", i)}, nil)
			r := result{status: status, latency: time.Since(t0)}
			if err != nil {
				r.code = "transport error"
			} else if status != http.StatusAccepted {
				var p httpapi.Problem
				_ = json.Unmarshal(b, &p)
				r.code = string(p.Code)
			} else {
				r.trace = h.Get("traceresponse")
			}
			results[i] = r
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	outcomes := map[string]int{}
	lat := make([]time.Duration, 0, len(results))
	var trace string
	for _, r := range results {
		key := fmt.Sprintf("%d %s", r.status, r.code)
		outcomes[strings.TrimSpace(key)]++
		lat = append(lat, r.latency)
		if trace == "" && r.trace != "" {
			trace = r.trace
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Printf("\n%d requests in %s (%.0f req/s)\n", len(results), elapsed.Round(time.Millisecond), float64(len(results))/elapsed.Seconds())
	keys := make([]string, 0, len(outcomes))
	for k := range outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %-28s %6d\n", k, outcomes[k])
	}
	fmt.Printf("latency  p50 %s  p95 %s  p99 %s  max %s\n", pct(0.50).Round(time.Microsecond),
		pct(0.95).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))

	status, b, _, err := call(client, "GET", api+"/v1/admin/sales/"+sale, admin, nil, nil)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("read counters: %d %v", status, err)
	}
	var c struct {
		Stock, Remaining, Sold, Pending, Buyers int64
	}
	_ = json.Unmarshal(b, &c)
	fmt.Printf("\nsale counters (from the API): stock %d, remaining %d, sold %d, pending publish %d\n", c.Stock, c.Remaining, c.Sold, c.Pending)
	accepted := int64(outcomes["202"])
	verdict := "OK: no oversell (accepted == sold <= stock)"
	if accepted != c.Sold || c.Sold > c.Stock || c.Remaining < 0 {
		verdict = "VIOLATION: accepted orders and stock disagree"
	}
	fmt.Println(verdict)
	if url := os.Getenv("BLITZBUY_POSTGRES_URL"); url != "" {
		if err := waitPersisted(url, sale, accepted, c.Remaining, c.Stock); err != nil {
			verdict = "VIOLATION: " + err.Error()
			fmt.Println(verdict)
		}
	}
	if trace != "" {
		parts := strings.Split(trace, "-")
		if len(parts) == 4 {
			fmt.Printf("\none accepted order's trace: %s/trace/%s\n", strings.TrimRight(os.Getenv("BLITZBUY_JAEGER_URL"), "/"), parts[1])
		}
	}
	if strings.HasPrefix(verdict, "VIOLATION") {
		return fmt.Errorf("invariant violated")
	}
	return nil
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
