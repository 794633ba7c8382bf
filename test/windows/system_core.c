/*
** A stand-in for lua-system's system.core on Windows, for running busted
** under Wine: the three functions busted takes from it (busted/core.lua:
** gettime, monotime, sleep), with lua-system 0.2.1's meaning (what this
** Debian 12 machine's /usr/share/lua/5.4/system/init.lua wraps). Debian's
** archive lists lua-system's sources but does not serve the tarball, so
** the real module cannot be built from them here. Not part of dualstack.
*/
#include <windows.h>

#include <lua.h>
#include <lauxlib.h>

/* Seconds since 1970 (a FILETIME counts 100 ns steps since 1601). */
static int gettime(lua_State *L) {
  FILETIME ft;
  ULARGE_INTEGER t;
  GetSystemTimeAsFileTime(&ft);
  t.LowPart = ft.dwLowDateTime;
  t.HighPart = ft.dwHighDateTime;
  lua_pushnumber(L, (double)(t.QuadPart - 116444736000000000ULL) / 1e7);
  return 1;
}

/* Seconds on a clock that never steps back. */
static int monotime(lua_State *L) {
  LARGE_INTEGER now, freq;
  QueryPerformanceCounter(&now);
  QueryPerformanceFrequency(&freq);
  lua_pushnumber(L, (double)now.QuadPart / (double)freq.QuadPart);
  return 1;
}

/* sleep(seconds): Sleep() takes whole milliseconds. */
static int sleep_seconds(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0 && s <= 86400.0 * 365, 1, "seconds out of range");
  Sleep((DWORD)(s * 1000.0 + 0.5));
  return 0;
}

static const luaL_Reg funcs[] = {
  {"gettime", gettime},
  {"monotime", monotime},
  {"sleep", sleep_seconds},
  {NULL, NULL}
};

__declspec(dllexport) int luaopen_system_core(lua_State *L) {
  luaL_newlib(L, funcs);
  return 1;
}
