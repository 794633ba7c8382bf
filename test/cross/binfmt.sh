#!/bin/sh
# Registers qemu-user-static with the kernel's binfmt_misc for the given
# qemu CPU names (s390x arm aarch64 mips ...), mounting binfmt_misc first
# when it is not (a fresh Debian 12 machine has it in the kernel, unmounted).
# Needed to make a foreign root filesystem (mmdebstrap runs its maintainer
# scripts); the suite itself runs qemu explicitly. Root only.
#   test/cross/binfmt.sh CPU...
set -e
B=/proc/sys/fs/binfmt_misc
[ -e $B/register ] || mount -t binfmt_misc binfmt_misc $B
for cpu in "$@"; do
  [ -e $B/qemu-$cpu ] && continue
  conf=/usr/lib/binfmt.d/qemu-$cpu.conf
  [ -f "$conf" ] || { echo "$0: $conf missing (apt-get install qemu-user-static)" >&2; exit 1; }
  cat "$conf" > $B/register
done
