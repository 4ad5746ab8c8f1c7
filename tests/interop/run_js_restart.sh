#!/usr/bin/env bash
# switchboard.js in headless Chromium across pubsub_server restarts (js_restart_chromium.mjs):
# after a clean stop (SIGTERM) the client must recover every message it missed through
# its reconnect with `since`; after a crash (SIGKILL) it must report recoveryFailed.
#
# Usage: run_js_restart.sh PATH/TO/pubsub_server [sqlite|memory]
#   sqlite (default) needs a pubsub_server built with the SQLite store; with memory,
#   every restart loses the streams, so both cases expect recoveryFailed.
#
# Exits 77 (CTest: skipped) when Chromium is not installed; scripts/setup-debian.sh
# installs it. CHROMIUM=PATH overrides /usr/bin/chromium. The npm packages pinned in
# package-lock.json (playwright-core, ws) are installed once by scripts/npm-ci-once.sh.
set -euo pipefail

usage="usage: run_js_restart.sh PATH/TO/pubsub_server [sqlite|memory]"
server=${1:?$usage}
store=${2:-sqlite}
[ -x "$server" ] || { echo "not an executable: $server" >&2; exit 2; }
case $store in sqlite|memory) ;; *) echo "$usage" >&2; exit 2 ;; esac
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "SKIPPED: the restart test needs Chromium ($chromium not found); scripts/setup-debian.sh installs it"
  exit 77
fi
bash "$here/../../scripts/npm-ci-once.sh" "$here"

exec timeout 230 node "$here/js_restart_chromium.mjs" --chromium "$chromium" --store "$store" "$server"
