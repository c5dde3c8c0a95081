#!/usr/bin/env bash
# Runs every Go fuzz target of the workspace for a time budget each, and
# fails when any of them fails.
#
#   tools/fuzz/run.sh [--budget 10s] [--match REGEX] PKG...
#
#   --budget D     -fuzztime of each target: a duration (10s, 1m) or a count
#                  of inputs (500x); default $FUZZTIME, else 10s
#   --match REGEX  only the targets whose name matches (default: all)
#   PKG...         package patterns to search (the Taskfile passes its PKGS)
#
# `go test -fuzz` fuzzes one target per invocation, so each target is its
# own `go test -run '^$' -fuzz '^Name$' -fuzztime D pkg` (which also runs the
# target's seed corpus and testdata/fuzz/ first). Targets are discovered,
# never listed: packages whose _test.go files declare `func Fuzz…` are asked
# with `go test -list '^Fuzz'`, the authority on what exists (the grep only
# spares compiling the test binary of every other package). A failing input
# is written to the package's testdata/fuzz/<Name>/ by go test; commit it
# with the fix so it stays a regression test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

die() { printf 'fuzz: %s\n' "$*" >&2; exit 2; }

budget="${FUZZTIME:-10s}"
match=.
pkgs=()
while (($#)); do
	case $1 in
	--budget) (($# >= 2)) || die "--budget needs a value"; budget=$2; shift 2 ;;
	--budget=*) budget=${1#*=}; shift ;;
	--match) (($# >= 2)) || die "--match needs a value"; match=$2; shift 2 ;;
	--match=*) match=${1#*=}; shift ;;
	-h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown flag $1 (see --help)" ;;
	*) pkgs+=("$1"); shift ;;
	esac
done
((${#pkgs[@]})) || die "no packages given (see --help)"
[[ $budget =~ ^[0-9]+(x|ns|us|ms|s|m|h)$|^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$ ]] ||
	die "--budget $budget: want a duration (10s, 1m) or a count (500x)"

# Every package with a `func Fuzz` in a test file, then its targets.
targets=() # "pkg name"
while read -r dir pkg; do
	grep -qsE '^func Fuzz[A-Z0-9_]' "$dir"/*_test.go || continue
	out="$(go test -list '^Fuzz' "$pkg" 2>&1)" || { printf '%s\n' "$out" >&2; die "go test -list $pkg failed"; }
	while read -r name; do
		[[ $name =~ ^Fuzz ]] && [[ $name =~ $match ]] && targets+=("$pkg $name")
	done <<<"$out"
done < <(go list -f '{{.Dir}} {{.ImportPath}}' "${pkgs[@]}")
((${#targets[@]})) || die "no fuzz targets found in ${pkgs[*]} (match $match)"

printf 'fuzz: %d targets, %s each\n' "${#targets[@]}" "$budget"
results=() failed=0 start=$SECONDS
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	printf '\n=== %s %s (-fuzztime %s)\n' "$name" "$pkg" "$budget"
	t0=$SECONDS
	log="$(mktemp)"
	note=""
	for attempt in 1 2; do
		set +e
		go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" "$pkg" 2>&1 | tee "$log" | sed 's/^/    /'
		rc=${PIPESTATUS[0]}
		set -e
		# go test -fuzz can fail with a bare "context deadline exceeded" when
		# the budget ends (a race between its timeout and its workers' context),
		# with no failing input: not a finding, so that alone is run once more.
		if ((rc != 0)) && ((attempt == 1)) && grep -qE '^[[:space:]]+context deadline exceeded$' "$log" &&
			! grep -qE 'Failing input written|^[[:space:]]+--- FAIL' "$log"; then
			note=" (go test's bare 'context deadline exceeded' on the first run: ran again)"
			printf '    fuzz: go test ended with a bare "context deadline exceeded" and no failing input; running %s again\n' "$name"
			continue
		fi
		break
	done
	# The last progress line says how much ran: "fuzz: elapsed: 10s, execs: 123 (12/sec), new interesting: 4 (total: 60)".
	stats="$(grep -E '^fuzz: elapsed: .*execs:' "$log" | tail -1 | sed -E 's/^fuzz: elapsed: [^,]*, //' || true)"
	rm -f "$log"
	if ((rc == 0)); then verdict=ok; else verdict=FAIL; failed=$((failed + 1)); fi
	if [[ -z $stats ]]; then
		if ((rc == 0)); then stats="seed corpus only (the budget ended during baseline coverage)"; else stats="failed before fuzzing (seed or cached corpus)"; fi
	fi
	results+=("$(printf '%-4s  %-26s  %-56s  %4ss  %s' "$verdict" "$name" "$pkg" "$((SECONDS - t0))" "$stats$note")")
done

printf '\nfuzz summary (%s per target, %ds in all):\n' "$budget" "$((SECONDS - start))"
printf '  %s\n' "${results[@]}"
# The closing line in the plain "N passed, N failed" form CI logs are read for.
printf 'fuzz: %d passed, %d failed\n' "$((${#targets[@]} - failed))" "$failed"
if ((failed)); then
	echo "fuzz: failing inputs were written under the failed packages' testdata/fuzz/<Name>/" >&2
	exit 1
fi
