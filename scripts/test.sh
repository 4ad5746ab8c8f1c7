#!/usr/bin/env bash
# Builds everything and runs the whole test suite with two compilers, one tree after
# the other (both RelWithDebInfo):
#
#   build-test/gcc     GCC,   CMAKE_CXX_STANDARD=17 (the library's minimum)
#   build-test/clang   Clang, CMAKE_CXX_STANDARD=20
#
# So the core's unit and TSan tests, the transport and the socket and conformance suites
# run as C++17 with GCC and as C++20 with Clang, and each tree's header_self_contained
# check compiles every public header alone as C++17 and as C++20 with that tree's
# compiler. The libFuzzer targets (label `fuzz`) exist in the Clang tree only.
#
# The websocketpp adapter (always C++17: websocketpp does not build as C++20) with its
# runs of the socket and conformance suites, and the consumer projects (label
# `consumer`, which configure and build the library again in separate CMake projects)
# are slow, so they are built and run in the GCC tree only.
#
# Extra arguments go to both ctest runs, e.g.: scripts/test.sh -R unit:
# SWITCHBOARD_TEST_COMPILERS="gcc" (or "clang") runs one tree only; default "gcc clang".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

trap 'echo "test.sh: finished after ${SECONDS}s"' EXIT

bash scripts/setup-debian.sh

failed=()

# run_tree <name> <C++ compiler> <C++ standard> <websocketpp adapter ON|OFF> [ctest arguments...]
run_tree() {
  local name=$1 cxx=$2 std=$3 adapter=$4
  shift 4
  local dir=build-test/$name
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_STANDARD="$std" -DCMAKE_CXX_EXTENSIONS=OFF \
    -DSWITCHBOARD_BUILD_TESTS=ON -DSWITCHBOARD_BUILD_EXAMPLES=ON -DSWITCHBOARD_WITH_WEBSOCKETPP="$adapter"
  cmake --build "$dir" -j "$(nproc)"
  echo "test.sh: $name build done after ${SECONDS}s"
  # A failing tree does not stop the other one from running; the exit status says it.
  if ctest --test-dir "$dir" --output-on-failure -j2 "$@"; then
    echo "test.sh: $name tests passed after ${SECONDS}s"
  else
    echo "test.sh: $name tests FAILED after ${SECONDS}s"
    failed+=("$name")
  fi
}

for compiler in ${SWITCHBOARD_TEST_COMPILERS:-gcc clang}; do
  case $compiler in
    gcc) run_tree gcc g++ 17 ON "$@" ;;
    clang) run_tree clang clang++ 20 OFF -LE consumer "$@" ;;  # see above
    *) echo "test.sh: unknown compiler '$compiler' (gcc or clang)" >&2; exit 2 ;;
  esac
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "test.sh: failing trees: ${failed[*]}" >&2
  exit 1
fi
