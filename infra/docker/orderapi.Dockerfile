# syntax=docker/dockerfile:1
# order-api: built from the repository root (docker-compose.yml sets context: .).
#   docker build -f infra/docker/orderapi.Dockerfile -t blitzbuy/order-api .
# Builder: the pinned Go toolchain, the repository's go.work, CGO off, a
# static -trimpath binary. Runtime: distroless static as the nonroot user; no
# shell, so the compose healthcheck runs `orderapi -healthcheck` (GET /healthz on
# 127.0.0.1, exit 0/1).

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
# Every module named in go.work must be present for the workspace to load; of
# the modules other than services only go.mod/go.sum are needed. The cache
# mounts keep downloaded modules and build results across builds.
COPY go.work go.work.sum ./
COPY services/go.mod services/go.sum services/
COPY benchmarks/go.* benchmarks/
COPY observability/go.* observability/
COPY tools/go.* tools/
COPY testkit/go.* testkit/
COPY services/ services/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/orderapi ./services/cmd/orderapi

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/orderapi /usr/local/bin/orderapi
USER nonroot:nonroot
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/orderapi"]
