/*
** System results owned by the Lua state: getaddrinfo's and getifaddrs's
** lists sit in a userdata whose __gc frees them. The box is made before
** the system call (liolib's order), so a memory error raised while the
** result's tables are built frees the result too (docs/SAFETY.md, rule 3).
*/
#include "ds.h"

#define DS_BOX_MT "dualstack.box"

static int box_gc(lua_State *L) {
  ds_box_release((ds_box *)lua_touserdata(L, 1));
  return 0;
}

/* Pushes an empty box whose contents release frees. */
ds_box *ds_new_box(lua_State *L, void (*release)(void *)) {
  ds_box *b = (ds_box *)lua_newuserdatauv(L, sizeof(*b), 0);
  b->p = NULL;
  b->release = release;
  if (luaL_newmetatable(L, DS_BOX_MT)) {
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return b;
}

/* Frees what the box holds, once. */
void ds_box_release(ds_box *b) {
  if (b->p) b->release(b->p);
  b->p = NULL;
}
