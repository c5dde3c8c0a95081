package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// Ports of the instances this test starts; observability/prometheus/prometheus.yml
// scrapes them beside the dev instances' 9464/9465.
const (
	apiMetricsAddr    = "127.0.0.1:19464"
	writerMetricsAddr = "127.0.0.1:19465"
)

type system struct {
	env    stacktest.Env
	api    string
	secret string
	admin  string
	topic  string // this system's orders topic
}

// startSystem builds and starts order-writer and order-api, exporting
// traces to the local Jaeger at 100 % sampling. They get an orders topic
// (and DLQ) of their own: no other consumer of `orders` — a dev writer left
// running by `task run`, another test's — can take this system's records and
// leave its trace without the writer's side.
func startSystem(t *testing.T) *system {
	t.Helper()
	return startSystemOn(t, apiMetricsAddr, writerMetricsAddr)
}

// startSystemOn is startSystem with the metrics listeners on other
// addresses (each must be a target of observability/prometheus/prometheus.yml
// for Prometheus to see the system).
func startSystemOn(t *testing.T, apiMetricsAddr, writerMetricsAddr string) *system {
	t.Helper()
	env := stacktest.Load(t)
	if env.JaegerURL == "" || env.PrometheusURL == "" {
		t.Fatal("BLITZBUY_JAEGER_URL / BLITZBUY_PROMETHEUS_URL missing from the stack settings")
	}
	for _, a := range []string{apiMetricsAddr, writerMetricsAddr} {
		if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("%s is taken: another end-to-end run is still alive", a)
		}
	}
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, c := range []string{"orderapi", "orderwriter"} {
		proc.Build(t, root, filepath.Join(bin, c), "./services/cmd/"+c)
	}
	s := &system{env: env, secret: testkit.RandHex(32), admin: testkit.RandHex(16), topic: "orders-e2e-" + testkit.RandHex(4)}
	ownTopics(t, env, s.topic, s.topic+".dlq")
	httpAddr := proc.FreeAddr(t)
	s.api = "http://" + httpAddr

	common := []string{
		"BLITZBUY_REDIS_ADDR=" + env.RedisAddr, "BLITZBUY_KAFKA_BROKERS=" + strings.Join(env.KafkaBrokers, ","),
		"BLITZBUY_POSTGRES_URL=" + env.PostgresURL, "BLITZBUY_LOG_LEVEL=warn",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + otlpEndpoint(env), "OTEL_TRACES_SAMPLER=parentbased_always_on",
		"OTEL_BSP_SCHEDULE_DELAY=200", "BLITZBUY_ORDERS_TOPIC=" + s.topic, "BLITZBUY_WRITER_GROUP=" + s.group(),
	}
	proc.Start(t, filepath.Join(bin, "orderwriter"), append(common, "BLITZBUY_METRICS_ADDR="+writerMetricsAddr,
		"BLITZBUY_DLQ_TOPIC="+s.topic+".dlq", "OTEL_SERVICE_NAME=order-writer")...)
	proc.Start(t, filepath.Join(bin, "orderapi"), append(common, "BLITZBUY_HTTP_ADDR="+httpAddr, "BLITZBUY_METRICS_ADDR="+apiMetricsAddr,
		"BLITZBUY_JWT_SECRET="+s.secret, "BLITZBUY_ADMIN_TOKEN="+s.admin, "BLITZBUY_RATE_LIMIT=0", "OTEL_SERVICE_NAME=order-api",
		// Other packages' tests run beside this one on the same Redis; their
		// deliberately stranded orders are not this relay's to publish.
		"BLITZBUY_RELAY_THRESHOLD=10m")...)
	proc.WaitReady(t, s.api+"/readyz", 30*time.Second)
	proc.WaitReady(t, "http://"+writerMetricsAddr+"/readyz", 60*time.Second)
	return s
}

// group is the writers' consumer group of this system.
func (s *system) group() string { return groupOf(s.topic) }

func groupOf(topic string) string { return "order-writer-e2e-" + topic }

// ownTopics creates topics for this test and deletes them (and the writer's
// group) when it ends.
func ownTopics(t *testing.T, env stacktest.Env, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range topics {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			cl.Close()
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	t.Cleanup(func() {
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteGroups(ctx, groupOf(topics[0]))
		_, _ = adm.DeleteTopics(ctx, topics...)
	})
}

func otlpEndpoint(env stacktest.Env) string {
	if v := os.Getenv("BLITZBUY_OTLP_ENDPOINT"); v != "" {
		return v
	}
	return "http://127.0.0.1:4318"
}

func (s *system) call(t *testing.T, method, path, bearer string, headers map[string]string, body any) (*http.Response, []byte) {
	t.Helper()
	var rdr io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rdr = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.api+path, rdr)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (s *system) newSale(t *testing.T, stock int) string {
	t.Helper()
	id := "e2e-" + testkit.RandHex(4)
	resp, body := s.call(t, "PUT", "/v1/admin/sales/"+id, s.admin, nil, map[string]any{"name": "e2e", "stock": stock, "per_user_limit": 1})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create sale: %d %s", resp.StatusCode, body)
	}
	return id
}

func (s *system) order(t *testing.T, sale, user string) (*http.Response, []byte) {
	t.Helper()
	tok, err := httpapi.SignUserToken([]byte(s.secret), user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s.call(t, "POST", "/v1/sales/"+sale+"/orders", tok, map[string]string{"Idempotency-Key": "k-" + user}, nil)
}

func getJSON(t *testing.T, u string, into any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", u, resp.StatusCode, b)
	}
	return json.Unmarshal(b, into)
}

func promQuery(t *testing.T, base, path string, params url.Values, into any) error {
	t.Helper()
	return getJSON(t, strings.TrimRight(base, "/")+path+"?"+params.Encode(), into)
}
