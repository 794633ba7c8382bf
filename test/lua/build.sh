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
  # Lua's default paths (what ";;" in LUA_PATH/LUA_CPATH stands for) name
  # OUT's share/ and lib/ alone, never /usr/local's or the host's modules.
  sed -i -e "s|^#define LUA_LDIR[[:space:]]*LUA_ROOT.*|#define LUA_LDIR \"$OUT/share/\"|" \
    -e "s|^#define LUA_CDIR[[:space:]]*LUA_ROOT.*|#define LUA_CDIR \"$OUT/lib/\"|" "$OUT/src/lua$LUAV/src/luaconf.h"
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

# ---- the pure-Lua modules ------------------------------------------------------
# busted, luassert, say, penlight, cliargs, LuaSocket's and cqueues' Lua
# files...: the host's (Debian's lua-busted, lua-socket, ...; /usr/share/lua/5.4
# serves 5.1-5.4), copied into share/, Lua's default path here, so a child
# whose LUA_PATH ends in ";;" finds them too, and nothing else.
# On 5.5 the host's penlight (1.13, Debian 12) does not load: it assigns to
# for-loop variables, which 5.5 makes read-only (pl.tablex). Unstable's 1.15,
# pure Lua and fixed for that, replaces it; and the host's busted (2.1.1) has
# one such loop, in the moonscript loader it always loads, renamed in its copy.
if [ ! -f "$OUT/share/.copied" ]; then
  for e in /usr/share/lua/5.4/*; do
    [ "$LUAV" != 5.4 ] && [ "$(basename "$e")" = pl ] && continue
    rm -rf "$OUT/share/$(basename "$e")" && cp -rL "$e" "$OUT/share/"
  done
  if [ "$LUAV" != 5.4 ]; then
    deb=$(ls "$DL"/lua-penlight_*_all.deb 2>/dev/null | tail -n 1)
    [ -n "$deb" ] || deb=$("$DEBIAN_ARCHIVE" deb lua-penlight "$DL" 2>/dev/null | tail -n 1)
    rm -rf "$OUT/src/penlight" "$OUT/share/pl" && mkdir -p "$OUT/src/penlight"
    dpkg-deb -x "$deb" "$OUT/src/penlight"
    cp -rL "$OUT/src/penlight/usr/share/lua/$LUAV/pl" "$OUT/share/"
    moon=$OUT/share/busted/modules/files/moonscript.lua
    sed -i 's/^\( *\)for line in \(.*\) do$/\1for each_line in \2 do local line = each_line/' "$moon"
  fi
  for f in $(find "$OUT/share" -name '*.lua' ! -path '*/moonscript*' ! -path '*/luarocks/*' ! -path '*/ldoc/*'); do
    "$OUT/bin/luac" -p "$f" 2>/dev/null || echo "warning: $f does not compile on Lua $LUAV"
  done
  touch "$OUT/share/.copied"
fi

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
