/*
** A minimal lua5.4 for `make check-asan` (see mk/check.mk), built with
** -fsanitize=address so that the sanitizer runtime is part of the program.
** Preloading it into Debian's lua5.4 instead (LD_PRELOAD) would also load it
** into every process a spec starts (sh, ip, ss, a plain lua5.4), and check
** those programs' own leaks.
**
** Usage: asan_lua INIT SCRIPT [ARG...]
** Runs the Lua file INIT (fuzz/preload.lua: it makes `require` load the
** module under test), then SCRIPT as lua5.4 would: the global `arg` holds
** the interpreter at -1, SCRIPT at 0 and the ARGs from 1, and SCRIPT gets
** the ARGs as `...`. A leading "#!" line is skipped by luaL_loadfile.
*/
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include <stdio.h>

static int traceback(lua_State *L) {
  luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

/* Runs the function on top of the stack with nargs arguments below it. */
static int run(lua_State *L, int nargs) {
  int status, base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  status = lua_pcall(L, nargs, 0, base);
  lua_remove(L, base);
  return status;
}

static int fail(lua_State *L, const char *what) {
  fprintf(stderr, "asan_lua: %s: %s\n", what, lua_tostring(L, -1));
  lua_close(L);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L;
  int i;
  if (argc < 3) {
    fprintf(stderr, "usage: %s INIT SCRIPT [ARG...]\n", argv[0]);
    return 2;
  }
  L = luaL_newstate();
  if (!L) return 1;
  luaL_openlibs(L);
  lua_createtable(L, argc - 3, 2);
  for (i = 0; i < argc; i++) {
    if (i == 1) continue; /* INIT is ours, not the script's */
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i == 0 ? -1 : i - 2);
  }
  lua_setglobal(L, "arg");
  if (luaL_loadfile(L, argv[1]) != LUA_OK || run(L, 0) != LUA_OK) return fail(L, argv[1]);
  if (luaL_loadfile(L, argv[2]) != LUA_OK) return fail(L, argv[2]);
  for (i = 3; i < argc; i++) lua_pushstring(L, argv[i]);
  if (run(L, argc - 3) != LUA_OK) return fail(L, argv[2]);
  lua_close(L);
  return 0;
}
