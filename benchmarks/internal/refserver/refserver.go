// Package refserver is the calibration target: the HTTP stack order-api is
// built on (net/http with the same server timeouts, a chi router, the same
// route shape) answering every order with a fixed 202 and doing nothing else.
// Its throughput, measured by the same generator over the same connection
// settings, is the ceiling a scenario's rate is reported against.
package refserver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// Handler is the no-op API: POST /v1/sales/{saleID}/orders reads the body and
// answers 202 with an order-shaped JSON; GET /healthz answers 200.
func Handler() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	r.Post("/v1/sales/{saleID}/orders", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4096))
		sale := chi.URLParam(r, "saleID")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/v1/orders/"+sale+".0")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"order_id":"`+sale+`.0","sale_id":"`+sale+`","user_id":"0","quantity":1,"status":"pending"}`)
	})
	return r
}

// Serve listens on addr (":0" for any port), calls ready with the bound
// address, and serves until ctx ends.
func Serve(ctx context.Context, addr string, ready func(string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// The same timeouts as order-api's server (services/cmd/orderapi).
	srv := &http.Server{Handler: Handler(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	ready(ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
