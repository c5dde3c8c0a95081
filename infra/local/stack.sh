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
# Components: redis postgres kafka jaeger prometheus (default: all, in that order),
# and haproxy with BLITZBUY_PROFILE=cluster, which also makes redis a primary,
# two replicas and three Sentinels, and kafka three brokers (docs/operations.md).
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
# Every Redis node's memory budget (docs/operations.md, "Redis memory"): at it
# Redis refuses new orders (503) rather than evicting ledger keys.
REDIS_MAXMEMORY="${BLITZBUY_REDIS_MAXMEMORY:-1gb}"

ALL=(redis postgres kafka jaeger prometheus)
[[ $PROFILE == cluster ]] && ALL+=(haproxy)

# The cluster profile: nodes 1..3 of Redis and Kafka sit on consecutive
# ports above the single node's (docs/operations.md has the table).
NODES=(1 2 3)
SENTINEL_PORT="${BLITZBUY_SENTINEL_PORT:-26379}"
REDIS_MASTER_SET=blitzbuy
LB_PORT="${BLITZBUY_LB_PORT:-8080}"
redis_node_port() { echo $((REDIS_PORT + $1 - 1)); }
sentinel_port() { echo $((SENTINEL_PORT + $1 - 1)); }
kafka_node_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
kafka_node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }

# ---------------------------------------------------------------- Redis
redis_up() {
	apt_install redis-server redis-tools
	if [[ $PROFILE == cluster ]]; then redis_cluster_up; return; fi
	pid_alive redis && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
	guard_port redis "$REDIS_PORT"
	mkdir -p "$DATA/redis"
	spawn redis "$LOGS/redis.log" redis-server \
		--bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA/redis" \
		--appendonly yes --appendfsync everysec --save "" \
		--maxmemory "$REDIS_MAXMEMORY" --maxmemory-policy noeviction --daemonize no --protected-mode yes
	wait_for redis 30 "$LOGS/redis.log" redis-cli -p "$REDIS_PORT" ping
}
redis_status() {
	if [[ $PROFILE == cluster ]]; then redis_cluster_status; return; fi
	if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
		echo "up   127.0.0.1:$REDIS_PORT  redis $(redis-cli -p "$REDIS_PORT" info server | sed -n 's/^redis_version:\(.*\)\r$/\1/p') aof=$(redis-cli -p "$REDIS_PORT" config get appendonly | tail -1) maxmemory=$(redis-cli -p "$REDIS_PORT" config get maxmemory | tail -1)"
	else echo "down 127.0.0.1:$REDIS_PORT"; fi
}
redis_down() {
	if [[ $PROFILE == cluster ]]; then
		local n
		for n in "${NODES[@]}"; do stop_pid "sentinel-$n"; done
		for n in "${NODES[@]}"; do stop_pid "redis-$n"; done
		return
	fi
	stop_pid redis
}

