// Package rules guards BlitzBuy's Prometheus alert rules
// (observability/prometheus/rules) in `go test`: promtool must accept every
// rule file, every rule's unit tests (observability/prometheus/tests) must
// pass, and every alert must carry its annotations, a runbook section in
// docs/observability.md, and both a firing and a quiet test case.
package rules
