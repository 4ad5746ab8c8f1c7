#!/usr/bin/env bash
# Installs the Debian 12 packages switchboard needs to build, test and run its
# examples. Only missing packages are installed; nothing happens when all are there.
set -euo pipefail

packages=(
  cmake g++ clang make
  libclang-rt-14-dev  # tests/fuzz: libFuzzer and the sanitizers for clang
  libasio-dev libwebsocketpp-dev rapidjson-dev libsodium-dev
  libsqlite3-dev libhiredis-dev libssl-dev
  catch2 libbenchmark-dev
  python3-websockets nodejs npm
  chromium openssl  # tests/interop: the headless browser, certificates for wss://
  prometheus  # tests: promtool checks the /metrics output
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-debian.sh: this script needs dpkg and apt-get (Debian 12)." >&2
  echo "Install these packages (or their equivalents) by hand: ${packages[*]}" >&2
  exit 1
fi

# True when the package, or an installed package that provides it, is installed:
# NodeSource's nodejs, for one, provides npm and conflicts with Debian's npm.
is_installed() {
  local pkg=$1
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ]; then
    return 0
  fi
  dpkg-query -W -f='${db:Status-Status} ${Provides}\n' 2>/dev/null |
    awk -v want="$pkg" '
      $1 == "installed" {
        for (i = 2; i <= NF; i++) { name = $i; gsub(/,/, "", name); if (name == want) found = 1 }
      }
      END { exit found ? 0 : 1 }'
}

missing=()
for pkg in "${packages[@]}"; do
  if ! is_installed "$pkg"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-debian.sh: all packages present."
  exit 0
fi

echo "setup-debian.sh: installing ${missing[*]}"
install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -eq 0 ]; then
  as_root=(env DEBIAN_FRONTEND=noninteractive)
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
else
  echo "setup-debian.sh: not root and no sudo; run as root:" >&2
  echo "  apt-get update && ${install_cmd[*]}" >&2
  exit 1
fi

"${as_root[@]}" apt-get update
"${as_root[@]}" "${install_cmd[@]}"
