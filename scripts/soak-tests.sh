#!/usr/bin/env bash
# Soak test: runs an already-built test suite many times in a row to shake out flaky
# tests, while a second loop keeps both cores busy by running another build tree's
# tests with `ctest -j2`. Build the trees first (scripts/test.sh builds both).
#
#   scripts/soak-tests.sh [ROUNDS]          # default 20
#
# Environment:
#   SOAK_TREE       tree whose suite is soaked            (default build-test/gcc)
#   SOAK_LOAD_TREE  tree whose suite makes the load, or
#                   "none" for no load                    (default build-test/clang)
#   SOAK_JOBS       ctest -j for the soaked suite         (default 2)
#
# The load loop also leaves out the hostile-client tests (label `hostile`): they flood a
# server of their own with attacks, which would turn the load into a second attack on the
# machine rather than a busy neighbour; the soaked suite runs them every round.
# The consumer projects (label `consumer`) are left out of both loops: they rebuild the
# library and test packaging, not behaviour under load. Each round's ctest log is kept
# in a temporary directory, named at the end, when a round failed.
#
# Prints one summary line, e.g.
#   soak: 20 rounds of build-test/gcc (61 tests each) under load from build-test/clang
#   (14 load rounds, 0 failed): 20 passed, 0 failed; failing tests: none; 1234s
# and exits non-zero when any round failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=${1:-20}
tree=${SOAK_TREE:-build-test/gcc}
load_tree=${SOAK_LOAD_TREE:-build-test/clang}
jobs=${SOAK_JOBS:-2}

for t in "$tree" ${load_tree:+$([ "$load_tree" = none ] || echo "$load_tree")}; do
  if [ ! -f "$t/CTestTestfile.cmake" ]; then
    echo "soak-tests.sh: $t is not a built test tree (run scripts/test.sh first)" >&2
    exit 2
  fi
done

logs=$(mktemp -d "${TMPDIR:-/tmp}/switchboard-soak.XXXXXX")
load_pid=
stop_load() {
  if [ -n "$load_pid" ]; then
    # The load loop runs in its own process group (setsid): end it and its ctest.
    kill -TERM -- "-$load_pid" 2>/dev/null || true
    wait "$load_pid" 2>/dev/null || true
    load_pid=
  fi
}
trap stop_load EXIT

if [ "$load_tree" != none ]; then
  setsid bash -c '
    rounds=0 failures=0
    while :; do
      if ctest --test-dir "$1" -j2 -LE "consumer|hostile" >/dev/null 2>&1; then :; else failures=$((failures + 1)); fi
      rounds=$((rounds + 1))
      echo "$rounds $failures" > "$2/load-count"
    done' soak-load "$load_tree" "$logs" &
  load_pid=$!
fi

passed=0 failed=0
declare -A failures_by_test=()
tests_per_round=$(ctest --test-dir "$tree" -N -LE consumer | awk '/^Total Tests:/ {print $3}')
for ((round = 1; round <= rounds; round++)); do
  log=$logs/round-$round.log
  if ctest --test-dir "$tree" -j "$jobs" -LE consumer --output-on-failure >"$log" 2>&1; then
    passed=$((passed + 1))
    rm -f "$log"
    echo "soak-tests.sh: round $round/$rounds passed (${SECONDS}s)"
  else
    failed=$((failed + 1))
    # ctest lists failures as "  <n> - <name> (Failed)" after "The following tests FAILED:".
    while IFS= read -r name; do
      failures_by_test[$name]=$((${failures_by_test[$name]:-0} + 1))
    done < <(sed -n '/The following tests FAILED:/,$p' "$log" | sed -n 's/^[[:space:]]*[0-9]* - \(.*\) ([^)]*)$/\1/p')
    echo "soak-tests.sh: round $round/$rounds FAILED, log kept: $log (${SECONDS}s)"
  fi
done
stop_load

failing="none"
if [ ${#failures_by_test[@]} -ne 0 ]; then
  failing=""
  for name in "${!failures_by_test[@]}"; do failing+="${failing:+, }$name x${failures_by_test[$name]}"; done
fi
if [ "$load_tree" = none ]; then
  load_text="without load"
else
  read -r load_rounds load_failed < "$logs/load-count" 2>/dev/null || { load_rounds=0; load_failed=0; }
  load_text="under load from $load_tree ($load_rounds load rounds, $load_failed failed)"
fi
echo "soak: $rounds rounds of $tree ($tests_per_round tests each) $load_text: $passed passed, $failed failed; failing tests: $failing; ${SECONDS}s"
[ "$failed" -eq 0 ] && rm -rf "$logs"
[ "$failed" -eq 0 ]
