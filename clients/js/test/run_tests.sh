#!/usr/bin/env bash
# Runs the JavaScript client's tests (clients/js/test/*.test.mjs, `node --test`), each
# of which starts its own pubsub_server on a free loopback port.
#
# Usage: run_tests.sh [PATH/TO/pubsub_server]
#   The server is the argument, or else $SWITCHBOARD_PUBSUB_SERVER_PATH (CTest sets it).
#
# The tests need the npm packages pinned in clients/js/package-lock.json (`ws`, and
# `typescript` for the declarations): `npm ci` runs here when node_modules is missing
# or older than package-lock.json, and not otherwise, so an installed tree never
# touches the network. nodejs and npm come from scripts/setup-debian.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
server=${1:-${SWITCHBOARD_PUBSUB_SERVER_PATH:-}}
if [ -z "$server" ]; then
  echo "usage: run_tests.sh PATH/TO/pubsub_server (or set SWITCHBOARD_PUBSUB_SERVER_PATH)" >&2
  exit 2
fi
[ -x "$server" ] || { echo "not an executable: $server" >&2; exit 2; }

missing_tool() {
  echo "$1 is needed for this test; scripts/setup-debian.sh installs it" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || missing_tool node
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "node $(node --version) is too old: the client's tests need Node 18 or newer" >&2
  exit 1
fi

# npm writes node_modules/.package-lock.json last, so its presence means a finished
# install. Concurrent runs take turns on a lock of the lockfile.
# shellcheck disable=SC2094 # the lockfile is only read, and locked through fd 9
(
  flock 9
  marker=$here/node_modules/.package-lock.json
  if [ ! -e "$marker" ] || [ "$here/package-lock.json" -nt "$marker" ]; then
    command -v npm >/dev/null 2>&1 || missing_tool npm
    echo "installing the pinned npm packages: npm ci in $here"
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund) || {
      echo "npm ci failed in $here: the npm registry must be reachable for the first run" >&2
      exit 1
    }
  fi
) 9<"$here/package-lock.json"

cd "$here"
SWITCHBOARD_PUBSUB_SERVER_PATH=$(realpath "$server") exec node --test test/*.test.mjs
