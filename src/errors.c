/*
** Errors: every network failure reaches Lua as nil, message, code, where
** code is the portable symbolic errno name. The names and messages are the
** errno table of core/errors.c.
*/
#include "ds.h"

#include <string.h>

/* Pushes the symbolic name of err: the table's, or "E" and the number for
** one it does not know, so no two errors ever share a name. */
void ds_push_errname(lua_State *L, int err) {
  const char *name = ds_errname_known(err);
  if (name) lua_pushstring(L, name);
  else lua_pushfstring(L, "E%d", ds_err_as_seen(err));
}

int ds_push_failure(lua_State *L, const char *message, const char *code) {
  lua_pushnil(L);
  lua_pushstring(L, message);
  lua_pushstring(L, code);
  return 3;
}

int ds_push_error(lua_State *L, int err) {
  lua_pushnil(L);
  lua_pushstring(L, ds_errmessage(err));
  ds_push_errname(L, err);
  return 3;
}
