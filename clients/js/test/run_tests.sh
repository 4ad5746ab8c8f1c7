#!/usr/bin/env bash
# Runs the JavaScript client's tests (clients/js/test/*.test.mjs, `node --test`), each
# of which starts its own pubsub_server on a free loopback port.
#
# Usage: run_tests.sh [PATH/TO/pubsub_server]
#   The server is the argument, or else $SWITCHBOARD_PUBSUB_SERVER_PATH (CTest sets it).
#
# The tests need the npm packages pinned in clients/js/package-lock.json (`ws`, and
# `typescript` for the declarations), installed once by scripts/npm-ci-once.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server=${1:-${SWITCHBOARD_PUBSUB_SERVER_PATH:-}}
if [ -z "$server" ]; then
  echo "usage: run_tests.sh PATH/TO/pubsub_server (or set SWITCHBOARD_PUBSUB_SERVER_PATH)" >&2
  exit 2
fi
[ -x "$server" ] || { echo "not an executable: $server" >&2; exit 2; }

bash "$here/../../scripts/npm-ci-once.sh" "$here"

cd "$here"
SWITCHBOARD_PUBSUB_SERVER_PATH=$(realpath "$server") exec node --test test/*.test.mjs
