#!/usr/bin/env bash
# Builds everything (RelWithDebInfo, into build-test/) and runs the whole test
# suite. Extra arguments go to ctest, e.g.: scripts/test.sh -R consumer
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

trap 'echo "test.sh: finished after ${SECONDS}s"' EXIT

bash scripts/setup-debian.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSWITCHBOARD_BUILD_TESTS=ON -DSWITCHBOARD_BUILD_EXAMPLES=ON
cmake --build build-test -j "$(nproc)"
echo "test.sh: build done after ${SECONDS}s"
ctest --test-dir build-test --output-on-failure -j2 "$@"
