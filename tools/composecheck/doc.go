// Package composecheck validates the repository's docker-compose.yml without
// a Docker engine: it loads the file with compose-go (the loader Docker
// Compose itself uses) and checks what `docker compose up --wait` relies on:
// healthchecks and dependency conditions, pinned images and existing
// Dockerfiles, loopback-only and non-conflicting published ports (the ports
// of DESIGN.md), bind-mount sources that exist, and Prometheus and Grafana
// configuration that names compose services.
//
// The package holds only tests; run them with
//
//	go test ./tools/composecheck/
package composecheck
