// Package config loads the services' typed configuration from the
// environment (BLITZBUY_* variables, defaults for everything but secrets),
// validates it, and renders it for the startup log with secrets masked.
//
// Each default is declared once, in an envDefault tag. Each rule is checked
// once, by the component that owns it (reservation, httpapi,
// writer); the Load functions call those validators so a bad environment
// fails at startup with the component's named error, wrapped with the
// variable's name. Only rules that span components live here.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/testkit/redisaddr"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/sourceaddr"
	"github.com/blitzbuy/blitzbuy/services/internal/writer"
)

// Process is what both services share: the same variables, the same
// defaults, the same meaning.
type Process struct {
	// RedisAddr may carry a password (redis://:PASSWORD@host:6379, as
	// docker-compose.yml sets it): the startup log shows it redacted.
	RedisAddr    string   `env:"BLITZBUY_REDIS_ADDR" envDefault:"127.0.0.1:6379" secret:"password"`
	RedisDB      int      `env:"BLITZBUY_REDIS_DB" envDefault:"0"`
	KafkaBrokers []string `env:"BLITZBUY_KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	OrdersTopic  string   `env:"BLITZBUY_ORDERS_TOPIC" envDefault:"orders"`
	// WriterGroup is the writers' consumer group: order-writer joins it, and
	// order-api waits out its lag before rebuilding a sale Redis lost.
	WriterGroup string `env:"BLITZBUY_WRITER_GROUP" envDefault:"order-writer"`
	// IdempotencyTTL is how long an Idempotency-Key is remembered; the API
	// sets it on every key and the writer's ledger client carries it too.
	IdempotencyTTL time.Duration `env:"BLITZBUY_IDEMPOTENCY_TTL" envDefault:"24h"`
	// ShutdownTimeout is how long the process may take to stop after
	// SIGTERM: finish in-flight work (order-api: requests, the relay, the
	// producer's flush; order-writer: the batches in hand, their commit,
	// leaving the group), then exit.
	//
	// 30 s, for both: it is Kubernetes' default terminationGracePeriodSeconds
	// (and this repository's compose stop_grace_period and run.sh's stop
	// wait), and a longer timeout would be cut short by SIGKILL anyway. It
	// covers the API's longest request, publish timeout + replay wait (5 s +
	// 7 s by default), then the producer's flush; and a writer's batch insert
	// and commit under load. Where the platform's grace is also 30 s the last
	// moments race the kill: for margin raise the grace, not this.
	ShutdownTimeout time.Duration `env:"BLITZBUY_SHUTDOWN_TIMEOUT" envDefault:"30s"`
	LogLevel        string        `env:"BLITZBUY_LOG_LEVEL" envDefault:"info"`
	// Pprof serves /debug/pprof/ on the metrics listener (loopback by default).
	Pprof bool `env:"BLITZBUY_PPROF"`
}

// RedisOption is the client option BLITZBUY_REDIS_ADDR (and _DB) name: one
// server as host:port, or Sentinels as a redis:// URL with master_set
// (testkit/redisaddr).
func (c Process) RedisOption() (rueidis.ClientOption, error) {
	return redisaddr.Option(c.RedisAddr, c.RedisDB)
}

// Reservation is the hot ledger's configuration.
func (c Process) Reservation() reservation.Config {
	return reservation.Config{IdempotencyTTL: c.IdempotencyTTL}
}

func (c Process) validate() error {
	if err := c.Reservation().Validate(); err != nil {
		return fmt.Errorf("BLITZBUY_IDEMPOTENCY_TTL: %w", err)
	}
	if _, err := c.RedisOption(); err != nil {
		return fmt.Errorf("BLITZBUY_REDIS_ADDR: %w", err)
	}
	return nil
}

// API is order-api's configuration.
type API struct {
	Process
	HTTPAddr    string `env:"BLITZBUY_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	MetricsAddr string `env:"BLITZBUY_METRICS_ADDR" envDefault:"127.0.0.1:9464"`
	// PostgresURL is optional here: GET /v1/orders reads confirmed orders
	// from it, and falls back to Redis without it.
	PostgresURL string `env:"BLITZBUY_POSTGRES_URL" secret:"true"`
	JWT
	AdminToken string        `env:"BLITZBUY_ADMIN_TOKEN,required" secret:"true"`
	RateLimit  int64         `env:"BLITZBUY_RATE_LIMIT" envDefault:"5"`
	RateWindow time.Duration `env:"BLITZBUY_RATE_WINDOW" envDefault:"1m"`
	// SoldOutView: how long a sold-out sale is answered from memory
	// (reservation.Config.SoldOutView; docs/api.md states the bound).
	SoldOutView time.Duration `env:"BLITZBUY_SOLD_OUT_VIEW" envDefault:"250ms"`
	// SaleReadCache: how long GET /v1/sales/{id} is answered from memory
	// (httpapi.Deps.SaleCacheTTL; docs/api.md states the bound).
	SaleReadCache  time.Duration `env:"BLITZBUY_SALE_READ_CACHE" envDefault:"250ms"`
	PublishTimeout time.Duration `env:"BLITZBUY_PUBLISH_TIMEOUT" envDefault:"5s"`
	// PublishLinger: 2 ms halves Kafka's CPU per accepted order for +2 ms
	// on a 202 (docs/benchmarks.md).
	PublishLinger  time.Duration `env:"BLITZBUY_PUBLISH_LINGER" envDefault:"2ms"`
	RelayThreshold time.Duration `env:"BLITZBUY_RELAY_THRESHOLD" envDefault:"10s"`
	RelayInterval  time.Duration `env:"BLITZBUY_RELAY_INTERVAL" envDefault:"1s"`
	// TraceTrusted are the callers whose traceparent is continued (a
	// gateway of your own); anyone else's becomes a span link and cannot
	// decide sampling. Comma-separated CIDRs or addresses; default none.
	TraceTrusted sourceaddr.Set `env:"BLITZBUY_TRACE_TRUSTED"`
	// AuthFailLimit failed authentications (401/403) per source address per
	// AuthFailWindow, then 429 until the window ends; AuthLimitExempt are
	// never limited ("none" to limit everyone; loopback by default so load
	// tests work).
	AuthFailLimit   int            `env:"BLITZBUY_AUTH_FAIL_LIMIT" envDefault:"60"`
	AuthFailWindow  time.Duration  `env:"BLITZBUY_AUTH_FAIL_WINDOW" envDefault:"1m"`
	AuthLimitExempt sourceaddr.Set `env:"BLITZBUY_AUTH_LIMIT_EXEMPT" envDefault:"loopback"`
}

