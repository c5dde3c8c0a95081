// Package config loads the services' typed configuration from the
// environment (BLITZBUY_* variables, defaults for everything but secrets),
// validates it, and renders it for the startup log with secrets masked.
package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// API is order-api's configuration.
type API struct {
	HTTPAddr        string        `env:"BLITZBUY_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	MetricsAddr     string        `env:"BLITZBUY_METRICS_ADDR" envDefault:"127.0.0.1:9464"`
	RedisAddr       string        `env:"BLITZBUY_REDIS_ADDR" envDefault:"127.0.0.1:6379"`
	RedisDB         int           `env:"BLITZBUY_REDIS_DB" envDefault:"0"`
	KafkaBrokers    []string      `env:"BLITZBUY_KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	OrdersTopic     string        `env:"BLITZBUY_ORDERS_TOPIC" envDefault:"orders"`
	PostgresURL     string        `env:"BLITZBUY_POSTGRES_URL" secret:"true"`
	JWTSecret       string        `env:"BLITZBUY_JWT_SECRET,required" secret:"true"`
	AdminToken      string        `env:"BLITZBUY_ADMIN_TOKEN,required" secret:"true"`
	RateLimit       int64         `env:"BLITZBUY_RATE_LIMIT" envDefault:"5"`
	RateWindow      time.Duration `env:"BLITZBUY_RATE_WINDOW" envDefault:"1m"`
	IdempotencyTTL  time.Duration `env:"BLITZBUY_IDEMPOTENCY_TTL" envDefault:"24h"`
	PublishTimeout  time.Duration `env:"BLITZBUY_PUBLISH_TIMEOUT" envDefault:"5s"`
	PublishLinger   time.Duration `env:"BLITZBUY_PUBLISH_LINGER" envDefault:"0s"`
	RelayThreshold  time.Duration `env:"BLITZBUY_RELAY_THRESHOLD" envDefault:"10s"`
	RelayInterval   time.Duration `env:"BLITZBUY_RELAY_INTERVAL" envDefault:"1s"`
	ShutdownTimeout time.Duration `env:"BLITZBUY_SHUTDOWN_TIMEOUT" envDefault:"15s"`
	LogLevel        string        `env:"BLITZBUY_LOG_LEVEL" envDefault:"info"`
	// Pprof serves /debug/pprof/ on the metrics listener (loopback by default).
	Pprof bool `env:"BLITZBUY_PPROF"`
}

// Named validation errors.
var (
	ErrRelayThreshold = errors.New("BLITZBUY_RELAY_THRESHOLD must exceed BLITZBUY_PUBLISH_TIMEOUT")
	ErrIdempotencyTTL = errors.New("BLITZBUY_IDEMPOTENCY_TTL must be at least 24h")
	ErrRateLimit      = errors.New("BLITZBUY_RATE_LIMIT must be >= 0 (0 disables) with a positive BLITZBUY_RATE_WINDOW")
	ErrSecretTooShort = errors.New("BLITZBUY_JWT_SECRET must be at least 32 bytes and BLITZBUY_ADMIN_TOKEN at least 16")
)

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
	var errs []error
	if c.RelayThreshold <= c.PublishTimeout {
		errs = append(errs, ErrRelayThreshold)
	}
	if c.IdempotencyTTL < 24*time.Hour {
		errs = append(errs, ErrIdempotencyTTL)
	}
	if c.RateLimit < 0 || (c.RateLimit > 0 && c.RateWindow <= 0) {
		errs = append(errs, ErrRateLimit)
	}
	if len(c.JWTSecret) < 32 || len(c.AdminToken) < 16 {
		errs = append(errs, ErrSecretTooShort)
	}
	return errors.Join(errs...)
}

// Masked renders a config struct as name=value pairs for the startup log,
// with every field tagged secret:"true" masked.
func Masked(cfg any) []any {
	v := reflect.ValueOf(cfg)
	t := v.Type()
	out := make([]any, 0, 2*t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		val := fmt.Sprint(v.Field(i).Interface())
		if f.Tag.Get("secret") == "true" && val != "" {
			val = "***"
		}
		out = append(out, name, val)
	}
	return out
}

// Writer is order-writer's configuration.
type Writer struct {
	MetricsAddr    string        `env:"BLITZBUY_METRICS_ADDR" envDefault:"127.0.0.1:9465"`
	RedisAddr      string        `env:"BLITZBUY_REDIS_ADDR" envDefault:"127.0.0.1:6379"`
	RedisDB        int           `env:"BLITZBUY_REDIS_DB" envDefault:"0"`
	KafkaBrokers   []string      `env:"BLITZBUY_KAFKA_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	OrdersTopic    string        `env:"BLITZBUY_ORDERS_TOPIC" envDefault:"orders"`
	DLQTopic       string        `env:"BLITZBUY_DLQ_TOPIC" envDefault:"orders.dlq"`
	Group          string        `env:"BLITZBUY_WRITER_GROUP" envDefault:"order-writer"`
	PostgresURL    string        `env:"BLITZBUY_POSTGRES_URL,required" secret:"true"`
	PostgresConns  int32         `env:"BLITZBUY_POSTGRES_MAX_CONNS" envDefault:"4"`
	BatchSize      int           `env:"BLITZBUY_WRITER_BATCH_SIZE" envDefault:"10000"`
	BatchWait      time.Duration `env:"BLITZBUY_WRITER_BATCH_WAIT" envDefault:"20ms"`
	Pipelines      int           `env:"BLITZBUY_WRITER_PIPELINES" envDefault:"2"`
	BackoffMin     time.Duration `env:"BLITZBUY_WRITER_BACKOFF_MIN" envDefault:"1s"`
	BackoffMax     time.Duration `env:"BLITZBUY_WRITER_BACKOFF_MAX" envDefault:"30s"`
	ShutdownGrace  time.Duration `env:"BLITZBUY_SHUTDOWN_TIMEOUT" envDefault:"30s"`
	IdempotencyTTL time.Duration `env:"BLITZBUY_IDEMPOTENCY_TTL" envDefault:"24h"`
	LogLevel       string        `env:"BLITZBUY_LOG_LEVEL" envDefault:"info"`
	// Pprof serves /debug/pprof/ on the metrics listener (loopback by default).
	Pprof bool `env:"BLITZBUY_PPROF"`
}

// LoadWriter reads the writer's configuration from the environment.
func LoadWriter() (Writer, error) {
	var c Writer
	if err := env.Parse(&c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	var errs []error
	if c.BatchSize < 1 || c.BatchWait <= 0 {
		errs = append(errs, errors.New("BLITZBUY_WRITER_BATCH_SIZE must be >= 1 and BLITZBUY_WRITER_BATCH_WAIT > 0"))
	}
	if c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin {
		errs = append(errs, errors.New("BLITZBUY_WRITER_BACKOFF_MIN must be > 0 and <= BLITZBUY_WRITER_BACKOFF_MAX"))
	}
	if c.IdempotencyTTL < 24*time.Hour {
		errs = append(errs, ErrIdempotencyTTL)
	}
	return c, errors.Join(errs...)
}
