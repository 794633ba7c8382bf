#!/bin/sh
# test/openwrt-check.sh DESTDIR VERSION: what test/openwrt-build.sh
# installed is exactly OpenWrt's layout (dualstack/core.so in
# /usr/lib/lua/5.4, each lua/ file in /usr/share/lua/5.4), and loads from
# there alone: debian/tests/smoke.lua's load, version and 127.0.0.1
# round-trip with dst and ifindex. LUA runs it (default lua5.4; a cross
# leg passes its emulated target Lua).
set -eu
dest=${1:?DESTDIR} version=${2:?VERSION}
here=$(cd "$(dirname "$0")/.." && pwd)
want=$( { echo usr/lib/lua/5.4/dualstack/core.so
          (cd "$here/lua" && find . -name '*.lua' | sed 's,^\./,usr/share/lua/5.4/,'); } | LC_ALL=C sort)
got=$(cd "$dest" && find . ! -type d | sed 's,^\./,,' | LC_ALL=C sort)
if [ "$want" != "$got" ]; then
  printf 'openwrt-check: installed files differ from OpenWrt layout\nwanted:\n%s\ngot:\n%s\n' "$want" "$got" >&2
  exit 1
fi
out=$(LUA_PATH="$dest/usr/share/lua/5.4/?.lua" LUA_CPATH="$dest/usr/lib/lua/5.4/?.so" \
      DS_EXPECT_VERSION="$version" ${LUA:-lua5.4} "$here/debian/tests/smoke.lua")
echo "$out"
case $out in
  *" from $dest/usr/lib/lua/5.4/dualstack/core.so: "*) ;;
  *) echo "openwrt-check: the module did not load from $dest" >&2; exit 1 ;;
esac
