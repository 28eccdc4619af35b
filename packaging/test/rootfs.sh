#!/usr/bin/env bash
# rootfs.sh CACHE_DIR -> prints the path of a cached Debian bookworm rootfs
# tarball (minbase + a real systemd), creating it with debootstrap on the
# first run. Sourced by packaging/test.sh; runnable alone to pre-warm a cache.
set -euo pipefail

# Packages the boot test needs beyond minbase: systemd as PID 1, dbus for
# systemctl, curl to probe the service. Nothing that llm-router depends on
# is added here, so dpkg -i proves the declared Depends are satisfiable.
ROOTFS_SUITE=${ROOTFS_SUITE:-bookworm}
ROOTFS_INCLUDE=${ROOTFS_INCLUDE:-systemd,systemd-sysv,dbus,curl}

rootfs_tarball() {
	local cache=$1 key mirror tmp
	key=$(printf '%s %s minbase v1' "$ROOTFS_SUITE" "$ROOTFS_INCLUDE" | sha256sum | cut -c1-12)
	local tarball=$cache/$ROOTFS_SUITE-$key.tar.zst
	if [[ -s $tarball ]]; then
		echo "$tarball"
		return 0
	fi
	mkdir -p "$cache"
	# Use whatever mirror apt already uses on this host (deb822 or one-line).
	mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	if [[ -z $mirror ]]; then
		mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	fi
	mirror=${mirror:-http://deb.debian.org/debian}
	tmp=$(mktemp -d "$cache/.root.XXXXXX")
	echo "rootfs: debootstrap $ROOTFS_SUITE ($ROOTFS_INCLUDE) from $mirror" >&2
	if ! debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" \
		"$ROOTFS_SUITE" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 30 "$tmp/debootstrap.log" >&2
		rm -rf "$tmp"
		return 1
	fi
	echo llmci >"$tmp/root/etc/hostname"
	# Keep the image small: no apt lists or package cache.
	rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"*
	tar -C "$tmp/root" --zstd -cpf "$tmp/rootfs.tar.zst" .
	mv "$tmp/rootfs.tar.zst" "$tarball"
	rm -rf "$tmp"
	echo "$tarball"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	rootfs_tarball "${1:-/var/cache/llm-router-ci}"
fi
