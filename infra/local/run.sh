#!/usr/bin/env bash
# Runs BlitzBuy's services on the local stack, in the background, with dev
# settings, and writes everything a client needs to .local/env.
#
#   run.sh start    build the binaries, start order-api (and order-writer once it exists), wait until ready
#   run.sh stop     stop them (by PID)
#   run.sh status   one line per service
#
# Secrets (JWT signing key, admin token) are generated once per machine into
# .local/secrets/ and never committed; `source .local/env` to use them.
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN="$STATE/bin"
API_ADDR="${BLITZBUY_HTTP_ADDR:-127.0.0.1:8080}"
SERVICES=(orderapi)
[[ -d "$ROOT/services/cmd/orderwriter" ]] && SERVICES+=(orderwriter)

build() {
	mkdir -p "$BIN"
	local cmds=(blitzctl "${SERVICES[@]}") c
	for c in "${cmds[@]}"; do
		(cd "$ROOT" && go build -trimpath -o "$BIN/$c" "./services/cmd/$c") || die "go build ./services/cmd/$c"
	done
}

write_env() {
	[[ -f "$STATE/stack.env" ]] || die "the stack is not up: run 'go tool task up' first"
	{
		cat "$STATE/stack.env"
		echo "export BLITZBUY_API_URL=http://$API_ADDR"
		echo "export BLITZBUY_JWT_SECRET=$(secret jwt)"
		echo "export BLITZBUY_ADMIN_TOKEN=$(secret admin)"
	} >"$STATE/env"
	chmod 600 "$STATE/env"
}

api_ready() { curl -fsS "http://$API_ADDR/readyz" >/dev/null; }

start() {
	build
	write_env
	# shellcheck disable=SC1091
	source "$STATE/env"
	# Dev default: every trace. The benchmarks start the services with the
	# production default instead (OTEL_TRACES_SAMPLER=parentbased_traceidratio, 0.1).
	export OTEL_EXPORTER_OTLP_ENDPOINT="$BLITZBUY_OTLP_ENDPOINT" OTEL_TRACES_SAMPLER="${OTEL_TRACES_SAMPLER:-parentbased_always_on}"
	if pid_alive orderapi && api_ready 2>/dev/null; then
		log "order-api already running (pid $(cat "$RUN/orderapi.pid"))"
	else
		guard_port order-api "${API_ADDR##*:}"
		BLITZBUY_HTTP_ADDR="$API_ADDR" OTEL_SERVICE_NAME=order-api spawn orderapi "$LOGS/orderapi.log" "$BIN/orderapi"
		wait_for order-api 30 "$LOGS/orderapi.log" api_ready
		log "order-api  up   http://$API_ADDR (log: $LOGS/orderapi.log)"
	fi
	if [[ " ${SERVICES[*]} " == *" orderwriter "* ]]; then
		if pid_alive orderwriter; then
			log "order-writer already running (pid $(cat "$RUN/orderwriter.pid"))"
		else
			OTEL_SERVICE_NAME=order-writer spawn orderwriter "$LOGS/orderwriter.log" "$BIN/orderwriter"
			log "order-writer started (log: $LOGS/orderwriter.log)"
		fi
	fi
	log "settings for clients: source $STATE/env"
}

stop() {
	local s
	for s in "${SERVICES[@]}"; do stop_pid "$s"; done
}

status() {
	if api_ready 2>/dev/null; then echo "order-api   up   http://$API_ADDR"; else echo "order-api   down http://$API_ADDR"; fi
	if [[ " ${SERVICES[*]} " == *" orderwriter "* ]]; then
		if pid_alive orderwriter; then echo "order-writer up"; else echo "order-writer down"; fi
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
