#!/usr/bin/env bash
# Builds the pub/sub example server (Release, into build/) and runs it on
# 127.0.0.1. Options pass through to the server, e.g.: scripts/demo.sh --port 9100
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup-debian.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
  -DSWITCHBOARD_BUILD_EXAMPLES=ON -DSWITCHBOARD_BUILD_TESTS=OFF
cmake --build build --target pubsub_server -j "$(nproc)"

server=$(find build -type f -name pubsub_server -perm -u+x -print -quit)
if [ -z "$server" ]; then
  echo "demo.sh: pubsub_server was not built" >&2
  exit 1
fi

# Loopback unless the caller chose an address.
bind=(--bind 127.0.0.1)
for arg in "$@"; do
  if [ "$arg" = --bind ]; then
    bind=()
  fi
done
exec "$server" "${bind[@]}" "$@"
