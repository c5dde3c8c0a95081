// Package e2e holds end-to-end tests that run the real order-api and
// order-writer binaries against the local stack and check what an operator
// would look at: one order's trace in Jaeger across both services, exemplars
// in /metrics and in Prometheus, and every dashboard and alert expression
// answering from the real Prometheus.
package e2e
