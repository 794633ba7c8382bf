/*
** A stand-in for lua-system's system.core, for busted on a Lua built here:
** from Debian's archive sources (mk/lua.mk) or with MinGW for Wine
** (mk/windows.mk). Debian's archive lists lua-system's sources but does not
** serve the tarball. It has the three functions busted takes from it
** (busted/core.lua: gettime, monotime, sleep; nothing else in busted,
** luassert, say, penlight or term calls system), with lua-system 0.2.1's
** meaning. Not part of dualstack.
*/
#ifdef _WIN32
#include <windows.h>
#define DS_EXPORT __declspec(dllexport)
#else
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <time.h>
#define DS_EXPORT
#endif

#include <lua.h>
#include <lauxlib.h>

#ifdef _WIN32
/* A FILETIME counts 100 ns steps since 1601. */
static lua_Number since_1970(void) {
  FILETIME ft;
  ULARGE_INTEGER t;
  GetSystemTimeAsFileTime(&ft);
  t.LowPart = ft.dwLowDateTime;
  t.HighPart = ft.dwHighDateTime;
  return (lua_Number)(t.QuadPart - 116444736000000000ULL) / 1e7;
}

static lua_Number steady(void) {
  LARGE_INTEGER now, freq;
  QueryPerformanceCounter(&now);
  QueryPerformanceFrequency(&freq);
  return (lua_Number)now.QuadPart / (lua_Number)freq.QuadPart;
}

/* Sleep() takes whole milliseconds. */
static void pause_for(lua_Number s) {
  Sleep((DWORD)(s * 1000.0 + 0.5));
}
#else
static lua_Number clock_seconds(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9;
}

static lua_Number since_1970(void) {
  return clock_seconds(CLOCK_REALTIME);
}

static lua_Number steady(void) {
  return clock_seconds(CLOCK_MONOTONIC);
}

/* The whole time, even when a signal interrupts it. */
static void pause_for(lua_Number s) {
  struct timespec ts;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}
#endif

/* Seconds since 1970. */
static int gettime(lua_State *L) {
  lua_pushnumber(L, since_1970());
  return 1;
}

/* Seconds on a clock that never steps back. */
static int monotime(lua_State *L) {
  lua_pushnumber(L, steady());
  return 1;
}

/* sleep(seconds) */
static int sleep_seconds(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  luaL_argcheck(L, s >= 0 && s <= 86400.0 * 365, 1, "seconds out of range");
  pause_for(s);
  return 0;
}

static const luaL_Reg funcs[] = {
  {"gettime", gettime},
  {"monotime", monotime},
  {"sleep", sleep_seconds},
  {NULL, NULL}
};

DS_EXPORT int luaopen_system_core(lua_State *L);

DS_EXPORT int luaopen_system_core(lua_State *L) {
  luaL_newlib(L, funcs);
  return 1;
}
