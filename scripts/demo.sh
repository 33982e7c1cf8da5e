#!/usr/bin/env bash
# The main job of the README, on a fresh machine: install and build, then
#   1. build the example appliances (DNS, DHCP, web, firewall) from Debian packages and busybox,
#   2. publish each into its own local repository (signed; a new version costs only what changed),
#   3. check and start the example network (examples/groupware: 5 components in 3 waves) on the
#      embedded default (a daemon with SQLite state, started on first use),
#   4. show its status, and fetch its web pages from this host through the firewall's public address.
# It leaves the network running; 'node bin/cui.js stop examples/groupware/acme.cvl' stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cui() { node bin/cui.js "$@"; }
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: starting appliances needs root (namespaces, bridges, runc); run it as root" >&2
  exit 1
fi

echo "== building the example appliances"
bash examples/build-appliances.sh

echo
echo "== publishing them into local repositories (examples/build/repos)"
export COLLECTIVE_PUBLISHER_KEY="$PWD/examples/build/publisher.key"
for name in dns dhcp web firewall; do
  repo="examples/build/repos/$name"
  # examples/build is a build directory: a repository an older cui wrote in an older format is made anew.
  if [ -f "$repo/repo.json" ] && ! cui versions "$repo" >/dev/null 2>&1; then
    echo "  $name: the repository was written in an older format; making it anew"
    rm -rf "$repo"
  fi
  [ -f "$repo/repo.json" ] || cui create "$repo" >/dev/null
  version=$(cui publish "$repo" "examples/appliances/$name/$name.cvl")
  echo "  $name: version $version"
done
cui versions examples/build/repos/web

echo
echo "== checking the network"
cui check --complete examples/groupware/acme.cvl

echo
echo "== starting it (a previous demo run is stopped first, and its daemon restarted with this build)"
cui stop examples/groupware/acme.cvl >/dev/null 2>&1 || true
cui daemon stop >/dev/null 2>&1 || true
cui start examples/groupware/acme.cvl

echo
public=$(cui status examples/groupware/acme.cvl --json |
  node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8")); const f=s.appliances[0].components.find(c=>c.interfaces.ethernet1); console.log(f.interfaces.ethernet1.ip)')
echo "== the web pages, fetched from this host through the firewall's public address $public"
for url in "http://$public/" "http://$public:8080/"; do
  echo "-- $url"
  node -e 'fetch(process.argv[1]).then(r=>r.text()).then(t=>process.stdout.write(t)).catch(e=>{console.error(e.message);process.exit(1)})' "$url"
done
echo
echo "The network keeps running. Try: node bin/cui.js status; node bin/cui.js logs examples/groupware/acme.cvl d"
echo "Stop it with: node bin/cui.js stop examples/groupware/acme.cvl"
