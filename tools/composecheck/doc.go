// Package composecheck validates the repository's docker-compose.yml without
// a Docker engine: it loads the file with compose-go (the loader Docker
// Compose itself uses) and checks what `docker compose up --wait` relies on:
// healthchecks and dependency conditions, pinned images and existing
// Dockerfiles, loopback-only and non-conflicting published ports (the ports
// of DESIGN.md), bind-mount sources that exist, and Prometheus and Grafana
// configuration that names compose services.
//
// The same checks run on the `cluster` profile, as started by the command in
// the file's header (selected the way compose selects `up <services>`), plus
// its topology: three KRaft brokers with one quorum and RF 3 / min ISR 2
// topics kept 7 days, a Redis primary with two replicas under three
// sentinels, HAProxy over the order-api instances (haproxy.cfg parsed), the
// instances' environment, and a Prometheus that scrapes every instance. A
// plain `docker compose up` must still start exactly the single-node set.
//
// The package holds only tests; run them with
//
//	go test ./tools/composecheck/
package composecheck
