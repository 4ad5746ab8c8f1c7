#!/usr/bin/env bash
# The dashboard in headless Chromium (dashboard_chromium.mjs): pubsub_server serves the
# page, test clients make traffic, the page must show it. Saves a screenshot.
#
# Usage: run_dashboard.sh PATH/TO/pubsub_server [SCREENSHOT.png]
#
# Exits 77 (CTest: skipped) when Chromium is not installed; scripts/setup-debian.sh
# installs it. CHROMIUM=PATH overrides /usr/bin/chromium. The npm packages pinned in
# package-lock.json (playwright-core, ws) are installed once by scripts/npm-ci-once.sh.
set -euo pipefail

usage="usage: run_dashboard.sh PATH/TO/pubsub_server [SCREENSHOT.png]"
server=${1:?$usage}
screenshot=${2:-}
[ -x "$server" ] || { echo "not an executable: $server" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "SKIPPED: the dashboard test needs Chromium ($chromium not found); scripts/setup-debian.sh installs it"
  exit 77
fi
bash "$here/../../scripts/npm-ci-once.sh" "$here"

args=(--chromium "$chromium")
[ -n "$screenshot" ] && args+=(--screenshot "$screenshot")
exec timeout 170 node "$here/dashboard_chromium.mjs" "${args[@]}" "$server"