# The primary, as the Sentinels know it: asked of a running Sentinel, else read
# from the config a Sentinel rewrote on its last failover, else node 1. Nodes
# that restart come back as replicas of it, never as a second primary.
redis_primary_port() {
	local n addr
	for n in "${NODES[@]}"; do
		addr="$(redis-cli -p "$(sentinel_port "$n")" sentinel get-master-addr-by-name "$REDIS_MASTER_SET" 2>/dev/null | sed -n 2p)"
		[[ -n $addr ]] && { echo "$addr"; return; }
	done
	addr="$(sed -n "s/^sentinel monitor $REDIS_MASTER_SET 127.0.0.1 \([0-9]*\) .*/\1/p" "$STATE/sentinel/sentinel-1.conf" 2>/dev/null)"
	echo "${addr:-$(redis_node_port 1)}"
}
sentinel_ready() { # sentinel_ready PORT — it knows the primary, both replicas and the two other Sentinels
	local p=$1
	[[ "$(redis-cli -p "$p" sentinel replicas "$REDIS_MASTER_SET" 2>/dev/null | grep -c '^ip$')" -ge 2 ]] &&
		[[ "$(redis-cli -p "$p" sentinel sentinels "$REDIS_MASTER_SET" 2>/dev/null | grep -c '^ip$')" -ge 2 ]]
}
redis_cluster_up() {
	local n port primary args
	primary="$(redis_primary_port)"
	for n in "${NODES[@]}"; do
		port="$(redis_node_port "$n")"
		pid_alive "redis-$n" && redis-cli -p "$port" ping >/dev/null 2>&1 && continue
		guard_port "redis-$n" "$port"
		mkdir -p "$DATA/redis-$n"
		args=(--bind 127.0.0.1 --port "$port" --dir "$DATA/redis-$n"
			--appendonly yes --appendfsync everysec --save ""
			--maxmemory "$REDIS_MAXMEMORY" --maxmemory-policy noeviction --daemonize no --protected-mode yes
			# A primary cut off from both replicas for 10 s stops taking
			# writes, which bounds what a failover can lose (docs/operations.md).
			--min-replicas-to-write 1 --min-replicas-max-lag 10)
		[[ $port != "$primary" ]] && args+=(--replicaof 127.0.0.1 "$primary")
		spawn "redis-$n" "$LOGS/redis-$n.log" redis-server "${args[@]}"
	done
	for n in "${NODES[@]}"; do wait_for "redis-$n" 30 "$LOGS/redis-$n.log" redis-cli -p "$(redis_node_port "$n")" ping; done
	mkdir -p "$STATE/sentinel"
	for n in "${NODES[@]}"; do
		port="$(sentinel_port "$n")"
		pid_alive "sentinel-$n" && redis-cli -p "$port" ping >/dev/null 2>&1 && continue
		guard_port "sentinel-$n" "$port"
		mkdir -p "$DATA/sentinel-$n"
		# Sentinel rewrites its config (the current primary, the known peers),
		# so the file is written once and kept across restarts.
		[[ -s "$STATE/sentinel/sentinel-$n.conf" ]] || cat >"$STATE/sentinel/sentinel-$n.conf" <<-EOF
			bind 127.0.0.1
			port $port
			dir $DATA/sentinel-$n
			sentinel monitor $REDIS_MASTER_SET 127.0.0.1 $primary 2
			sentinel down-after-milliseconds $REDIS_MASTER_SET 2000
			sentinel failover-timeout $REDIS_MASTER_SET 10000
			sentinel parallel-syncs $REDIS_MASTER_SET 1
		EOF
		spawn "sentinel-$n" "$LOGS/sentinel-$n.log" redis-server "$STATE/sentinel/sentinel-$n.conf" --sentinel
	done
	for n in "${NODES[@]}"; do wait_for "sentinel-$n" 60 "$LOGS/sentinel-$n.log" sentinel_ready "$(sentinel_port "$n")"; done
}
redis_cluster_status() {
	local n port role line=""
	for n in "${NODES[@]}"; do
		port="$(redis_node_port "$n")"
		role="$(redis-cli -p "$port" info replication 2>/dev/null | sed -n 's/^role:\(.*\)\r$/\1/p')"
		case $role in master) role=primary ;; slave) role=replica ;; "") role=down ;; esac
		line+=" redis-$n :$port $role;"
	done
	local up=0 primary=""
	for n in "${NODES[@]}"; do
		port="$(sentinel_port "$n")"
		redis-cli -p "$port" ping >/dev/null 2>&1 && up=$((up + 1)) &&
			primary="$(redis-cli -p "$port" sentinel get-master-addr-by-name "$REDIS_MASTER_SET" | paste -sd: -)"
	done
	local state=up; [[ $up -eq 0 ]] && state=down
	echo "$state  ${line% ;} | sentinels $up/3 up (:$SENTINEL_PORT-:$((SENTINEL_PORT + 2)), quorum 2) primary=${primary:-?}"
}

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
kafka_bootstrap() {
	if [[ $PROFILE == cluster ]]; then
		local n out=""; for n in "${NODES[@]}"; do out+="${out:+,}127.0.0.1:$(kafka_node_port "$n")"; done; echo "$out"
	else echo "127.0.0.1:$KAFKA_PORT"; fi
}
kafka_topics() { kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$(kafka_bootstrap)" "$@"; }
kafka_spawn() { # kafka_spawn NAME PROPS — one broker JVM
	# Heap sized for a 2-core/24 GiB machine shared with everything else.
	spawn "$1" "$LOGS/$1.log" java -Xms512m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Djava.awt.headless=true -Dkafka.logs.dir="$LOGS" \
		-Dlog4j2.configurationFile="$ROOT/infra/kafka/log4j2.properties" \
		-cp "$KAFKA_HOME/libs/*" kafka.Kafka "$2"
}
kafka_render() { # kafka_render PORT CONTROLLER_PORT LOG_DIR — the template with this node's values
	sed -e "s#@LOG_DIR@#$3#" -e "s#@PORT@#$1#g" -e "s#@CONTROLLER_PORT@#$2#g" \
		-e "s#@DRILL_PORT@#$(($1 + 10100))#g" -e "s#@DRILL_PROXY_PORT@#$(($1 + 10000))#g" "$ROOT/infra/kafka/server.properties"
}
kafka_up() {
	kafka_install
	if [[ $PROFILE == cluster ]]; then kafka_cluster_up; return; fi
	if pid_alive kafka && port_open "$KAFKA_PORT"; then return 0; fi
	guard_port kafka "$KAFKA_PORT"; guard_port kafka-controller "$KAFKA_CONTROLLER_PORT"
	guard_port kafka-drill "$((KAFKA_PORT + 10100))"
	local dir="$DATA/kafka" props="$STATE/kafka/server.properties"
	mkdir -p "$dir" "$STATE/kafka"
	kafka_render "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$dir" >"$props"
	if [[ ! -f "$dir/meta.properties" ]]; then
		log "formatting Kafka KRaft storage in $dir"
		local id; id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka-format.log")"
		kafka_java kafka.tools.StorageTool format --cluster-id "$id" --config "$props" --standalone \
			>>"$LOGS/kafka-format.log" 2>&1 || die "kafka storage format (log: $LOGS/kafka-format.log)"
	fi
	kafka_spawn kafka "$props"
	wait_for kafka 120 "$LOGS/kafka.log" port_open "$KAFKA_PORT"
	# The broker is listening; topic creation also proves it serves metadata.
	local t
	for t in "orders:12" "orders.dlq:3"; do
		kafka_topics --create --if-not-exists --topic "${t%%:*}" --partitions "${t##*:}" --replication-factor 1 \
			>>"$LOGS/kafka-topics.log" 2>&1 || die "creating topic ${t%%:*} (log: $LOGS/kafka-topics.log)"
	done
}

# Three combined broker+controller nodes with a static controller quorum;
# infra/kafka/cluster.properties overrides the single node's settings
# (replication factor 3, min.insync.replicas 2, 7-day retention, faster
# fencing of a dead broker). Later keys win in a Java properties file.
kafka_cluster_up() {
	local n voters="" all=1
	for n in "${NODES[@]}"; do
		voters+="${voters:+,}$n@127.0.0.1:$(kafka_node_controller_port "$n")"
		pid_alive "kafka-$n" && port_open "$(kafka_node_port "$n")" || all=0
	done
	((all)) && return 0
	mkdir -p "$STATE/kafka"
	local id_file="$DATA/kafka-cluster.id" id
	[[ -s $id_file ]] || kafka_java kafka.tools.StorageTool random-uuid >"$id_file" 2>>"$LOGS/kafka-format.log"
	id="$(cat "$id_file")"
	for n in "${NODES[@]}"; do
		local port cport dir="$DATA/kafka-$n" props="$STATE/kafka/server-$n.properties"
		port="$(kafka_node_port "$n")"; cport="$(kafka_node_controller_port "$n")"
		pid_alive "kafka-$n" && port_open "$port" && continue
		guard_port "kafka-$n" "$port"; guard_port "kafka-$n-controller" "$cport"
		mkdir -p "$dir"
		{
			kafka_render "$port" "$cport" "$dir" | sed '/^controller.quorum.bootstrap.servers=/d'
			sed -e "s#@NODE_ID@#$n#" -e "s#@VOTERS@#$voters#" "$ROOT/infra/kafka/cluster.properties"
		} >"$props"
		if [[ ! -f "$dir/meta.properties" ]]; then
			log "formatting Kafka KRaft storage of node $n in $dir"
			kafka_java kafka.tools.StorageTool format --cluster-id "$id" --config "$props" \
				>>"$LOGS/kafka-format.log" 2>&1 || die "kafka storage format of node $n (log: $LOGS/kafka-format.log)"
		fi
		kafka_spawn "kafka-$n" "$props"
	done
	for n in "${NODES[@]}"; do wait_for "kafka-$n" 180 "$LOGS/kafka-$n.log" port_open "$(kafka_node_port "$n")"; done
	# Replication factor 3 needs all three brokers registered: retry while
	# they join. Topic-level settings repeat the brokers' defaults on purpose,
	# so they hold even if a broker's config drifts.
	local t deadline=$((SECONDS + 90))
	for t in "orders:12" "orders.dlq:3"; do
		until kafka_topics --create --if-not-exists --topic "${t%%:*}" --partitions "${t##*:}" --replication-factor 3 \
			--config min.insync.replicas=2 --config retention.ms=604800000 --config unclean.leader.election.enable=false \
			>>"$LOGS/kafka-topics.log" 2>&1; do
			((SECONDS < deadline)) || die "creating topic ${t%%:*} with 3 replicas (log: $LOGS/kafka-topics.log)"
			sleep 2
		done
	done
}
kafka_status() {
	if [[ $PROFILE == cluster ]]; then kafka_cluster_status; return; fi
	if pid_alive kafka && port_open "$KAFKA_PORT"; then echo "up   127.0.0.1:$KAFKA_PORT  kafka $KAFKA_VERSION (KRaft, controller :$KAFKA_CONTROLLER_PORT)"
	elif port_open "$KAFKA_PORT"; then echo "up   127.0.0.1:$KAFKA_PORT  kafka (not started by this stack)"
	else echo "down 127.0.0.1:$KAFKA_PORT"; fi
}
kafka_cluster_status() {
	local n up=0 line="" leader="?" bootstrap=""
	for n in "${NODES[@]}"; do
		if pid_alive "kafka-$n" && port_open "$(kafka_node_port "$n")"; then
			up=$((up + 1)); bootstrap+="${bootstrap:+,}127.0.0.1:$(kafka_node_port "$n")"
			line+=" node $n :$(kafka_node_port "$n") broker+controller;"
		else line+=" node $n :$(kafka_node_port "$n") down;"; fi
	done
	if ((up)) && [[ ${1:-} != --quick ]]; then
		leader="$(kafka_java org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$bootstrap" describe --status 2>/dev/null |
			sed -n 's/^LeaderId:[[:space:]]*//p')"
	fi
	local state=up; ((up)) || state=down
	echo "$state  kafka $KAFKA_VERSION$line ${up}/3 up, active controller: node ${leader:-?}"
}
kafka_down() {
	if [[ $PROFILE == cluster ]]; then
		local n; for n in "${NODES[@]}"; do stop_pid "kafka-$n"; done
		return
	fi
	stop_pid kafka
}

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
# The console pages (/consoles/blitzbuy-overview.html, …) are the dashboards
# generated from observability/dashboards, for this stack without Grafana.
prometheus_up() {
	apt_install prometheus
	if pid_alive prometheus && prom_ready; then return 0; fi
	guard_port prometheus "$PROM_PORT"
	mkdir -p "$DATA/prometheus"
	spawn prometheus "$LOGS/prometheus.log" prometheus \
		--config.file="$ROOT/observability/prometheus/prometheus.yml" \
		--storage.tsdb.path="$DATA/prometheus" --storage.tsdb.retention.time=7d \
		--web.listen-address="127.0.0.1:$PROM_PORT" \
		--enable-feature=exemplar-storage \
		--web.console.templates="$ROOT/observability/prometheus/consoles" \
		--web.console.libraries="$ROOT/observability/prometheus/console_libraries"
	wait_for prometheus 60 "$LOGS/prometheus.log" prom_ready
}
prometheus_status() {
	if prom_ready 2>/dev/null; then echo "up   127.0.0.1:$PROM_PORT  prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}') (exemplar-storage)"
	else echo "down 127.0.0.1:$PROM_PORT"; fi
}
prometheus_down() { stop_pid prometheus; }

