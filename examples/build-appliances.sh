#!/usr/bin/env bash
# Builds the example appliances' root filesystems from this machine's Debian packages and busybox:
# examples/appliances/<name>/rootfs for dns (dnsmasq), dhcp (busybox udhcpd), web (busybox httpd) and
# firewall (nftables). Each tree holds busybox, jq (to read /run/collective/params.json), the
# appliance's own programs with exactly the shared libraries they link (found with ldd), and the
# appliance's run script. Small (a few MiB each) and built in seconds, with no network.
# needs: busybox-static jq dnsmasq-base nftables (Debian packages; scripts/apt-packages.txt lists them)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

applets=(sh ash cat cp echo env grep sed awk tr cut head tail sleep mkdir rm ls ln chmod date hostname
  ip ping nc wget httpd udhcpd nslookup printf test true false kill ps sort uniq wc touch id seq)

# copy_binary ROOT PATH: the program and every library it needs, at the same paths.
copy_binary() {
  local root=$1 bin=$2
  install -D -m 0755 "$bin" "$root$bin"
  ldd "$bin" 2>/dev/null | awk '/=>/ { print $3 } /^[[:space:]]*\/lib/ { print $1 }' | sort -u | while read -r lib; do
    [ -n "$lib" ] && [ -e "$lib" ] || continue
    local real
    real=$(readlink -f "$lib")
    install -D -m 0755 "$real" "$root$lib"
  done
}

base_rootfs() {
  local root=$1
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,etc,tmp,var/run,var/lib,run,proc,sys,dev,srv,appliance}
  chmod 1777 "$root/tmp"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  for a in "${applets[@]}"; do ln -sf busybox "$root/bin/$a"; done
  copy_binary "$root" "$(command -v jq)"
  cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/srv/www:/bin/false
dnsmasq:x:101:65534:dnsmasq:/var/lib/misc:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
  cat > "$root/etc/group" <<'G'
root:x:0:
www-data:x:33:
nogroup:x:65534:
G
  echo "hosts: files dns" > "$root/etc/nsswitch.conf"
  install -m 0644 "$here/appliances/lib.sh" "$root/appliance/lib.sh"
}

build() {
  local name=$1
  shift
  local root="$here/appliances/$name/rootfs"
  base_rootfs "$root"
  for bin in "$@"; do copy_binary "$root" "$bin"; done
  install -m 0755 "$here/appliances/$name/run" "$root/appliance/run"
  echo "built $name: $(du -sh "$root" | cut -f1) in ${root#"$here"/}"
}

build dns "$(command -v dnsmasq)"
build dhcp
build web
build firewall "$(command -v nft)"
