# Shared helpers of the local stack scripts (stack.sh, run.sh). Sourced, not run.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${BLITZBUY_STATE_DIR:-$ROOT/.local}"
CACHE="${BLITZBUY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/blitzbuy}"
LOGS="$STATE/logs"
RUN="$STATE/run"
DATA="$STATE/data"
mkdir -p "$LOGS" "$RUN" "$DATA"

# BLITZBUY_PROFILE selects the topology: `default` (one node of everything)
# or `cluster` (3 Kafka brokers, Redis primary + 2 replicas + 3 Sentinels,
# HAProxy in front of 2 order-api, 2 order-writers). docs/operations.md.
PROFILE="${BLITZBUY_PROFILE:-default}"
case "$PROFILE" in
default | cluster) ;;
*) printf '\033[31m[stack] FAILED:\033[0m BLITZBUY_PROFILE=%s: want default or cluster\n' "$PROFILE" >&2; exit 1 ;;
esac

log()  { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }
die()  { printf '\033[31m[stack] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_install() { # apt_install pkg… — installs only what is missing
	local missing=()
	for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
	((${#missing[@]})) || return 0
	log "installing Debian packages: ${missing[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$LOGS/apt.log" 2>&1 || die "apt-get update (log: $LOGS/apt.log)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1 ||
		die "apt-get install ${missing[*]} (log: $LOGS/apt.log)"
}

# port_open PORT — true when something accepts TCP on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME TIMEOUT_S LOGFILE CMD… — polls CMD until it succeeds.
wait_for() {
	local name=$1 timeout=$2 logfile=$3; shift 3
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			tail -n 30 "$logfile" >&2 2>/dev/null || true
			die "$name not ready after ${timeout}s (log: $logfile)"
		fi
		sleep 0.2
	done
}

pid_alive() { [[ -f "$RUN/$1.pid" ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# guard_port NAME PORT — refuse to start when a process we did not start holds the port.
guard_port() {
	if port_open "$2"; then
		local who; who="$(ss -ltnpH "sport = :$2" 2>/dev/null | sed -n 's/.*users:((\(.*\)).*/\1/p' | head -1)"
		die "$1: port $2 is already in use by a process this stack did not start (${who:-unknown}); stop it or set the port"
	fi
}

# spawn NAME LOGFILE CMD… — start CMD detached in its own session, remember its PID.
spawn() {
	local name=$1 logfile=$2; shift 2
	setsid "$@" >>"$logfile" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
}

stop_pid() { # stop_pid NAME — SIGTERM, wait up to 30 s, then SIGKILL.
	local name=$1 pid
	pid_alive "$name" || { rm -f "$RUN/$name.pid"; return 0; }
	pid="$(cat "$RUN/$name.pid")"
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in 30 s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
	rm -f "$RUN/$name.pid"
}

secret() { # secret NAME — a per-machine random secret, generated once, never committed.
	local f="$STATE/secrets/$1"
	if [[ ! -s "$f" ]]; then
		mkdir -p "$STATE/secrets"; chmod 700 "$STATE/secrets"
		od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$f"; chmod 600 "$f"
	fi
	cat "$f"
}

