#!/bin/sh
# Builds a Lua from Debian's archive sources and the C modules busted and the
# specs need, for one compiler (mk/lua.mk runs it; see there):
#   CC=... AR=... RANLIB=... test/lua/build.sh OUT LUAV
# OUT (e.g. build/lua/5.5) gets bin/lua, include/ (Lua's headers) and lib/
# (lfs, term.core, system.core, socket.core, mime.core, and _cqueues and
# luv where they build). Each piece already in OUT is reused. Tarballs are
# cached in DL (default build/lua/dl) by test/fetch-source.sh.
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
  tar=$("$HERE/../fetch-source.sh" "$1" "$DL" "$2")
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
  $CC $CFLAGS -std=c99 -Wall -Wextra -Werror -fPIC -shared $INC -o "$OUT/lib/system/core.so" "$HERE/../system_core.c"
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
  # (a cross-built luac does not run here: no check then)
  "$OUT/bin/luac" -v > /dev/null 2>&1 &&
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

# ---- cqueues and luv (eventloop_spec, faults_spec, the README's loops) ------------
# standin MODULE... REASON: Lua files under share/ that raise REASON when
# required, for a C module that cannot be built with this compiler.
standin() {
  eval "reason=\${$#}"
  while [ $# -gt 1 ]; do
    f="$OUT/share/$(echo "$1" | tr . /).lua"
    mkdir -p "$(dirname "$f")"
    printf 'error(%s, 0)\n' "$(printf '%s' "$reason" | sed 's/["\\]/\\&/g; s/^/"/; s/$/"/')" > "$f"
    shift
  done
}
# trybuild NAME LOG CMD...: runs CMD, or says why not (the compiler's first error).
trybuild() {
  name=$1 log=$2; shift 2
  if "$@" > "$log" 2>&1; then return 0; fi
  why=$(grep -m 1 -E 'error|cannot find|not found' "$log" | sed 's/^[^ ]*: //')
  echo "$name: not built with $CC: ${why:-see $log}"
  return 1
}

# cqueues 20200726 (the archive's newest): its own makefile wants a configured
# tree, so its sources are compiled here as it would; for 5.5 its compat-5.3
# header's version check and 5.3's integer casts (luaL_checkint, ...,
# lua_pushunsigned) are let through. It needs OpenSSL, which only the host's
# glibc compiler has here.
CQ_SUB="_cqueues.auxlib _cqueues.condition _cqueues.dns _cqueues.dns.config _cqueues.dns.hints
  _cqueues.dns.hosts _cqueues.dns.packet _cqueues.dns.record _cqueues.dns.resolver _cqueues.errno
  _cqueues.notify _cqueues.signal _cqueues.socket _cqueues.socket.debug _cqueues.thread"
if [ ! -f "$OUT/lib/_cqueues.so" ] && [ ! -f "$OUT/share/_cqueues.lua" ]; then
  unpack lua-cqueues unstable
  s=$OUT/src/lua-cqueues
  cp "$s/config.h.guess" "$s/src/config.h"
  (cd "$s/src" && m4 errno.c.m4 > errno.c)
  sed -i 's/LUA_VERSION_NUM > 504$/LUA_VERSION_NUM > 505/' "$s/vendor/compat53/c-api/compat-5.3.h"
  if trybuild cqueues "$s/build.log" $CC $CFLAGS -fPIC -shared $INC -I"$s/src" -I"$s/vendor/compat53/c-api" \
       -D_REENTRANT -D_THREAD_SAFE -D_GNU_SOURCE -DCOMPAT53_PREFIX=cqueues -DCQUEUES_VERSION=20200726L \
       -DLUA_COMPAT_APIINTCASTS '-Dlua_pushunsigned(L,n)=lua_pushinteger(L,(lua_Integer)(n))' \
       -o "$OUT/lib/_cqueues.so" "$s"/src/cqueues.c "$s"/src/socket.c "$s"/src/errno.c "$s"/src/signal.c \
       "$s"/src/thread.c "$s"/src/notify.c "$s"/src/dns.c "$s"/src/lib/socket.c "$s"/src/lib/dns.c \
       "$s"/src/lib/notify.c -lssl -lcrypto -lpthread -ldl -lm; then :; else
    # shellcheck disable=SC2086
    standin _cqueues $CQ_SUB "cqueues is not built for this Lua ($CC): $why"
  fi
fi

# luv 1.48 (Debian 12's; unstable's 1.51 wants a newer libuv than the host's
# 1.44): luv.c includes the rest. With the host's libuv where the compiler
# takes it, else with a static libuv built here for this compiler from the
# archive's libuv1 sources (cmake).
if [ ! -f "$OUT/lib/luv.so" ] && [ ! -f "$OUT/share/luv.lua" ]; then
  unpack lua-luv stable
  s=$OUT/src/lua-luv
  luv() { $CC $CFLAGS -fPIC -shared $INC -I"$s/src" -o "$OUT/lib/luv.so" "$s/src/luv.c" "$@"; }
  if ! luv -luv > "$s/build.log" 2>&1; then
    unpack libuv1 stable
    u=$OUT/src/libuv1
    if trybuild libuv "$u/build.log" sh -c "cmake -S '$u' -B '$u/b' -DCMAKE_C_COMPILER='$CC' \
         -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_BUILD_TYPE=Release -DLIBUV_BUILD_TESTS=OFF \
         -DLIBUV_BUILD_SHARED=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON && cmake --build '$u/b' -j4" &&
       trybuild luv "$s/build.log" luv -I"$u/include" "$u/b/libuv.a" -lpthread; then :; else
      standin luv "luv is not built for this Lua ($CC): $why"
    fi
  fi
fi
