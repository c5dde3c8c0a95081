package config_test

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/config"
	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/sourceaddr"
	"github.com/blitzbuy/blitzbuy/services/internal/writer"
)

const (
	jwtSecret  = "0123456789abcdef0123456789abcdef" // 32 bytes
	adminToken = "0123456789abcdef"                 // 16 bytes
	pgURL      = "postgres://u:p@127.0.0.1:5432/db"
)

// cleanEnv unsets every BLITZBUY_* variable for the test (a shell that
// sourced .local/env has some), then sets kv.
func cleanEnv(t *testing.T, kv ...string) {
	t.Helper()
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if strings.HasPrefix(k, "BLITZBUY_") {
			t.Setenv(k, "") // restored after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

var wantProcess = config.Process{
	RedisAddr: "127.0.0.1:6379", RedisDB: 0, KafkaBrokers: []string{"127.0.0.1:9092"}, OrdersTopic: "orders", WriterGroup: "order-writer",
	IdempotencyTTL: 24 * time.Hour, ShutdownTimeout: 30 * time.Second, LogLevel: "info", Pprof: false,
}

func validAPI() config.API {
	return config.API{Process: wantProcess,
		HTTPAddr: "127.0.0.1:8080", MetricsAddr: "127.0.0.1:9464", JWT: config.JWT{JWTSecret: jwtSecret, JWTMaxTTL: 24 * time.Hour}, AdminToken: adminToken,
		RateLimit: 5, RateWindow: time.Minute, PublishTimeout: 5 * time.Second, PublishLinger: 2 * time.Millisecond,
		RelayThreshold: 10 * time.Second, RelayInterval: time.Second, SoldOutView: 250 * time.Millisecond, SaleReadCache: 250 * time.Millisecond,
		AuthFailLimit: 60, AuthFailWindow: time.Minute, AuthLimitExempt: sourceaddr.Loopback}
}

func validWriter() config.Writer {
	return config.Writer{Process: wantProcess,
		MetricsAddr: "127.0.0.1:9465", DLQTopic: "orders.dlq", PostgresURL: pgURL,
		PostgresConns: 4, BatchSize: 10000, BatchWait: 20 * time.Millisecond, Pipelines: 2,
		BackoffMin: time.Second, BackoffMax: 30 * time.Second}
}

func TestLoadAPIDefaults(t *testing.T) {
	cleanEnv(t, "BLITZBUY_JWT_SECRET", jwtSecret, "BLITZBUY_ADMIN_TOKEN", adminToken)
	got, err := config.LoadAPI()
	if err != nil {
		t.Fatal(err)
	}
	if want := validAPI(); !reflect.DeepEqual(got, want) {
		t.Errorf("LoadAPI() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadWriterDefaults(t *testing.T) {
	cleanEnv(t, "BLITZBUY_POSTGRES_URL", pgURL)
	got, err := config.LoadWriter()
	if err != nil {
		t.Fatal(err)
	}
	if want := validWriter(); !reflect.DeepEqual(got, want) {
		t.Errorf("LoadWriter() =\n%+v\nwant\n%+v", got, want)
	}
}

// The shared variables are read into the embedded Process by both services.
func TestLoadReadsSharedVariablesIntoProcess(t *testing.T) {
	cleanEnv(t, "BLITZBUY_JWT_SECRET", jwtSecret, "BLITZBUY_ADMIN_TOKEN", adminToken, "BLITZBUY_POSTGRES_URL", pgURL,
		"BLITZBUY_SHUTDOWN_TIMEOUT", "7s", "BLITZBUY_KAFKA_BROKERS", "a:1,b:2", "BLITZBUY_REDIS_DB", "3")
	api, err := config.LoadAPI()
	if err != nil {
		t.Fatal(err)
	}
	w, err := config.LoadWriter()
	if err != nil {
		t.Fatal(err)
	}
	want := wantProcess
	want.ShutdownTimeout, want.KafkaBrokers, want.RedisDB = 7*time.Second, []string{"a:1", "b:2"}, 3
	for name, got := range map[string]config.Process{"api": api.Process, "writer": w.Process} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Process = %+v, want %+v", name, got, want)
		}
	}
	if got, want := w.WriterConfig().ShutdownTimeout, 7*time.Second; got != want {
		t.Errorf("WriterConfig().ShutdownTimeout = %s, want %s", got, want)
	}
}

func TestLoadRequiresSecrets(t *testing.T) {
	cleanEnv(t)
	if _, err := config.LoadAPI(); err == nil || !strings.Contains(err.Error(), "BLITZBUY_ADMIN_TOKEN") {
		t.Errorf("LoadAPI() without secrets: err = %v, want one naming BLITZBUY_ADMIN_TOKEN", err)
	}
	cleanEnv(t, "BLITZBUY_ADMIN_TOKEN", adminToken)
	if _, err := config.LoadAPI(); !errors.Is(err, httpapi.ErrNoJWTKey) || !strings.Contains(err.Error(), "BLITZBUY_JWT_SECRET") {
		t.Errorf("LoadAPI() without a JWT key: err = %v, want %v naming BLITZBUY_JWT_SECRET", err, httpapi.ErrNoJWTKey)
	}
	if _, err := config.LoadWriter(); err == nil || !strings.Contains(err.Error(), "BLITZBUY_POSTGRES_URL") {
		t.Errorf("LoadWriter() without a database: err = %v, want one naming BLITZBUY_POSTGRES_URL", err)
	}
}

func TestAPIValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*config.API)
		want   error // nil: valid
	}{
		{"defaults", func(*config.API) {}, nil},
		{"rate limit off", func(c *config.API) { c.RateLimit, c.RateWindow = 0, 0 }, nil},
		{"idempotency ttl", func(c *config.API) { c.IdempotencyTTL = 23 * time.Hour }, reservation.ErrIdempotencyTTL},
		{"relay threshold = publish timeout", func(c *config.API) { c.RelayThreshold = c.PublishTimeout }, config.ErrRelayThreshold},
		{"negative rate limit", func(c *config.API) { c.RateLimit = -1 }, reservation.ErrInvalidRateLimit},
		{"rate window under 1ms", func(c *config.API) { c.RateWindow = time.Microsecond }, reservation.ErrInvalidRateLimit},
		{"sold-out view off", func(c *config.API) { c.SoldOutView = 0 }, nil},
		{"sold-out view over 10s", func(c *config.API) { c.SoldOutView = 11 * time.Second }, reservation.ErrSoldOutView},
		{"jwt secret 31 bytes", func(c *config.API) { c.JWTSecret = jwtSecret[1:] }, httpapi.ErrJWTSecretTooShort},
		{"admin token 15 bytes", func(c *config.API) { c.AdminToken = adminToken[1:] }, httpapi.ErrAdminTokenTooShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validAPI()
			tt.change(&c)
			checkErr(t, c.Validate(), tt.want)
		})
	}
}

