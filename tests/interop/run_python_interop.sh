#!/usr/bin/env bash
# Interoperability check: starts pubsub_server on a free loopback port, drives it with
# Python's `websockets` client (python_client.py), then stops it with SIGTERM and
# expects exit status 0. Usage: run_python_interop.sh PATH/TO/pubsub_server
set -euo pipefail

server=${1:?usage: run_python_interop.sh PATH/TO/pubsub_server}
[ -x "$server" ] || { echo "not an executable: $server" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=/usr/bin/python3  # Debian's interpreter, which has python3-websockets

work=$(mktemp -d)
server_pid=""
cleanup() {
  # Whatever happened, never leave the server behind.
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    # The server leads its own process group (setsid below): take any children too.
    kill -KILL -- "-$server_pid" 2>/dev/null || kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_server_output() {
  echo "--- server stdout ---" >&2; cat "$work/stdout" >&2 || true
  echo "--- server stderr ---" >&2; cat "$work/stderr" >&2 || true
}

setsid "$server" --bind 127.0.0.1 --port 0 >"$work/stdout" 2>"$work/stderr" &
server_pid=$!

# The server prints one line containing ws://HOST:PORT once it listens; wait up to 10 s.
url=""
for _ in $(seq 100); do
  url=$(grep -o -m1 'ws://[^/[:space:]]*' "$work/stdout" || true)
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "server exited before printing its address" >&2
    show_server_output
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "server printed no ws://HOST:PORT line within 10 s" >&2
  show_server_output
  exit 1
fi
echo "server at $url (pid $server_pid)"

client_status=0
timeout 30 "$python" "$here/python_client.py" "$url" || client_status=$?

# SIGTERM must close everyone with 1001 and exit 0; allow 10 s.
kill -TERM "$server_pid"
for _ in $(seq 100); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  echo "server still running 10 s after SIGTERM" >&2
  show_server_output
  exit 1
fi
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""

if [ "$server_status" -ne 0 ]; then
  echo "server exited with status $server_status after SIGTERM (expected 0)" >&2
  show_server_output
fi
if [ "$client_status" -ne 0 ]; then
  echo "python client failed with status $client_status" >&2
  [ "$server_status" -ne 0 ] || show_server_output
fi
[ "$client_status" -eq 0 ] && [ "$server_status" -eq 0 ]
