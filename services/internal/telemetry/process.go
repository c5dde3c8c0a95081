package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"
)

// Probe GETs /healthz on addr (a listen address such as ":8080" or
// "0.0.0.0:9465") and returns the process exit code of a container
// healthcheck: 0 when it answers 200, 1 otherwise.
func Probe(addr string) int {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// Start sets up what both services share at start: the JSON logger at the
// configured level and tracing (exporting when the OTLP environment is set),
// with OTEL_SERVICE_NAME defaulting to service. The returned stop flushes
// pending spans.
func Start(ctx context.Context, w io.Writer, service, version, level string) (*slog.Logger, func(), error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("BLITZBUY_LOG_LEVEL: %w", err)
	}
	log := NewLogger(w, lvl, service)
	// Setup's resource names the service last, so OTEL_SERVICE_NAME must be
	// passed in to win over the default.
	name := os.Getenv("OTEL_SERVICE_NAME")
	if name == "" {
		name = service
		os.Setenv("OTEL_SERVICE_NAME", service)
	}
	shutdown, err := Setup(ctx, Config{ServiceName: name, Version: version, Export: ExportConfigured()})
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdown(c)
	}
	return log, stop, nil
}
