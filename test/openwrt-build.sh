#!/bin/sh
# The build OpenWrt's package runs (openwrt/lang/lua-dualstack/Makefile
# calls this script for each step), so CI's cross legs and `make
# check-openwrt` run exactly what the SDK would, without the SDK.
#
#   test/openwrt-build.sh prepare TREE BUILDDIR     copy what the build needs
#                                                   (this script too)
#   test/openwrt-build.sh compile BUILDDIR          build dualstack/core.so
#   test/openwrt-build.sh install BUILDDIR DESTDIR  install in OpenWrt's layout
#
# From the environment, as the package passes them: CC, CFLAGS, CPPFLAGS,
# LDFLAGS (the target's), LUA_INCDIR (Lua 5.4's headers; in the SDK
# $(STAGING_DIR)/usr/include/lua5.4, and no pkg-config) and MAKE. OpenWrt's
# lua5.4 looks under /usr: C modules in /usr/lib/lua/5.4, Lua ones in
# /usr/share/lua/5.4, where luasocket5.4 installs its own. -Werror is not
# a packager's choice (WERROR=).
set -eu
usage="usage: openwrt-build.sh prepare TREE BUILDDIR | compile BUILDDIR | install BUILDDIR DESTDIR"
step=${1:?$usage}
dir=${2:?$usage}

if [ "$step" = prepare ]; then
  out=${3:?$usage}
  mkdir -p "$out"
  (cd "$dir" && tar -cf - Makefile LICENSE src lua test/openwrt-build.sh) | tar -xf - -C "$out"
  exit 0
fi

: "${CC:?CC: the target compiler}" "${LUA_INCDIR:?LUA_INCDIR: the Lua 5.4 headers}"
build() {
  ${MAKE:-make} -C "$dir" CC="$CC" CFLAGS="${CFLAGS:-}" CPPFLAGS="${CPPFLAGS:-}" \
    LDFLAGS="${LDFLAGS:-}" LUA_INCDIR="$LUA_INCDIR" WERROR= "$@"
}
case $step in
  compile) build all ;;
  install) build DESTDIR="${3:?$usage}" PREFIX=/usr LUA_LIBDIR=/usr/lib/lua/5.4 \
             LUA_SHAREDIR=/usr/share/lua/5.4 install ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
