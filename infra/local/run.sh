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
SERVICES=(orderapi orderwriter)

# The instances: NAME BINARY HTTP_ADDR METRICS_ADDR. The default profile runs
# one of each on the usual addresses; the cluster profile two of each, the
# APIs behind HAProxy (which stack.sh starts on API_ADDR).
if [[ $PROFILE == cluster ]]; then
	INSTANCES=(
		"orderapi-1 orderapi 127.0.0.1:8081 127.0.0.1:9464"
		"orderapi-2 orderapi 127.0.0.1:8082 127.0.0.1:9466"
		"orderwriter-1 orderwriter - 127.0.0.1:9465"
		"orderwriter-2 orderwriter - 127.0.0.1:9467"
	)
else
	INSTANCES=("orderapi orderapi $API_ADDR 127.0.0.1:9464" "orderwriter orderwriter - 127.0.0.1:9465")
fi

build() {
	mkdir -p "$BIN"
	local cmds=(blitzctl "${SERVICES[@]}") c
	for c in "${cmds[@]}"; do
		(cd "$ROOT" && go build -trimpath -o "$BIN/$c" "./services/cmd/$c") || die "go build ./services/cmd/$c"
	done
}

write_env() {
	[[ -f "$STATE/stack.env" ]] || die "the stack is not up: run 'go tool task up' first"
	grep -q "^export BLITZBUY_PROFILE=$PROFILE\$" "$STATE/stack.env" ||
		die "the stack is not up in the $PROFILE profile: run 'BLITZBUY_PROFILE=$PROFILE go tool task up' first"
	{
		cat "$STATE/stack.env"
		echo "export BLITZBUY_API_URL=http://$API_ADDR"
		echo "export BLITZBUY_JWT_SECRET=$(secret jwt)"
		echo "export BLITZBUY_ADMIN_TOKEN=$(secret admin)"
	} >"$STATE/env"
	chmod 600 "$STATE/env"
}

ready() { curl -fsS "http://$1/readyz" >/dev/null; }
healthy() { curl -fsS "http://$1/healthz" >/dev/null; }

start() {
	build
	write_env
	# shellcheck disable=SC1091
	source "$STATE/env"
	# Dev default: every trace. The benchmarks start the services with the
	# production default instead (OTEL_TRACES_SAMPLER=parentbased_traceidratio, 0.1).
	export OTEL_EXPORTER_OTLP_ENDPOINT="$BLITZBUY_OTLP_ENDPOINT" OTEL_TRACES_SAMPLER="${OTEL_TRACES_SAMPLER:-parentbased_always_on}"
	local i name bin http metrics
	for i in "${INSTANCES[@]}"; do
		read -r name bin http metrics <<<"$i"
		if [[ $bin == orderapi ]]; then
			if pid_alive "$name" && ready "$http" 2>/dev/null; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; continue; fi
			guard_port "$name" "${http##*:}"
			BLITZBUY_HTTP_ADDR="$http" BLITZBUY_METRICS_ADDR="$metrics" OTEL_SERVICE_NAME=order-api \
				spawn "$name" "$LOGS/$name.log" "$BIN/orderapi"
			wait_for "$name" 30 "$LOGS/$name.log" ready "$http"
			log "$(printf '%-13s' "$name") up   http://$http (log: $LOGS/$name.log)"
		else
			if pid_alive "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; continue; fi
			BLITZBUY_METRICS_ADDR="$metrics" OTEL_SERVICE_NAME=order-writer spawn "$name" "$LOGS/$name.log" "$BIN/orderwriter"
			log "$(printf '%-13s' "$name") started (log: $LOGS/$name.log)"
		fi
	done
	if [[ $PROFILE == cluster ]]; then
		wait_for "haproxy -> order-api" 30 "$LOGS/haproxy.log" ready "$API_ADDR"
		log "load balancer   http://$API_ADDR -> 127.0.0.1:8081, 127.0.0.1:8082"
	fi
	log "settings for clients: source $STATE/env"
}

stop() {
	local i name rest
	for i in "${INSTANCES[@]}"; do read -r name rest <<<"$i"; stop_pid "$name"; done
}

status() {
	local i name bin http metrics
	for i in "${INSTANCES[@]}"; do
		read -r name bin http metrics <<<"$i"
		if [[ $bin == orderapi ]]; then
			if ready "$http" 2>/dev/null; then echo "$(printf '%-13s' "$name") up   http://$http (metrics $metrics)"
			else echo "$(printf '%-13s' "$name") down http://$http"; fi
		elif pid_alive "$name" && healthy "$metrics" 2>/dev/null; then echo "$(printf '%-13s' "$name") up   (metrics $metrics)"
		else echo "$(printf '%-13s' "$name") down"; fi
	done
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
*) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
