#!/usr/bin/env bash
# Interoperability check: starts pubsub_server on a free loopback port, drives it with
# an outside client, then stops it with SIGTERM and expects exit status 0.
#
# Usage: run_interop.sh CLIENT SCHEME PATH/TO/pubsub_server
#   CLIENT  python    Python's `websockets` (python_client.py)
#           node_ws   Node's `ws` package (node_ws_client.mjs)
#           chromium  headless Chromium's WebSocket, driven by playwright-core
#                     (chromium_client.mjs, chromium_page.html)
#   SCHEME  ws        plain WebSocket
#           wss       TLS: a self-signed certificate for 127.0.0.1 and localhost is
#                     made here with `openssl`, the server gets --tls-cert/--tls-key,
#                     and the client trusts that certificate alone (--ca FILE)
#
# The Node clients need the npm packages pinned in package-lock.json: `npm ci` runs
# here when node_modules is missing or older than package-lock.json, and not
# otherwise, so an installed tree never touches the network. Missing Debian
# packages (nodejs, npm, chromium, openssl, python3-websockets) are installed by
# scripts/setup-debian.sh. CHROMIUM=PATH overrides /usr/bin/chromium.
set -euo pipefail

usage="usage: run_interop.sh python|node_ws|chromium ws|wss PATH/TO/pubsub_server"
client=${1:?$usage}
scheme=${2:?$usage}
server=${3:?$usage}
[ -x "$server" ] || { echo "not an executable: $server" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case $scheme in
  ws | wss) ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

missing_tool() {
  echo "$1 is needed for this test; scripts/setup-debian.sh installs it" >&2
  exit 1
}

# The pinned npm packages of package-lock.json, installed once.
ensure_npm_packages() {
  bash "$here/../../scripts/npm-ci-once.sh" "$here"
}

case $client in
  python)
    python=/usr/bin/python3  # Debian's interpreter, which has python3-websockets
    [ -x "$python" ] || missing_tool python3
    client_cmd=("$python" "$here/python_client.py")
    ;;
  node_ws)
    ensure_npm_packages
    client_cmd=(node "$here/node_ws_client.mjs")
    ;;
  chromium)
    chromium=${CHROMIUM:-/usr/bin/chromium}
    [ -x "$chromium" ] || missing_tool "chromium ($chromium)"
    ensure_npm_packages
    client_cmd=(node "$here/chromium_client.mjs" --chromium "$chromium")
    ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

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

server_args=(--bind 127.0.0.1 --port 0)
if [ "$scheme" = wss ]; then
  command -v openssl >/dev/null 2>&1 || missing_tool openssl
  # A fresh self-signed certificate for this run only; the client is given it as its
  # one trusted CA, so a wrong name or a different certificate fails the handshake.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log" || {
    cat "$work/openssl.log" >&2
    echo "openssl could not make a test certificate" >&2
    exit 1
  }
  server_args+=(--tls-cert "$work/cert.pem" --tls-key "$work/key.pem")
  client_cmd+=(--ca "$work/cert.pem")
fi

setsid "$server" "${server_args[@]}" >"$work/stdout" 2>"$work/stderr" &
server_pid=$!

# The server prints one line containing SCHEME://HOST:PORT once it listens; wait up to
# 10 s. A server that announces the other scheme fails here.
url=""
for _ in $(seq 100); do
  url=$(grep -o -m1 "${scheme}://[^/[:space:]]*" "$work/stdout" || true)
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "server exited before printing its address" >&2
    show_server_output
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "server printed no ${scheme}://HOST:PORT line within 10 s" >&2
  show_server_output
  exit 1
fi
echo "server at $url (pid $server_pid)"

client_status=0
timeout 140 "${client_cmd[@]}" "$url" || client_status=$?

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
  echo "$client client failed with status $client_status" >&2
  [ "$server_status" -ne 0 ] || show_server_output
fi
[ "$client_status" -eq 0 ] && [ "$server_status" -eq 0 ]