// AuthLimit is the failed-authentication limit.
func (c API) AuthLimit() httpapi.AuthLimit {
	return httpapi.AuthLimit{Limit: c.AuthFailLimit, Window: c.AuthFailWindow, Exempt: c.AuthLimitExempt}
}

// JWT is how user tokens are signed and checked: order-api verifies with
// it, blitzctl token signs with it.
type JWT struct {
	// JWTSecret is the single key, for tokens without a kid header.
	JWTSecret string `env:"BLITZBUY_JWT_SECRET" secret:"true"`
	// JWTKeys are keys selected by kid, "id=secret,id=secret"; the first
	// signs. JWTKeysFile holds the same, one per line (# comments), and is
	// read at start: rotate keys by rolling restart (docs/operations.md).
	JWTKeys     string `env:"BLITZBUY_JWT_KEYS" secret:"true"`
	JWTKeysFile string `env:"BLITZBUY_JWT_KEYS_FILE"`
	// JWTIssuer and JWTAudience, when set, must match iss and be among aud.
	JWTIssuer   string `env:"BLITZBUY_JWT_ISSUER"`
	JWTAudience string `env:"BLITZBUY_JWT_AUDIENCE"`
	// JWTMaxTTL: a token whose exp is further than this from now, or from
	// its iat, is refused.
	JWTMaxTTL time.Duration `env:"BLITZBUY_JWT_MAX_TTL" envDefault:"24h"`
}

