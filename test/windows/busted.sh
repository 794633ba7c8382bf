#!/bin/sh
# Runs busted under wine64 with the Windows Lua (build/windows/lua.exe), from
# the repository root, on the given spec files or directories (default spec):
#   test/windows/busted.sh [busted options] [spec...]
# build/windows/ must hold lua.exe and busted's C modules (make windows-busted)
# and, for the suite, the module (make windows). Busted's Lua files are this
# machine's (Debian's lua-busted), read through Wine's Z: drive rather than
# copied: they are the very files the Linux suite runs on, and stay so.
# WINE (default wine), WINEPREFIX (default build/wine) and WINEDEBUG (default
# -all) may be set; the first run creates the prefix.
set -e
cd "$(dirname "$0")/../.."
WINE=${WINE:-wine}
WIN=build/windows
export WINEPREFIX="${WINEPREFIX:-$PWD/build/wine}"
export WINEDEBUG="${WINEDEBUG:--all}"
# No Mono or Gecko (nothing here is .NET or HTML), and no display: console
# programs need neither, and a new prefix would otherwise offer to install them.
export WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY WAYLAND_DISPLAY
[ -x "$WIN/lua.exe" ] || { echo "$0: $WIN/lua.exe missing: run make windows-busted" >&2; exit 1; }
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  echo "creating the Wine prefix $WINEPREFIX"
  mkdir -p "$WINEPREFIX"
  "$WINE" wineboot -i >/dev/null 2>&1 || true
  # The registry is written when the server ends: wait, so a prefix with
  # system.reg is a finished one (about 4 s of wineboot, 5 s of waiting).
  "${WINESERVER:-wineserver}" -w
fi
[ -f build/windows-test/wine_version.exe ] && "$WINE" build/windows-test/wine_version.exe
# Lua on Windows reads LUA_PATH_5_4 before LUA_PATH: set the one it reads.
# ";;" keeps Lua's defaults, which look beside lua.exe (build/windows/?.dll
# among them). Busted prepends the lpath and cpath of .busted; its cpath
# (build/?.so) would make Windows Lua try the Linux build/dualstack/core.so
# and fail on it, so --cpath replaces it: the module and busted's C modules
# in build/windows/, the test helper in build/windows-test/.
SHARE=Z:/usr/share/lua/5.4
export LUA_PATH_5_4="$SHARE/?.lua;$SHARE/?/init.lua;;"
unset LUA_PATH LUA_CPATH LUA_CPATH_5_4 LUA_INIT LUA_INIT_5_4
[ $# -gt 0 ] || set -- spec
exec "$WINE" "$WIN/lua.exe" Z:/usr/bin/busted --cpath="$WIN/?.dll;build/windows-test/?.dll" "$@"