# ---------------------------------------------------------------- HAProxy (cluster profile)
# In front of the two order-api instances on the usual API address; it checks
# each one's /readyz. The instances themselves are started by run.sh.
lb_ready() { curl -fsS "http://127.0.0.1:8404/stats;csv" >/dev/null; }
haproxy_up() {
	apt_install haproxy
	if pid_alive haproxy && lb_ready; then return 0; fi
	guard_port haproxy "$LB_PORT"
	haproxy -c -q -f "$ROOT/infra/local/haproxy.cfg" >"$LOGS/haproxy-check.log" 2>&1 ||
		die "haproxy config check (log: $LOGS/haproxy-check.log)"
	spawn haproxy "$LOGS/haproxy.log" haproxy -db -f "$ROOT/infra/local/haproxy.cfg"
	wait_for haproxy 30 "$LOGS/haproxy.log" lb_ready
}
haproxy_status() {
	if lb_ready 2>/dev/null; then
		local backends
		backends="$(curl -fsS "http://127.0.0.1:8404/stats;csv" | awk -F, '$1 == "order_api" && $2 != "BACKEND" { printf "%s %s; ", $2, $18 }')"
		echo "up   127.0.0.1:$LB_PORT  haproxy $(haproxy -v | awk 'NR==1{print $3}') -> ${backends%; } (stats :8404)"
	else echo "down 127.0.0.1:$LB_PORT"; fi
}
haproxy_down() { stop_pid haproxy; }

