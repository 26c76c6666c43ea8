#!/usr/bin/env bash
# Runs `make test` N times in a row while busy processes load every core, to catch tests
# whose outcome depends on the machine's speed or load.
#
#   scripts/soak-test.sh [N]     N runs (default 3)
#
# Environment:
#   SOAK_BUSY=2                  how many busy processes run beside the tests (0: none,
#                                for an unloaded baseline)
#   SOAK_LOG_DIR=.tools/soak     where each run's full output goes (run-1.log, ...)
#
# It prints each run's result and duration and, for a failed run, its failing tests
# (go test's `--- FAIL:` lines, node --test's `not ok` lines) and packages (`FAIL
# <package>` lines); it exits 1 if any run failed.
# The busy processes are stopped when the script ends, however it ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-3}"
BUSY="${SOAK_BUSY:-2}"
LOG_DIR="${SOAK_LOG_DIR:-$ROOT/.tools/soak}"

die() { echo "soak-test: $*" >&2; exit 2; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [N]  (N: how many runs, at least 1)"
[[ "$BUSY" =~ ^[0-9]+$ ]] || die "SOAK_BUSY must be a number, got '$BUSY'"

busy_pids=()
run_pid=""
stop_all() {
	local pid
	# The run is the leader of its own process group: stop it and everything it started
	# (go test, DynamoDB Local, Chromium).
	if [[ -n "$run_pid" ]]; then
		kill -TERM -- "-$run_pid" 2>/dev/null || kill -TERM "$run_pid" 2>/dev/null || true
		wait "$run_pid" 2>/dev/null || true
		run_pid=""
	fi
	for pid in "${busy_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${busy_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	busy_pids=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Each busy process spins on one core and ends by itself should this script die
# without running its traps (kill -9).
for _ in $(seq 1 "$BUSY"); do
	(while kill -0 "$$" 2>/dev/null; do :; done) &
	busy_pids+=("$!")
done

mkdir -p "$LOG_DIR"
echo "soak-test: $RUNS run(s) of make test beside $BUSY busy process(es) on $(nproc) core(s); logs in $LOG_DIR"

failed=0
summary=()
for i in $(seq 1 "$RUNS"); do
	log="$LOG_DIR/run-$i.log"
	echo "== run $i of $RUNS ($(date '+%H:%M:%S'))"
	start=$SECONDS
	status=0
	# In the background, so that a signal to this script is handled at once.
	(cd "$ROOT" && exec setsid "${MAKE:-make}" test) >"$log" 2>&1 &
	run_pid=$!
	wait "$run_pid" || status=$?
	run_pid=""
	took=$((SECONDS - start))
	duration="$((took / 60))m$(printf '%02d' $((took % 60)))s"
	if ((status == 0)); then
		line="run $i: PASS in $duration"
		echo "$line"
	else
		failed=$((failed + 1))
		line="run $i: FAIL (exit $status) in $duration, log $log"
		echo "$line"
		tests="$(grep -E -- '^[[:space:]]*(--- FAIL:|not ok [0-9]+ - )' "$log" | sed -E 's/^[[:space:]]*//' || true)"
		packages="$(grep -E '^FAIL[[:space:]]+[^[:space:]]' "$log" || true)"
		if [[ -n "$tests$packages" ]]; then
			[[ -n "$tests" ]] && sed 's/^/    /' <<<"$tests"
			[[ -n "$packages" ]] && sed 's/^/    /' <<<"$packages"
		else
			echo "    no failing test named; the end of the log:"
			tail -n 15 "$log" | sed 's/^/    /'
		fi
	fi
	summary+=("$line")
done

stop_all
echo "== summary"
printf '%s\n' "${summary[@]}"
if ((failed > 0)); then
	echo "soak-test: $failed of $RUNS run(s) failed"
	exit 1
fi
echo "soak-test: all $RUNS run(s) passed"