// Validate reports every invalid setting at once, not the first.
func TestAPIValidateReportsEverything(t *testing.T) {
	c := validAPI()
	c.IdempotencyTTL, c.JWTSecret, c.AdminToken = time.Hour, "", ""
	got := c.Validate()
	for _, want := range []error{reservation.ErrIdempotencyTTL, httpapi.ErrNoJWTKey, httpapi.ErrAdminTokenTooShort} {
		if !errors.Is(got, want) {
			t.Errorf("Validate() = %v, want it to include %v", got, want)
		}
	}
}

// checkErr fails t unless got is nil when want is, or wraps want; it
// reports whether there is an error left to inspect.
func checkErr(t *testing.T, got, want error) bool {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Fatalf("Validate() = %v, want nil", got)
	case want != nil && !errors.Is(got, want):
		t.Fatalf("Validate() = %v, want %v", got, want)
	}
	return got != nil
}

func TestWriterValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*config.Writer)
		want    error  // nil: valid
		wantVar string // the variable the message names
	}{
		{"defaults", func(*config.Writer) {}, nil, ""},
		{"idempotency ttl", func(c *config.Writer) { c.IdempotencyTTL = time.Hour }, reservation.ErrIdempotencyTTL, "BLITZBUY_IDEMPOTENCY_TTL"},
		{"no brokers", func(c *config.Writer) { c.KafkaBrokers = nil }, writer.ErrNoBrokers, "BLITZBUY_KAFKA_BROKERS"},
		{"no group", func(c *config.Writer) { c.WriterGroup = "" }, writer.ErrTopics, "BLITZBUY_WRITER_GROUP"},
		{"batch size 0", func(c *config.Writer) { c.BatchSize = 0 }, writer.ErrBatch, "BLITZBUY_WRITER_BATCH_SIZE"},
		{"batch wait 0", func(c *config.Writer) { c.BatchWait = 0 }, writer.ErrBatch, "BLITZBUY_WRITER_BATCH_WAIT"},
		{"backoff min 0", func(c *config.Writer) { c.BackoffMin = 0 }, writer.ErrBackoff, "BLITZBUY_WRITER_BACKOFF_MIN"},
		{"backoff max < min", func(c *config.Writer) { c.BackoffMax = c.BackoffMin / 2 }, writer.ErrBackoff, "BLITZBUY_WRITER_BACKOFF_MAX"},
		{"pipelines 0", func(c *config.Writer) { c.Pipelines = 0 }, writer.ErrPipelines, "BLITZBUY_WRITER_PIPELINES"},
		{"shutdown timeout 0", func(c *config.Writer) { c.ShutdownTimeout = 0 }, writer.ErrShutdownTimeout, "BLITZBUY_SHUTDOWN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validWriter()
			tt.change(&c)
			got := c.Validate()
			if !checkErr(t, got, tt.want) {
				return
			}
			if !strings.Contains(got.Error(), tt.wantVar) {
				t.Errorf("Validate() = %q, want it to name %s", got, tt.wantVar)
			}
		})
	}
}

