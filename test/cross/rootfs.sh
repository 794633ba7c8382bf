#!/bin/sh
# Makes (or reuses) a Debian root filesystem for ARCH in DIR with
# target-rootfs (the workplace's tool: ../shared/tools, /work/shared/tools
# or PATH). DIR/.complete marks a finished one, which is reused as it is;
# anything else at DIR is a broken earlier attempt (or one made with other
# extra packages) and is made again.
#   test/cross/rootfs.sh ARCH DIR [EXTRA-PACKAGES...]
set -e
arch=${1:?arch}; dir=${2:?dir}; shift 2
want="packages: $*"
[ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$want" ] && exit 0
here=$(cd "$(dirname "$0")/../.." && pwd)
tool=
for t in "$here/../shared/tools/target-rootfs" /work/shared/tools/target-rootfs; do
  [ -x "$t" ] && { tool=$t; break; }
done
[ -n "$tool" ] || tool=$(command -v target-rootfs) || {
  echo "$0: target-rootfs not found (../shared/tools, /work/shared/tools, PATH)" >&2; exit 1; }
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