# ---------------------------------------------------------------- commands
# The cluster's clients find the primary through the Sentinels: rueidis's URL
# form, which BLITZBUY_REDIS_ADDR accepts besides host:port.
redis_addr() {
	if [[ $PROFILE == cluster ]]; then
		local n out="redis://127.0.0.1:$(sentinel_port 1)?master_set=$REDIS_MASTER_SET"
		for n in 2 3; do out+="&addr=127.0.0.1:$(sentinel_port "$n")"; done; echo "$out"
	else echo "127.0.0.1:$REDIS_PORT"; fi
}

# One stack at a time: `up` refuses while the other profile's stack runs.
profile_guard() {
	local running; running="$(cat "$STATE/profile" 2>/dev/null || echo default)"
	[[ $running == "$PROFILE" ]] && return 0
	if compgen -G "$RUN/*.pid" >/dev/null; then
		die "the $running profile's stack is running: stop it first (BLITZBUY_PROFILE=$running go tool task down)"
	fi
}

write_env() { # the settings a client of the stack needs, for tests and `task run`
	cat >"$STATE/stack.env" <<-EOF
		export BLITZBUY_PROFILE=$PROFILE
		export BLITZBUY_REDIS_ADDR='$(redis_addr)'
		export BLITZBUY_POSTGRES_URL=postgres://blitzbuy:$(secret postgres)@127.0.0.1:$PG_PORT/blitzbuy?sslmode=disable
		export BLITZBUY_KAFKA_BROKERS=$(kafka_bootstrap)
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
	profile_guard
	echo "$PROFILE" >"$STATE/profile"
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
	compgen -G "$RUN/*.pid" >/dev/null || rm -f "$STATE/profile"
	if ((purge)); then
		for c in "${list[@]}"; do
			case $c in
			postgres) rm -rf "$(pg_data)" ;;
			redis) rm -rf "${DATA:?}"/redis-* "${DATA:?}"/sentinel-* "${STATE:?}/sentinel" "${DATA:?}/redis" ;;
			kafka) rm -rf "${DATA:?}"/kafka-* "${DATA:?}/kafka" ;;
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
