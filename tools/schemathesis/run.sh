#!/usr/bin/env bash
# The property-based API check: schemathesis (pinned, tools/schemathesis/
# requirements.txt) drives a running order-api from docs/openapi.yaml and
# fails on any server error, any response off the schema (status, headers,
# content type, body), any schema-invalid request accepted, and any
# schema-valid request refused that allow.yaml does not explain.
#
#   tools/schemathesis/run.sh [--url URL] [--max-time S] [schemathesis run flags…]
#
#   --url URL       the API (default $BLITZBUY_API_URL from .local/env)
#   --max-time S    bound of the whole run in seconds (default 150)
#
# Credentials: BLITZBUY_ADMIN_TOKEN from .local/env, and a user JWT minted for
# a user of this run with `blitzctl token`. It creates sales with random ids in
# the shared stores (and orders in them): run it where that is fine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

url="" max_time=150 extra=()
while (($#)); do
	case $1 in
	--url) url=$2; shift 2 ;;
	--max-time) max_time=$2; shift 2 ;;
	-h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) extra+=("$1"); shift ;;
	esac
done
[[ -f .local/env ]] || { echo "api check: no .local/env - start the services first (go tool task run)" >&2; exit 2; }
# shellcheck disable=SC1091
source .local/env
url="${url:-$BLITZBUY_API_URL}"

bin="$(bash tools/schemathesis/install.sh)"
curl -fsS --max-time 5 "$url/readyz" >/dev/null || { echo "api check: $url/readyz does not answer 200" >&2; exit 2; }

# A user of its own per run: its orders, rate-limit windows and
# Idempotency-Keys start empty.
user="schemathesis-$(date +%s)-$RANDOM"
BLITZBUY_USER_TOKEN="$(go run ./services/cmd/blitzctl token --user "$user" --ttl 30m)"
export BLITZBUY_USER_TOKEN BLITZBUY_ADMIN_TOKEN
export SCHEMATHESIS_HOOKS="$PWD/tools/schemathesis/hooks.py"

report=.local/schemathesis
mkdir -p "$report"
echo "api check: schemathesis $("$bin/schemathesis" --version | sed 's/.*version //') against $url as user $user, at most ${max_time}s"
set +e
"$bin/schemathesis" --config-file tools/schemathesis/schemathesis.toml --no-color run docs/openapi.yaml \
	--url "$url" --max-time "$max_time" \
	--checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance_allowlisted \
	--report junit --report-dir "$report" "${extra[@]}"
rc=$?
set -e
if ((rc != 0)); then
	echo "api check: FAILED (schemathesis exit $rc; JUnit report in $report/)" >&2
	exit "$rc"
fi
echo "api check: passed"
