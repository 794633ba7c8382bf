/*
** A stand-in for lua-system's system.core, for busted on a Lua built from
** its sources (mk/lua.mk): the three functions busted takes from it
** (busted/core.lua: gettime, monotime, sleep; nothing else in busted,
** luassert, say, penlight or term calls system), with lua-system 0.2.1's
** meaning. Debian's archive lists lua-system's sources but does not serve
** the tarball. POSIX; test/windows/system_core.c is the Windows one.
** Not part of dualstack.
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>

#include <lua.h>
#include <lauxlib.h>

static lua_Number clock_seconds(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9;
}

/* Seconds since 1970. */
static int gettime(lua_State *L) {
  lua_pushnumber(L, clock_seconds(CLOCK_REALTIME));
  return 1;
}

/* Seconds on a clock that never steps back. */
static int monotime(lua_State *L) {
  lua_pushnumber(L, clock_seconds(CLOCK_MONOTONIC));
  return 1;
}

/* sleep(seconds), the whole time even when a signal interrupts it. */
static int sleep_seconds(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  struct timespec ts;
  luaL_argcheck(L, s >= 0 && s <= 86400.0 * 365, 1, "seconds out of range");
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
  return 0;
}

static const luaL_Reg funcs[] = {
  {"gettime", gettime},
  {"monotime", monotime},
  {"sleep", sleep_seconds},
  {NULL, NULL}
};

int luaopen_system_core(lua_State *L);

int luaopen_system_core(lua_State *L) {
  luaL_newlib(L, funcs);
  return 1;
}
