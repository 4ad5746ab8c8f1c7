#!/usr/bin/env bash
# Installs the npm packages pinned in DIR/package-lock.json into DIR/node_modules, once:
# only when node_modules is missing or older than the lockfile, so an installed tree
# never touches the network. Concurrent callers (ctest -j) take turns on a lock of the
# lockfile. npm writes node_modules/.package-lock.json last, so its presence means a
# finished install. nodejs and npm come from scripts/setup-debian.sh.
#
# Usage: npm-ci-once.sh DIR
set -euo pipefail

dir=$(cd "${1:?usage: npm-ci-once.sh DIR}" && pwd)

missing_tool() {
  echo "$1 is needed for these tests; scripts/setup-debian.sh installs it" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || missing_tool node
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "node $(node --version) is too old: Node 18 or newer is needed" >&2
  exit 1
fi

# shellcheck disable=SC2094 # the lockfile is only read, and locked through fd 9
(
  flock 9
  marker=$dir/node_modules/.package-lock.json
  if [ ! -e "$marker" ] || [ "$dir/package-lock.json" -nt "$marker" ]; then
    command -v npm >/dev/null 2>&1 || missing_tool npm
    echo "installing the pinned npm packages: npm ci in $dir"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund) || {
      echo "npm ci failed in $dir: the npm registry must be reachable for the first run" >&2
      exit 1
    }
  fi
) 9<"$dir/package-lock.json"