// Config is the verifier's configuration, keys read: BLITZBUY_JWT_SECRET's
// key (no kid) first when set, then BLITZBUY_JWT_KEYS's, then the file's.
func (c JWT) Config() (httpapi.JWTConfig, error) {
	jc := httpapi.JWTConfig{Issuer: c.JWTIssuer, Audience: c.JWTAudience, MaxTTL: c.JWTMaxTTL}
	if c.JWTSecret != "" {
		jc.Keys = append(jc.Keys, httpapi.JWTKey{Secret: []byte(c.JWTSecret)})
	}
	keys, err := httpapi.ParseJWTKeys(c.JWTKeys)
	if err != nil {
		return jc, fmt.Errorf("BLITZBUY_JWT_KEYS: %w", err)
	}
	jc.Keys = append(jc.Keys, keys...)
	if c.JWTKeysFile != "" {
		b, err := os.ReadFile(c.JWTKeysFile)
		if err != nil {
			return jc, fmt.Errorf("BLITZBUY_JWT_KEYS_FILE: %w", err)
		}
		if keys, err = httpapi.ParseJWTKeys(string(b)); err != nil {
			return jc, fmt.Errorf("BLITZBUY_JWT_KEYS_FILE: %w", err)
		}
		jc.Keys = append(jc.Keys, keys...)
	}
	if err := jc.Validate(); err != nil {
		return jc, fmt.Errorf("BLITZBUY_JWT_SECRET / BLITZBUY_JWT_KEYS / BLITZBUY_JWT_KEYS_FILE / BLITZBUY_JWT_MAX_TTL: %w", err)
	}
	return jc, nil
}

// LoadJWT reads only the token settings (blitzctl token).
func LoadJWT() (httpapi.JWTConfig, error) {
	var c JWT
	if err := env.Parse(&c); err != nil {
		return httpapi.JWTConfig{}, fmt.Errorf("config: %w", err)
	}
	return c.Config()
}

// ErrRelayThreshold: below the publish timeout the relay would re-publish
// orders whose own request is still waiting for the broker's ack. The rule
// spans the producer and the relay, so it lives here.
var ErrRelayThreshold = errors.New("BLITZBUY_RELAY_THRESHOLD must exceed BLITZBUY_PUBLISH_TIMEOUT")

// Ledger is the API's ledger configuration: the process's, plus the rate
// limit the reservation script applies and the sold-out view.
func (c API) Ledger() reservation.Config {
	r := c.Reservation()
	r.RateLimit, r.RateWindow, r.SoldOutView = c.RateLimit, c.RateWindow, c.SoldOutView
	return r
}

// LoadAPI reads the API's configuration from the environment.
func LoadAPI() (API, error) {
	var c API
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, c.Validate()
}

// Validate reports every invalid setting.
func (c API) Validate() error {
	errs := []error{c.Process.validate()}
	if c.RelayThreshold <= c.PublishTimeout {
		errs = append(errs, ErrRelayThreshold)
	}
	if err := reservation.ValidateRateLimit(c.RateLimit, c.RateWindow); err != nil {
		errs = append(errs, fmt.Errorf("BLITZBUY_RATE_LIMIT / BLITZBUY_RATE_WINDOW: %w", err))
	}
	if err := reservation.ValidateSoldOutView(c.SoldOutView); err != nil {
		errs = append(errs, fmt.Errorf("BLITZBUY_SOLD_OUT_VIEW: %w", err))
	}
	if err := c.AuthLimit().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("BLITZBUY_AUTH_FAIL_LIMIT / BLITZBUY_AUTH_FAIL_WINDOW: %w", err))
	}
	if err := httpapi.ValidateSaleCacheTTL(c.SaleReadCache); err != nil {
		errs = append(errs, fmt.Errorf("BLITZBUY_SALE_READ_CACHE: %w", err))
	}
	if _, err := c.JWT.Config(); err != nil {
		errs = append(errs, err)
	}
	if err := httpapi.ValidateAdminToken(c.AdminToken); err != nil {
		errs = append(errs, fmt.Errorf("BLITZBUY_ADMIN_TOKEN: %w", err))
	}
	return errors.Join(errs...)
}

