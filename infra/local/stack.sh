#!/usr/bin/env bash
# The BlitzBuy local stack without Docker: Redis, PostgreSQL, Apache Kafka
# (KRaft), Jaeger v2 and Prometheus, each a real server started from this
# machine's packages (Debian, Maven Central, the Go module proxy).
#
#   stack.sh up     [component…]   install what is missing, start, wait until ready
#   stack.sh down   [component…] [--purge]   stop what `up` started (by PID); --purge wipes data
#   stack.sh status                one line per component: up/down, address, version
#   stack.sh env                   print the connection settings as `export NAME=value`
#
# Components: redis postgres kafka jaeger prometheus (default: all, in that order).
# Every step is idempotent: a second `up` finds everything healthy and returns.
#
# Layout (see docs/operations.md):
#   $STATE = <repo>/.local             data/, logs/, run/*.pid, secrets, stack.env (gitignored)
#   $CACHE = ~/.cache/blitzbuy         Kafka jars and the Jaeger binary, shared by clones
set -euo pipefail

# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/infra/kafka/pom.xml")"
JAEGER_VERSION="$(awk '$1 == "github.com/jaegertracing/jaeger" { sub(/^v/, "", $2); print $2; exit }' "$ROOT/infra/jaeger/go.mod")"

REDIS_PORT="${BLITZBUY_REDIS_PORT:-6379}"
PG_PORT="${BLITZBUY_PG_PORT:-5432}"
KAFKA_PORT="${BLITZBUY_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${BLITZBUY_KAFKA_CONTROLLER_PORT:-9093}"
JAEGER_UI_PORT=16686
PROM_PORT="${BLITZBUY_PROMETHEUS_PORT:-9090}"

ALL=(redis postgres kafka jaeger prometheus)

# ---------------------------------------------------------------- Redis
redis_up() {
	apt_install redis-server redis-tools
	pid_alive redis && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
	guard_port redis "$REDIS_PORT"
	mkdir -p "$DATA/redis"
	spawn redis "$LOGS/redis.log" redis-server \
		--bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA/redis" \
		--appendonly yes --appendfsync everysec --save "" \
		--maxmemory-policy noeviction --daemonize no --protected-mode yes
	wait_for redis 30 "$LOGS/redis.log" redis-cli -p "$REDIS_PORT" ping
}
redis_status() {
	if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
		echo "up   127.0.0.1:$REDIS_PORT  redis $(redis-cli -p "$REDIS_PORT" info server | sed -n 's/^redis_version:\(.*\)\r$/\1/p') aof=$(redis-cli -p "$REDIS_PORT" config get appendonly | tail -1)"
	else echo "down 127.0.0.1:$REDIS_PORT"; fi
}
redis_down() { stop_pid redis; }

# ---------------------------------------------------------------- PostgreSQL
PG_BIN=""
pg_bin() {
	[[ -n "$PG_BIN" ]] && return 0
	PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
	[[ -x "$PG_BIN/postgres" ]] || die "postgres binaries not found under /usr/lib/postgresql"
}
# PostgreSQL refuses to run as root, so as root it runs as the `postgres`
# user; its data then has to live where that user can reach it.
pg_as() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_data() {
	if [[ $EUID -ne 0 ]] || runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
		echo "$DATA/postgres"
	else # the clone sits below a folder closed to other users (e.g. /root)
		echo "/var/lib/blitzbuy/$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)/postgres"
	fi
}
pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }
postgres_up() {
	apt_install postgresql
	pg_bin
	local pgdata; pgdata="$(pg_data)"
	if [[ -s "$RUN/postgres.pid" ]] && kill -0 "$(cat "$RUN/postgres.pid")" 2>/dev/null && pg_ready; then return 0; fi
	guard_port postgres "$PG_PORT"
	local pw; pw="$(secret postgres)"
	if [[ ! -s "$pgdata/PG_VERSION" ]]; then
		log "initialising PostgreSQL data in $pgdata"
		mkdir -p "$pgdata"
		[[ $EUID -eq 0 ]] && chown -R postgres:postgres "$(dirname "$pgdata")"
		pg_as "$PG_BIN/initdb" -D "$pgdata" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
			--encoding=UTF8 --locale=C.UTF-8 >"$LOGS/postgres-init.log" 2>&1 ||
			die "initdb (log: $LOGS/postgres-init.log)"
	fi
	touch "$LOGS/postgres.log"; [[ $EUID -eq 0 ]] && chown postgres "$LOGS/postgres.log"
	pg_as "$PG_BIN/pg_ctl" -D "$pgdata" -l "$LOGS/postgres.log" -w -t 60 start \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$pgdata -c max_connections=200 -c shared_buffers=256MB -c synchronous_commit=on" \
		>/dev/null 2>&1 || { tail -n 30 "$LOGS/postgres.log" >&2; die "postgres did not start (log: $LOGS/postgres.log)"; }
	head -1 "$pgdata/postmaster.pid" >"$RUN/postgres.pid"
	wait_for postgres 60 "$LOGS/postgres.log" pg_ready
	# Role and database, idempotently; the password is the per-machine secret.
	pg_as "$PG_BIN/psql" -h "$pgdata" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q >/dev/null <<-SQL ||
		SELECT 'CREATE ROLE blitzbuy LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'blitzbuy') \gexec
		ALTER ROLE blitzbuy WITH LOGIN PASSWORD '$pw';
		SELECT 'CREATE DATABASE blitzbuy OWNER blitzbuy' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'blitzbuy') \gexec
	SQL
		die "creating the blitzbuy role/database (log: $LOGS/postgres.log)"
}
postgres_status() {
	pg_bin 2>/dev/null || { echo "down 127.0.0.1:$PG_PORT  (not installed)"; return; }
	if pg_ready; then echo "up   127.0.0.1:$PG_PORT  postgresql $("$PG_BIN/postgres" --version | awk '{print $3}') db=blitzbuy"
	else echo "down 127.0.0.1:$PG_PORT"; fi
}
postgres_down() {
	pg_bin 2>/dev/null || return 0
	local pgdata; pgdata="$(pg_data)"
	if [[ -f "$pgdata/postmaster.pid" ]]; then
		pg_as "$PG_BIN/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 || true
	fi
	rm -f "$RUN/postgres.pid"
}

