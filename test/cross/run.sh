#!/bin/sh
# Runs the spec suite (and the core unit tests) of a cross build on its
# target, from a tree whose build/ holds that target's modules (the tree
# make cross-test prepares: build/cross/ARCH/tree). Two ways to run:
#
#   qemu    "hybrid": only Lua runs emulated (a lua5.4 wrapper first in
#           PATH starts CROSS_LUA under CROSS_QEMU), so what the specs start
#           (sh, ip, unshare, nsenter) is the host's, natively; a child
#           lua5.4 is emulated again through the same wrapper.
#   chroot  a CPU the kernel runs natively (i386): the suite runs inside
#           CROSS_ROOTFS, in a private mount namespace so every mount made
#           for it goes away with it, on every path.
#
# Environment (make cross-test sets it):
#   CROSS_ARCH     the target's name (s390x, armhf, ...), for messages
#   CROSS_MODE     qemu or chroot
#   CROSS_TREE     the tree to run in (absolute)
#   CROSS_ROOTFS   the target's root filesystem (chroot; for qemu the
#                  default of CROSS_LUA and CROSS_PREFIX)
#   CROSS_QEMU     qemu-user binary (qemu-s390x ...)
#   CROSS_LUA      the target's Lua (default CROSS_ROOTFS/usr/bin/lua5.4; a
#                  cross-built one works as well)
#   CROSS_PREFIX   QEMU_LD_PREFIX (default: a prefix made of the rootfs's
#                  /usr/lib, /usr/share and ld.so.cache, so the target's
#                  libraries and Lua modules are found and nothing else is
#                  redirected; a cross toolchain's /usr/mips-linux-gnu works
#                  for a Lua built against it)
#   CROSS_LUA_PATH, CROSS_LUA_CPATH   LUA_PATH_5_4 / LUA_CPATH_5_4 for the
#                  emulated Lua, when its modules are not where it looks
#   QEMU_CPU       passed on when set (arm64: cortex-a72)
#   CROSS_PROBE    the gap probes (test/cross/probes/gaps.c) built for the
#                  target; run first, under the same qemu
#   CROSS_CHECK_SPECS  what busted runs (default spec)
#
# The specs see DS_EMULATOR ("qemu-user ARCH", set only under emulation)
# and DS_EMULATOR_GAPS (the gaps the probe measured on this run, with the
# probe's own words): spec/helpers.lua's H.needs_emulated skips exactly
# those cases, with the reason printed.
set -e
: "${CROSS_ARCH:?}" "${CROSS_MODE:?}" "${CROSS_TREE:?}"
SPECS=${CROSS_CHECK_SPECS:-spec}
start=$(date +%s)
cd "$CROSS_TREE"

finish() {
  rc=$1
  echo "cross $CROSS_ARCH ($CROSS_MODE): exit $rc, $(($(date +%s) - start)) s wall"
  exit "$rc"
}

if [ "$CROSS_MODE" = chroot ]; then
  : "${CROSS_ROOTFS:?}"
  R=$(realpath "$CROSS_ROOTFS")
  # Inside a private mount namespace: the mounts vanish when it ends, even
  # if this script is killed; the trap unmounts them all the same.
  # The rootfs is bound onto itself so / is a mount point in the chroot
  # (unshare -m inside needs one); the tree at its own path, so the paths
  # the specs build from `pwd` are the same inside and out.
  set +e
  unshare -m --propagation private sh -euc '
    R=$1 TREE=$2 SPECS=$3
    trap "umount -R \"\$R\" 2>/dev/null || true" EXIT INT TERM
    mount --bind "$R" "$R"
    mount --make-rprivate "$R"
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    mount --rbind /sys "$R/sys"
    mkdir -p "$R$TREE"
    mount --bind "$TREE" "$R$TREE"
    # The resolver settings of the host (under make, test/offline/run.sh gives them).
    if [ -f "$R/etc/resolv.conf" ] && [ ! -L "$R/etc/resolv.conf" ]; then
      mount --bind /etc/resolv.conf "$R/etc/resolv.conf"
    fi
    chroot "$R" sh -c "cd \"$TREE\" || exit 1; build/test/core_test; c=\$?; lua5.4 /usr/bin/busted $SPECS && exit \$c"
  ' cross-chroot "$R" "$(realpath "$CROSS_TREE")" "$SPECS"
  rc=$?
  set -e
  if grep -q " $R/" /proc/self/mounts; then
    echo "cross $CROSS_ARCH: mounts left under $R" >&2
    rc=1
  fi
  finish $rc
