#!/usr/bin/env bash
# Installs the Debian packages synq needs to build and test. Idempotent:
# runs apt-get only when something is missing, and apt-get update only then.
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh test     build + test dependencies (node, npm, chromium, clang fuzzer runtime)
set -euo pipefail
pkgs=(build-essential pkg-config libuv1-dev libhttp-parser-dev libwslay-dev zlib1g-dev libjansson-dev
      libsqlite3-dev libpq-dev libcurl4-openssl-dev libssl-dev)
if [ "${1:-}" = test ]; then
    pkgs+=(libcmocka-dev nodejs npm clang libclang-rt-14-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs may come from elsewhere than Debian: a working node+npm is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
    m2=(); for p in "${missing[@]}"; do case $p in nodejs|npm) ;; *) m2+=("$p");; esac; done
    missing=("${m2[@]}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