# ---------------------------------------------------------------- Kafka (KRaft)
# The cache key includes the POM, so a changed dependency list fetches anew.
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION-$(cksum <"$ROOT/infra/kafka/pom.xml" | cut -d" " -f1)"
kafka_java() { java -Xms128m -Xmx256m -XX:TieredStopAtLevel=1 -cp "$KAFKA_HOME/libs/*" \
	-Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2-tools.properties" "$@"; }
kafka_install() {
	command -v java >/dev/null || apt_install openjdk-17-jre-headless
	command -v mvn >/dev/null || apt_install maven
	[[ -f "$KAFKA_HOME/libs/kafka_2.13-$KAFKA_VERSION.jar" ]] && return 0
	log "fetching Apache Kafka $KAFKA_VERSION jars with Maven into $KAFKA_HOME"
	mkdir -p "$KAFKA_HOME"
	mvn -q -B -f "$ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
		-DoutputDirectory="$KAFKA_HOME/libs.tmp" -DincludeScope=runtime >"$LOGS/kafka-maven.log" 2>&1 ||
		die "maven could not fetch Kafka (log: $LOGS/kafka-maven.log)"
	rm -rf "$KAFKA_HOME/libs" && mv "$KAFKA_HOME/libs.tmp" "$KAFKA_HOME/libs"
}
kafka_topics() { kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" "$@"; }
kafka_up() {
	kafka_install
	if pid_alive kafka && port_open "$KAFKA_PORT"; then return 0; fi
	guard_port kafka "$KAFKA_PORT"; guard_port kafka-controller "$KAFKA_CONTROLLER_PORT"
	local dir="$DATA/kafka" props="$STATE/kafka/server.properties"
	mkdir -p "$dir" "$STATE/kafka"
	sed -e "s#@LOG_DIR@#$dir#" -e "s#@PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
		"$ROOT/infra/kafka/server.properties" >"$props"
	if [[ ! -f "$dir/meta.properties" ]]; then
		log "formatting Kafka KRaft storage in $dir"
		local id; id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka-format.log")"
		kafka_java kafka.tools.StorageTool format --cluster-id "$id" --config "$props" --standalone \
			>>"$LOGS/kafka-format.log" 2>&1 || die "kafka storage format (log: $LOGS/kafka-format.log)"
	fi
	# Heap sized for a 2-core/24 GiB machine shared with everything else.
	spawn kafka "$LOGS/kafka.log" java -Xms512m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true -Dkafka.logs.dir="$LOGS" \
		-Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties" \
		-cp "$KAFKA_HOME/libs/*" kafka.Kafka "$props"
	wait_for kafka 120 "$LOGS/kafka.log" port_open "$KAFKA_PORT"
	# The broker is listening; topic creation also proves it serves metadata.
	local t
	for t in "orders:12" "orders.dlq:3"; do
		kafka_topics --create --if-not-exists --topic "${t%%:*}" --partitions "${t##*:}" --replication-factor 1 \
			>>"$LOGS/kafka-topics.log" 2>&1 || die "creating topic ${t%%:*} (log: $LOGS/kafka-topics.log)"
	done
}
kafka_status() {
	if pid_alive kafka && port_open "$KAFKA_PORT"; then echo "up   127.0.0.1:$KAFKA_PORT  kafka $KAFKA_VERSION (KRaft, controller :$KAFKA_CONTROLLER_PORT)"
	elif port_open "$KAFKA_PORT"; then echo "up   127.0.0.1:$KAFKA_PORT  kafka (not started by this stack)"
	else echo "down 127.0.0.1:$KAFKA_PORT"; fi
}
kafka_down() { stop_pid kafka; }

# ---------------------------------------------------------------- Jaeger v2
JAEGER_BIN="$CACHE/bin/jaeger-v$JAEGER_VERSION"
jaeger_ready() { curl -fsS "http://127.0.0.1:13133/status" >/dev/null && curl -fsS "http://127.0.0.1:$JAEGER_UI_PORT/api/services" >/dev/null; }
jaeger_up() {
	if [[ ! -x "$JAEGER_BIN" ]]; then
		log "building Jaeger v$JAEGER_VERSION from the Go module proxy (once per machine, ~5 min)"
		mkdir -p "$CACHE/bin"
		(cd "$ROOT/infra/jaeger" && GOWORK=off go build -trimpath -o "$JAEGER_BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger) \
			>"$LOGS/jaeger-build.log" 2>&1 || die "building jaeger (log: $LOGS/jaeger-build.log)"
		mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
	fi
	if pid_alive jaeger && jaeger_ready; then return 0; fi
	guard_port jaeger "$JAEGER_UI_PORT"; guard_port jaeger-otlp 4317
	spawn jaeger "$LOGS/jaeger.log" "$JAEGER_BIN" --config "$ROOT/observability/jaeger/config.yaml"
	wait_for jaeger 60 "$LOGS/jaeger.log" jaeger_ready
}
jaeger_status() {
	if jaeger_ready 2>/dev/null; then echo "up   127.0.0.1:$JAEGER_UI_PORT  jaeger v$JAEGER_VERSION (OTLP :4317 :4318)"
	else echo "down 127.0.0.1:$JAEGER_UI_PORT"; fi
}
jaeger_down() { stop_pid jaeger; }

# ---------------------------------------------------------------- Prometheus
prom_ready() { curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null; }
prometheus_up() {
	apt_install prometheus
	if pid_alive prometheus && prom_ready; then return 0; fi
	guard_port prometheus "$PROM_PORT"
	mkdir -p "$DATA/prometheus"
	spawn prometheus "$LOGS/prometheus.log" prometheus \
		--config.file="$ROOT/observability/prometheus/prometheus.yml" \
		--storage.tsdb.path="$DATA/prometheus" --storage.tsdb.retention.time=7d \
		--web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-lifecycle \
		--enable-feature=exemplar-storage
	wait_for prometheus 60 "$LOGS/prometheus.log" prom_ready
}
prometheus_status() {
	if prom_ready 2>/dev/null; then echo "up   127.0.0.1:$PROM_PORT  prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}') (exemplar-storage)"
	else echo "down 127.0.0.1:$PROM_PORT"; fi
}
prometheus_down() { stop_pid prometheus; }

# ---------------------------------------------------------------- commands
write_env() { # the settings a client of the stack needs, for tests and `task run`
	cat >"$STATE/stack.env" <<-EOF
		export BLITZBUY_REDIS_ADDR=127.0.0.1:$REDIS_PORT
		export BLITZBUY_POSTGRES_URL=postgres://blitzbuy:$(secret postgres)@127.0.0.1:$PG_PORT/blitzbuy?sslmode=disable
		export BLITZBUY_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
		export BLITZBUY_JAEGER_URL=http://127.0.0.1:$JAEGER_UI_PORT
		export BLITZBUY_OTLP_ENDPOINT=http://127.0.0.1:4318
		export BLITZBUY_PROMETHEUS_URL=http://127.0.0.1:$PROM_PORT
	EOF
	chmod 600 "$STATE/stack.env"
}

components() { # validate and default the component list
	local c
	(($#)) || set -- "${ALL[@]}"
	for c in "$@"; do [[ " ${ALL[*]} " == *" $c "* ]] || die "unknown component '$c' (one of: ${ALL[*]})"; done
	echo "$@"
}

cmd="${1:-}"; shift || true
case "$cmd" in
up)
	for c in $(components "$@"); do
		t0=$SECONDS; "${c}_up"; log "$(printf '%-10s' "$c") $("${c}_status") ($((SECONDS - t0))s)"
	done
	write_env
	;;
down)
	purge=0; args=()
	for a in "$@"; do if [[ $a == --purge ]]; then purge=1; else args+=("$a"); fi; done
	list=($(components "${args[@]+"${args[@]}"}"))
	for ((i = ${#list[@]} - 1; i >= 0; i--)); do "${list[i]}_down"; log "${list[i]} stopped"; done
	if ((purge)); then
		for c in "${list[@]}"; do
			case $c in
			postgres) rm -rf "$(pg_data)" ;;
			*) rm -rf "${DATA:?}/$c" ;;
			esac
		done
		log "data wiped for: ${list[*]}"
	fi
	;;
status)
	for c in "${ALL[@]}"; do printf '%-11s %s\n' "$c" "$("${c}_status")"; done
	;;
env)
	write_env; cat "$STATE/stack.env"
	;;
*)
	sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
	;;
esac
