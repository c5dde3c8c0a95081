// Package stacktest connects tests to the real local stack (Redis, PostgreSQL,
// Kafka, Jaeger, Prometheus) that `go tool task up` starts. Tests that need the
// stack call Load; when the stack is absent they fail with a message that says
// how to start it — they are never skipped silently, except under -short.
package stacktest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/testkit/localenv"
)

// Env is the set of connection settings the local stack publishes in
// .local/stack.env (and, for a running API, .local/env).
type Env struct {
	RedisAddr     string // BLITZBUY_REDIS_ADDR
	PostgresURL   string // BLITZBUY_POSTGRES_URL
	KafkaBrokers  []string
	JaegerURL     string // BLITZBUY_JAEGER_URL
	PrometheusURL string // BLITZBUY_PROMETHEUS_URL
}

// Load returns the stack settings or fails the test. Settings come from the
// process environment first, then from <repo>/.local/stack.env.
func Load(tb testing.TB) Env {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs the local stack; skipped with -short")
	}
	env, err := Read()
	if err != nil {
		tb.Fatalf("local stack not available: %v\n\tstart it with: go tool task up", err)
	}
	return env
}

// Read resolves the settings without a testing.TB, for benchmarks and tools.
func Read() (Env, error) {
	file := map[string]string{}
	var fileErr error // why .local/stack.env could not be read, if it could not
	if root, err := RepoRoot(); err != nil {
		fileErr = err
	} else if file, fileErr = localenv.ReadFile(filepath.Join(root, localenv.StackFile)); fileErr != nil {
		file = map[string]string{}
	}
	get := func(k string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return file[k]
	}
	env := Env{
		RedisAddr:     get("BLITZBUY_REDIS_ADDR"),
		PostgresURL:   get("BLITZBUY_POSTGRES_URL"),
		JaegerURL:     get("BLITZBUY_JAEGER_URL"),
		PrometheusURL: get("BLITZBUY_PROMETHEUS_URL"),
	}
	if b := get("BLITZBUY_KAFKA_BROKERS"); b != "" {
		env.KafkaBrokers = strings.Split(b, ",")
	}
	var missing []string
	for k, v := range map[string]string{
		"BLITZBUY_REDIS_ADDR": env.RedisAddr, "BLITZBUY_POSTGRES_URL": env.PostgresURL,
		"BLITZBUY_KAFKA_BROKERS": strings.Join(env.KafkaBrokers, ","),
	} {
		if v == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		err := fmt.Errorf("%s not set and not found in .local/stack.env", strings.Join(missing, ", "))
		if fileErr != nil {
			err = fmt.Errorf("%w (%v)", err, fileErr)
		}
		return env, err
	}
	return env, nil
}

// RepoRoot walks up from the working directory to the folder holding go.work.
func RepoRoot() (string, error) { return localenv.RepoRoot() }
