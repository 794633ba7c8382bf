#!/bin/sh
# Builds a Lua from Debian's archive sources and the C modules busted and the
# specs need, for one compiler (mk/lua.mk runs it; see there):
#   CC=... AR=... RANLIB=... test/lua/build.sh OUT LUAV
# OUT (e.g. build/lua/5.5) gets bin/lua, include/ (Lua's headers) and lib/
# (lfs, term.core, system.core, socket.core, mime.core, and _cqueues and
# luv where they build). Each piece already in OUT is reused. Tarballs are
# cached in DL (default build/lua/dl): one already there is used as it is.
# A module that cannot be built here gets share/<module>.lua, a stand-in
# that raises the reason, so `require` on that Lua says why, on that Lua only.
set -e
OUT=$1 LUAV=$2
[ -n "$OUT" ] && [ -n "$LUAV" ] || { echo "usage: $0 OUT LUAV" >&2; exit 2; }
: "${CC:=gcc}" "${AR:=ar rcu}" "${RANLIB:=ranlib}" "${DL:=build/lua/dl}"
: "${DEBIAN_ARCHIVE:=debian-archive}" "${CFLAGS:=-O2}"
mkdir -p "$OUT/bin" "$OUT/include" "$OUT/lib" "$OUT/share" "$OUT/src" "$DL"
OUT=$(cd "$OUT" && pwd) DL=$(cd "$DL" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
INC="-I$OUT/include"
export MAKEFLAGS= # the caller's make variables must not reach the sources' makefiles

# unpack PKG SUITE: PKG's upstream sources in $OUT/src/PKG.
unpack() {
  [ -f "$OUT/src/$1/.unpacked" ] && return 0
  tar=$(ls "$DL/$1"_*.orig.tar.* 2>/dev/null | tail -n 1)
  [ -n "$tar" ] || tar=$(SUITE=$2 "$DEBIAN_ARCHIVE" source "$1" "$DL" | tail -n 1)
  rm -rf "$OUT/src/$1" && mkdir -p "$OUT/src/$1"
  echo "unpacking $tar"
  tar xf "$tar" -C "$OUT/src/$1" --strip-components=1
  touch "$OUT/src/$1/.unpacked"
}

# cmod NAME SOURCE... [FLAGS]: lib/NAME.so (NAME a/b for a/b.so), not ours: no -Werror.
cmod() {
  so="$OUT/lib/$1.so"; shift
  [ -f "$so" ] && return 0
  mkdir -p "$(dirname "$so")"
  echo "building $so"
  $CC $CFLAGS -fPIC -shared $INC -o "$so" "$@"
}

# ---- Lua ----------------------------------------------------------------------
if [ ! -x "$OUT/bin/lua" ]; then
  unpack "lua$LUAV" unstable
  make -s -C "$OUT/src/lua$LUAV/src" linux CC="$CC -std=gnu99" AR="$AR" RANLIB="$RANLIB"
  for h in lua.h luaconf.h lualib.h lauxlib.h lua.hpp; do
    cp "$OUT/src/lua$LUAV/src/$h" "$OUT/include/"
  done
  cp "$OUT/src/lua$LUAV/src/luac" "$OUT/bin/"
  cp "$OUT/src/lua$LUAV/src/lua" "$OUT/bin/"
fi

# ---- busted's C modules ----------------------------------------------------------
unpack lua-filesystem stable
# lfs 1.8.0 (the newest the archive serves) stops at 5.4 in one #if, over a
# luaL_Stream that 5.5 keeps as it was (1.9.0 has the same change).
sed -i 's/LUA_VERSION_NUM <= 504$/LUA_VERSION_NUM <= 505/' "$OUT/src/lua-filesystem/src/lfs.c"
cmod lfs "$OUT/src/lua-filesystem/src/lfs.c"
unpack lua-term stable
cmod term/core "$OUT/src/lua-term/core.c"
[ -f "$OUT/lib/system/core.so" ] || {
  mkdir -p "$OUT/lib/system"
  $CC $CFLAGS -std=c99 -Wall -Wextra -Werror -fPIC -shared $INC -o "$OUT/lib/system/core.so" "$HERE/system_core.c"
}

# ---- LuaSocket (select_spec, eventloop_spec) -------------------------------------
if [ ! -f "$OUT/lib/socket/core.so" ]; then
  unpack luasocket stable
  make -s -C "$OUT/src/luasocket/src" linux all-unix LUAV="$LUAV" LUAINC_linux="$OUT/include" \
    CC_linux="$CC" LD_linux="$CC"
  mkdir -p "$OUT/lib/socket" "$OUT/lib/mime"
  s=$OUT/src/luasocket/src
  cp "$s/unix.so" "$s/serial.so" "$OUT/lib/socket/"
  cp "$s"/mime-*.so "$OUT/lib/mime/core.so"
  cp "$s"/socket-*.so "$OUT/lib/socket/core.so"
fi
