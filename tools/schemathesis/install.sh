#!/usr/bin/env bash
# Installs the API check's tools (requirements.txt: schemathesis, pinned) into
# a virtualenv, only when it is missing or was made from other requirements.
#
#   tools/schemathesis/install.sh      prints the venv's bin directory
#
# The venv is per clone (.local/venv/schemathesis); pip's cache is the
# project's per-machine cache (~/.cache/blitzbuy/pip, like the Kafka jars), so
# a fresh clone on a warm machine installs without downloading. python3 comes
# with the machine; `python3 -m venv` needs Debian's python3-venv, installed
# with apt-get when it is missing (as infra/local/stack.sh installs its servers).
set -euo pipefail
# shellcheck source=infra/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../infra/local/lib.sh"

REQ="$ROOT/tools/schemathesis/requirements.txt"
VENV="$STATE/venv/schemathesis"
stamp="$(cksum <"$REQ" | cut -d' ' -f1)"

if [[ -x $VENV/bin/schemathesis && "$(cat "$VENV/.requirements" 2>/dev/null)" == "$stamp" ]]; then
	echo "$VENV/bin"
	exit 0
fi
command -v python3 >/dev/null || apt_install python3
probe="$(mktemp -d)"
if ! python3 -m venv "$probe/v" >/dev/null 2>&1; then
	apt_install python3-venv
fi
rm -rf "$probe"

log "installing the API check's tools into $VENV (log: $LOGS/schemathesis-install.log)"
rm -rf "$VENV"
python3 -m venv "$VENV"
export PIP_CACHE_DIR="$CACHE/pip" PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/pip" install --no-input -q -r "$REQ" >"$LOGS/schemathesis-install.log" 2>&1 ||
	{ tail -n 20 "$LOGS/schemathesis-install.log" >&2; die "pip install -r $REQ (log: $LOGS/schemathesis-install.log)"; }
echo "$stamp" >"$VENV/.requirements"
echo "$VENV/bin"
