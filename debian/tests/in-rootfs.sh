#!/bin/sh
# in-rootfs.sh ROOT DEB VERSION MULTIARCH: installs the package DEB with dpkg inside
# a chroot of the Debian root filesystem ROOT, runs smoke.lua there against
# the installed module (system paths only, DS_EXPECT_VERSION=VERSION), and
# purges the package again, so ROOT stays clean for the next run. The
# mounts live in a private mount namespace and are unmounted on every path
# (the namespace drops whatever an interrupted run leaves). MULTIARCH is
# the triplet the module must load from (/usr/lib/MULTIARCH/lua/5.4): the
# build machine's, since the essential rootfs has no dpkg-architecture.
set -eu
usage="usage: in-rootfs.sh ROOT DEB VERSION MULTIARCH"
root=${1:?$usage} deb=${2:?$usage} version=${3:?$usage} multiarch=${4:?$usage}
case $root in /*) ;; *) echo "in-rootfs: ROOT must be an absolute path" >&2; exit 2 ;; esac
[ "$(cd "$root" && pwd -P)" != / ] || { echo "in-rootfs: ROOT is /" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "in-rootfs: needs root (mount, chroot, dpkg)" >&2; exit 1; }
[ -x "$root/usr/bin/lua5.4" ] && [ -x "$root/usr/bin/dpkg" ] || { echo "in-rootfs: $root is no Debian root filesystem with lua5.4" >&2; exit 1; }

if [ -z "${IN_ROOTFS_NS:-}" ]; then
  IN_ROOTFS_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
work=/tmp/dualstack-check
cleanup() {
  rc=$?
  in_root dpkg --purge lua-dualstack >/dev/null 2>&1 || rc=1
  rm -rf "$root$work"
  if mountpoint -q "$root/proc"; then umount "$root/proc" || rc=1; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

mount -t proc proc "$root/proc"
# A run that was stopped may have left the package in: start clean.
in_root dpkg --purge lua-dualstack >/dev/null 2>&1 || true
[ ! -e "$root/usr/share/lua/5.4/dualstack.lua" ] || { echo "in-rootfs: dualstack is still in $root" >&2; exit 1; }
mkdir -p "$root$work"
cp "$deb" "$here/smoke.lua" "$root$work/"
in_root dpkg -i "$work/$(basename "$deb")"
out=$(in_root env DS_EXPECT_VERSION="$version" lua5.4 "$work/smoke.lua")
echo "$out"
case $out in
  *" from /usr/lib/$multiarch/lua/5.4/dualstack/core.so: "*) ;;
  *) echo "in-rootfs: the module did not load from the package's path" >&2; exit 1 ;;
esac