// A bad environment fails at load with the owning component's named error.
func TestLoadFailsWithTheComponentsError(t *testing.T) {
	tests := []struct {
		name string
		load func() error
		env  []string
		want error
	}{
		{"api ttl", loadAPI, []string{"BLITZBUY_IDEMPOTENCY_TTL", "1h"}, reservation.ErrIdempotencyTTL},
		{"api secret", loadAPI, []string{"BLITZBUY_JWT_SECRET", "short"}, httpapi.ErrJWTSecretTooShort},
		{"api rate", loadAPI, []string{"BLITZBUY_RATE_LIMIT", "-1"}, reservation.ErrInvalidRateLimit},
		{"api sold-out view", loadAPI, []string{"BLITZBUY_SOLD_OUT_VIEW", "-1s"}, reservation.ErrSoldOutView},
		{"api relay", loadAPI, []string{"BLITZBUY_RELAY_THRESHOLD", "5s"}, config.ErrRelayThreshold},
		{"writer ttl", loadWriter, []string{"BLITZBUY_IDEMPOTENCY_TTL", "1h"}, reservation.ErrIdempotencyTTL},
		{"writer pipelines", loadWriter, []string{"BLITZBUY_WRITER_PIPELINES", "0"}, writer.ErrPipelines},
		{"writer batch", loadWriter, []string{"BLITZBUY_WRITER_BATCH_SIZE", "0"}, writer.ErrBatch},
		{"writer backoff", loadWriter, []string{"BLITZBUY_WRITER_BACKOFF_MIN", "1m"}, writer.ErrBackoff},
		{"writer shutdown", loadWriter, []string{"BLITZBUY_SHUTDOWN_TIMEOUT", "0s"}, writer.ErrShutdownTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t, append([]string{"BLITZBUY_JWT_SECRET", jwtSecret, "BLITZBUY_ADMIN_TOKEN", adminToken,
				"BLITZBUY_POSTGRES_URL", pgURL}, tt.env...)...)
			if got := tt.load(); !errors.Is(got, tt.want) {
				t.Errorf("load with %v: err = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}

func loadAPI() error    { _, err := config.LoadAPI(); return err }
func loadWriter() error { _, err := config.LoadWriter(); return err }

func TestMasked(t *testing.T) {
	api := validAPI()
	api.PostgresURL = pgURL
	tests := []struct {
		name string
		cfg  any
		want map[string]string // a subset of the pairs
	}{
		{"api", api, map[string]string{
			"BLITZBUY_JWT_SECRET": "***", "BLITZBUY_ADMIN_TOKEN": "***", "BLITZBUY_POSTGRES_URL": "***",
			"BLITZBUY_HTTP_ADDR": "127.0.0.1:8080", "BLITZBUY_SHUTDOWN_TIMEOUT": "30s", "BLITZBUY_REDIS_ADDR": "127.0.0.1:6379",
		}},
		{"writer", validWriter(), map[string]string{
			"BLITZBUY_POSTGRES_URL": "***", "BLITZBUY_WRITER_PIPELINES": "2",
			"BLITZBUY_SHUTDOWN_TIMEOUT": "30s", "BLITZBUY_IDEMPOTENCY_TTL": "24h0m0s",
		}},
		{"empty secret stays empty", config.API{}, map[string]string{"BLITZBUY_JWT_SECRET": ""}},
		{"redis password redacted", func() config.API {
			c := validAPI()
			c.RedisAddr = "redis://:s3cr3t-redis@redis:6379"
			return c
		}(), map[string]string{"BLITZBUY_REDIS_ADDR": "redis://:xxxxx@redis:6379"}},
		{"sentinel url's password redacted", func() config.Writer {
			c := validWriter()
			c.RedisAddr = "redis://:s3cr3t-redis@sentinel-1:26379?addr=sentinel-2:26379&master_set=blitzbuy"
			return c
		}(), map[string]string{"BLITZBUY_REDIS_ADDR": "redis://:xxxxx@sentinel-1:26379?addr=sentinel-2:26379&master_set=blitzbuy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := config.Masked(tt.cfg)
			got := make(map[string]string, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				got[kv[i].(string)] = kv[i+1].(string)
			}
			if want := envNames(reflect.TypeOf(tt.cfg)); len(got) != len(want) || len(kv) != 2*len(want) {
				t.Errorf("Masked lists %d variables (%d values), want every one of %d: %v", len(got), len(kv), len(want), want)
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("Masked[%s] = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}

// envNames is every env tag of t, embedded structs' included.
func envNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			names = append(names, envNames(f.Type)...)
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
			names = append(names, name)
		}
	}
	return names
}
