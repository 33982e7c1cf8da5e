#!/usr/bin/env bash
# Installs what Collective needs on a fresh Debian 12 machine: the Debian packages listed in
# scripts/apt-packages.txt (when root and missing) and the npm packages (npm ci), then builds.
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r line; do
  pkg=${line%%#*}; pkg=${pkg//[[:space:]]/}
  [ -n "$pkg" ] || continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < scripts/apt-packages.txt
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    echo "setup: run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  # `npm install`, not `npm ci`: the registry these machines reach lacks biome's binaries for other
  # platforms, so the lock file cannot list them, and `npm ci` refuses a lock without them. With the
  # lock file present, `npm install` installs exactly its versions and leaves it unchanged.
  npm install --no-audit --no-fund --loglevel=error
fi
npm run --silent build