fi

[ "$CROSS_MODE" = qemu ] || { echo "$0: CROSS_MODE must be qemu or chroot" >&2; exit 2; }
: "${CROSS_QEMU:?}"
QEMU=$(command -v "$CROSS_QEMU") || { echo "$0: $CROSS_QEMU not found" >&2; exit 2; }
LUA=${CROSS_LUA:-$CROSS_ROOTFS/usr/bin/lua5.4}
[ -x "$LUA" ] || { echo "$0: no Lua at $LUA" >&2; exit 2; }
PREFIX=$CROSS_PREFIX
if [ -z "$PREFIX" ]; then
  : "${CROSS_ROOTFS:?CROSS_ROOTFS or CROSS_PREFIX}"
  R=$(realpath "$CROSS_ROOTFS")
  PREFIX=$CROSS_TREE/../prefix
  rm -rf "$PREFIX"
  mkdir -p "$PREFIX/usr" "$PREFIX/etc"
  ln -s "$R/usr/lib" "$PREFIX/usr/lib"
  ln -s usr/lib "$PREFIX/lib"
  ln -s "$R/usr/share" "$PREFIX/usr/share"
  ln -s "$R/etc/ld.so.cache" "$PREFIX/etc/ld.so.cache"
fi
PREFIX=$(realpath "$PREFIX")

# The wrapper every "lua5.4" of the run goes through (busted's, and the
# children specs start). QEMU_CPU is never set empty (qemu refuses that).
BIN=$CROSS_TREE/../bin
mkdir -p "$BIN"
{
  echo '#!/bin/sh'
  echo "export QEMU_LD_PREFIX='$PREFIX'"
  [ -n "$QEMU_CPU" ] && echo "export QEMU_CPU='$QEMU_CPU'"
  [ -n "$CROSS_LUA_PATH" ] && echo "export LUA_PATH_5_4='$CROSS_LUA_PATH'"
  [ -n "$CROSS_LUA_CPATH" ] && echo "export LUA_CPATH_5_4='$CROSS_LUA_CPATH'"
  echo "exec '$QEMU' '$(realpath "$LUA")' \"\$@\""
} > "$BIN/lua5.4"
chmod +x "$BIN/lua5.4"
PATH=$BIN:$PATH
export PATH
[ -n "$QEMU_CPU" ] || unset QEMU_CPU

export DS_EMULATOR="qemu-user $CROSS_ARCH"
DS_EMULATOR_GAPS=
if [ -n "$CROSS_PROBE" ]; then
  echo "gap probes ($CROSS_PROBE under $CROSS_QEMU):"
  out=$(QEMU_LD_PREFIX=$PREFIX "$QEMU" "$CROSS_PROBE") || { echo "$0: the probe failed" >&2; exit 1; }
  echo "$out" | sed 's/^/  /'
  # "name: reason;name: reason" for the specs.
  DS_EMULATOR_GAPS=$(echo "$out" | sed -n 's/^gap //p' | paste -sd ';' -)
fi
export DS_EMULATOR_GAPS

# Both run; either failing fails.
set +e
QEMU_LD_PREFIX=$PREFIX "$QEMU" build/test/core_test
c=$?
lua5.4 /usr/bin/busted $SPECS && finish $c
finish 1
