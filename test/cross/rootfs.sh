#!/bin/sh
# Makes (or reuses) a Debian root filesystem for ARCH in DIR with the
# workplace's target-rootfs (TARGET_ROOTFS, which the Makefile finds).
# DIR/.complete marks a finished one, which is reused as it is;
# anything else at DIR is a broken earlier attempt (or one made with other
# extra packages) and is made again.
#   test/cross/rootfs.sh ARCH DIR [EXTRA-PACKAGES...]
set -e
arch=${1:?arch}; dir=${2:?dir}; shift 2
want="packages: $*"
[ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$want" ] && exit 0
tool=${TARGET_ROOTFS:-target-rootfs}
command -v "$tool" >/dev/null || { echo "$0: target-rootfs not found ($tool)" >&2; exit 1; }
if [ -e "$dir" ]; then
  # Never delete through a mount a killed chroot run left behind.
  if grep -q " $(realpath "$dir")/" /proc/self/mounts; then
    echo "$0: $dir has mounts under it; unmount them first" >&2; exit 1
  fi
  rm -rf "$dir"
fi
mkdir -p "$(dirname "$dir")"
start=$(date +%s)
"$tool" "$arch" "$dir" "$@" >"$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; exit 1; }
echo "$want" > "$dir/.complete"
echo "rootfs $arch: $dir ($(($(date +%s) - start)) s)"