// Writer is order-writer's configuration.
type Writer struct {
	Process
	MetricsAddr   string        `env:"BLITZBUY_METRICS_ADDR" envDefault:"127.0.0.1:9465"`
	DLQTopic      string        `env:"BLITZBUY_DLQ_TOPIC" envDefault:"orders.dlq"`
	PostgresURL   string        `env:"BLITZBUY_POSTGRES_URL,required" secret:"true"`
	PostgresConns int32         `env:"BLITZBUY_POSTGRES_MAX_CONNS" envDefault:"4"`
	BatchSize     int           `env:"BLITZBUY_WRITER_BATCH_SIZE" envDefault:"10000"`
	BatchWait     time.Duration `env:"BLITZBUY_WRITER_BATCH_WAIT" envDefault:"20ms"`
	// Pipelines: two batches in flight let Postgres use a second core while
	// offsets still commit in poll order (docs/benchmarks.md).
	Pipelines  int           `env:"BLITZBUY_WRITER_PIPELINES" envDefault:"2"`
	BackoffMin time.Duration `env:"BLITZBUY_WRITER_BACKOFF_MIN" envDefault:"1s"`
	BackoffMax time.Duration `env:"BLITZBUY_WRITER_BACKOFF_MAX" envDefault:"30s"`
}

// LoadWriter reads the writer's configuration from the environment.
func LoadWriter() (Writer, error) {
	var c Writer
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	return c, c.Validate()
}

// WriterConfig is the consumer's configuration; the caller adds its client
// options and tracer.
func (c Writer) WriterConfig() writer.Config {
	return writer.Config{
		Brokers: c.KafkaBrokers, Topic: c.OrdersTopic, DLQTopic: c.DLQTopic, Group: c.WriterGroup,
		BatchSize: c.BatchSize, BatchWait: c.BatchWait, BackoffMin: c.BackoffMin, BackoffMax: c.BackoffMax,
		Pipelines: c.Pipelines, ShutdownTimeout: c.ShutdownTimeout,
	}
}

// Validate reports every invalid setting (the consumer's first one).
func (c Writer) Validate() error {
	errs := []error{c.Process.validate()}
	if err := c.WriterConfig().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", writerVars(err), err))
	}
	return errors.Join(errs...)
}

// writerVars names the variables behind one of writer.Config's errors.
func writerVars(err error) string {
	switch {
	case errors.Is(err, writer.ErrNoBrokers):
		return "BLITZBUY_KAFKA_BROKERS"
	case errors.Is(err, writer.ErrTopics):
		return "BLITZBUY_ORDERS_TOPIC / BLITZBUY_DLQ_TOPIC / BLITZBUY_WRITER_GROUP"
	case errors.Is(err, writer.ErrBatch):
		return "BLITZBUY_WRITER_BATCH_SIZE / BLITZBUY_WRITER_BATCH_WAIT"
	case errors.Is(err, writer.ErrBackoff):
		return "BLITZBUY_WRITER_BACKOFF_MIN / BLITZBUY_WRITER_BACKOFF_MAX"
	case errors.Is(err, writer.ErrPipelines):
		return "BLITZBUY_WRITER_PIPELINES"
	case errors.Is(err, writer.ErrShutdownTimeout):
		return "BLITZBUY_SHUTDOWN_TIMEOUT"
	default:
		return "config"
	}
}

// Masked renders a config struct as name=value pairs for the startup log,
// with every field tagged secret:"true" masked and the password of every
// address tagged secret:"password" redacted (redisaddr.Redact). Embedded
// structs (Process) are walked in place, so their fields are listed like
// the others.
func Masked(cfg any) []any {
	return masked(reflect.ValueOf(cfg), nil)
}

func masked(v reflect.Value, out []any) []any {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			out = masked(v.Field(i), out)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		val := fmt.Sprint(v.Field(i).Interface())
		switch f.Tag.Get("secret") {
		case "true":
			if val != "" {
				val = "***"
			}
		case "password":
			val = redisaddr.Redact(val)
		}
		out = append(out, name, val)
	}
	return out
}
