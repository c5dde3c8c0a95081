package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// blitzctl trace against the real local Jaeger, on a trace this test makes:
// a real order-api and order-writer (built here, on a topic and group of
// their own, 100 % sampling) take an order whose client sends an untrusted
// traceparent; the trace must read HTTP → Redis → produce → consume →
// PostgreSQL as one tree, with the client's span as a link.
func TestTraceCommandOnARealOrder(t *testing.T) {
	env := stacktest.Load(t)
	if env.JaegerURL == "" {
		t.Fatal("BLITZBUY_JAEGER_URL missing from the stack settings")
	}
	api, secret, admin, topic := startOrderServices(t, env)

	sale := "trace-" + testkit.RandHex(4)
	if status, b := adminPut(t, api, admin, sale); status != http.StatusCreated {
		t.Fatalf("create sale: %d %s", status, b)
	}
	// A few buyers at once, so the writer may batch them (the batch span then
	// links the other orders); each client sends a traceparent of its own,
	// which the API (trusting nobody) links instead of continuing.
	type buyer struct{ response, clientTrace, clientSpan string }
	buyers := make([]buyer, 4)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range buyers {
		buyers[i] = buyer{clientTrace: testkit.RandHex(16), clientSpan: testkit.RandHex(8)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := httpapi.SignUserToken([]byte(secret), "tracer-"+testkit.RandHex(4), time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			headers := map[string]string{"Idempotency-Key": testkit.RandHex(8),
				"traceparent": "00-" + buyers[i].clientTrace + "-" + buyers[i].clientSpan + "-01"}
			status, b, h, err := call(http.DefaultClient, "POST", api+"/v1/sales/"+sale+"/orders", tok, headers, nil)
			if err != nil || status != http.StatusAccepted {
				t.Errorf("order %d: %d %s %v", i, status, b, err)
				return
			}
			buyers[i].response = h.Get("traceresponse")
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	ids := map[string]bool{}
	byTrace := map[string]buyer{}
	for _, b := range buyers {
		id, err := parseTraceID(b.response) // the command accepts the traceresponse as is
		if err != nil {
			t.Fatal(err)
		}
		ids[id], byTrace[id] = true, b
	}
	// Only the first order of each batch has the insert in its trace.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id, err := writtenTrace(ctx, http.DefaultClient, env.JaegerURL, ids, start)
	if err != nil {
		t.Fatalf("none of the traces %v reached Jaeger whole: %v", ids, err)
	}
	tr, err := fetchJaegerTrace(ctx, http.DefaultClient, env.JaegerURL, id)
	if err != nil {
		t.Fatal(err)
	}
	me := byTrace[id]
	if os.Getenv("BLITZCTL_TRACE_DUMP") != "" { // how testdata/order-trace.json was taken
		b, _ := json.MarshalIndent(map[string]any{"data": []jaegerTrace{tr}}, "", "  ")
		if err := os.WriteFile(os.Getenv("BLITZCTL_TRACE_DUMP"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The tree, as treeRows orders it.
	type step struct {
		service, op string
		depth       int
	}
	want := []step{
		{"order-api", "POST /v1/sales/{saleID}/orders", 0},
		{"order-api", "reserve", 1},
		{"order-api", "EVALSHA", 2},
		{"order-api", topic + " publish", 1},
		{"order-writer", topic + " receive", 2},
		{"order-writer", topic + " process", 3},
		{"order-writer", "orders batch insert", 4},
	}
	rows := treeRows(tr)
	at := 0
	for _, r := range rows {
		if at < len(want) && r.service == want[at].service && r.span.OperationName == want[at].op {
			if r.depth != want[at].depth {
				t.Errorf("%s %q at depth %d, want %d", r.service, r.span.OperationName, r.depth, want[at].depth)
			}
			at++
		}
	}
	if at < len(want) {
		t.Errorf("the waterfall lacks %+v (in that order); it has:\n%s", want[at:], strings.Join(renderWaterfall(tr, renderOptions{width: 40}), "\n"))
	}
	pg := false
	for i, r := range rows {
		if r.span.OperationName == "orders batch insert" {
			for _, c := range rows[i+1:] {
				if c.depth <= r.depth {
					break
				}
				pg = pg || c.depth == r.depth+1 && strings.Contains(tagValue(c.span, "db.query.text"), "INSERT INTO orders")
			}
		}
	}
	if !pg {
		t.Errorf("no PostgreSQL INSERT span under the batch insert")
	}

	// What the command prints: attributes and the client's link.
	var out bytes.Buffer
	if err := traceCmd([]string{"--jaeger", env.JaegerURL, "--ascii", me.response}, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, w := range []string{
		"trace " + id + ":",
		"status=202",
		"-> link to " + me.clientTrace + "/" + me.clientSpan,
		"redis",
		"topic=" + topic + "  partition=0  offset=",
		"group=" + groupOfTopic(topic),
		"postgresql  table=orders  batch=",
		"INSERT INTO orders",
		"sale=" + sale + "  qty=1",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q:\n%s", w, text)
		}
	}
	t.Logf("blitzctl trace %s:\n%s", id, text)
}

func tagValue(sp *jaegerSpan, key string) string {
	for _, t := range sp.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

func groupOfTopic(topic string) string { return "blitzctl-trace-" + topic }

// startOrderServices builds and starts order-writer and order-api exporting
// to the local Jaeger at 100 % sampling, on free ports and an orders topic
// (and DLQ) of their own, so no other writer takes their records. It returns
// the API's URL, its JWT secret and admin token, and the topic.
func startOrderServices(t *testing.T, env stacktest.Env) (api, secret, admin, topic string) {
	t.Helper()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, c := range []string{"orderapi", "orderwriter"} {
		proc.Build(t, root, filepath.Join(bin, c), "./services/cmd/"+c)
	}
	secret, admin, topic = testkit.RandHex(32), testkit.RandHex(16), "orders-trace-"+testkit.RandHex(4)
	ownTopic(t, env, topic, topic+".dlq")
	otlp := os.Getenv("BLITZBUY_OTLP_ENDPOINT")
	if otlp == "" {
		otlp = "http://127.0.0.1:4318"
	}
	httpAddr, writerMetrics := proc.FreeAddr(t), proc.FreeAddr(t)
	common := []string{
		"BLITZBUY_REDIS_ADDR=" + env.RedisAddr, "BLITZBUY_KAFKA_BROKERS=" + strings.Join(env.KafkaBrokers, ","),
		"BLITZBUY_POSTGRES_URL=" + env.PostgresURL, "BLITZBUY_LOG_LEVEL=warn",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlp, "OTEL_TRACES_SAMPLER=parentbased_always_on", "OTEL_BSP_SCHEDULE_DELAY=200",
		"BLITZBUY_ORDERS_TOPIC=" + topic, "BLITZBUY_WRITER_GROUP=" + groupOfTopic(topic),
	}
	proc.Start(t, filepath.Join(bin, "orderwriter"), append(common, "BLITZBUY_METRICS_ADDR="+writerMetrics,
		"BLITZBUY_DLQ_TOPIC="+topic+".dlq", "OTEL_SERVICE_NAME=order-writer")...)
	proc.Start(t, filepath.Join(bin, "orderapi"), append(common, "BLITZBUY_HTTP_ADDR="+httpAddr,
		"BLITZBUY_METRICS_ADDR="+proc.FreeAddr(t), "BLITZBUY_JWT_SECRET="+secret, "BLITZBUY_ADMIN_TOKEN="+admin,
		"BLITZBUY_RATE_LIMIT=0", "OTEL_SERVICE_NAME=order-api",
		// Other tests' deliberately stranded orders are not this relay's to publish.
		"BLITZBUY_RELAY_THRESHOLD=10m")...)
	api = "http://" + httpAddr
	proc.WaitReady(t, api+"/readyz", 30*time.Second)
	proc.WaitReady(t, "http://"+writerMetrics+"/readyz", 60*time.Second)
	return api, secret, admin, topic
}

// ownTopic creates single-partition topics and deletes them, and the
// writer's group, when the test ends.
func ownTopic(t *testing.T, env stacktest.Env, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range topics {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteGroups(ctx, groupOfTopic(topics[0]))
		_, _ = adm.DeleteTopics(ctx, topics...)
	})
}

func adminPut(t *testing.T, api, admin, sale string) (int, []byte) {
	t.Helper()
	status, b, _, err := call(http.DefaultClient, "PUT", api+"/v1/admin/sales/"+sale, admin, nil,
		[]byte(`{"name":"trace","stock":10,"per_user_limit":1}`))
	if err != nil {
		t.Fatal(err)
	}
	return status, b
}
