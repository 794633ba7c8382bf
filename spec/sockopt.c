/*
** Test helper, not part of dualstack: setsockopt on a bare descriptor, the
** way another library or a parent process would enable an option behind
** dualstack's back. Built by `make test` as build/spec/sockopt.so.
*/
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <lua.h>
#include <lauxlib.h>

/* ok, err = sockopt.setint(fd, level, name, value) */
static int setint(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  int level = (int)luaL_checkinteger(L, 2);
  int name = (int)luaL_checkinteger(L, 3);
  int value = (int)luaL_checkinteger(L, 4);
  if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) {
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

int luaopen_spec_sockopt(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, setint);
  lua_setfield(L, -2, "setint");
#define CONSTANT(c) (lua_pushinteger(L, c), lua_setfield(L, -2, #c))
  CONSTANT(IPPROTO_IP);
  CONSTANT(IPPROTO_IPV6);
  CONSTANT(IP_RECVTTL);
  CONSTANT(IPV6_RECVHOPLIMIT);
  return 1;
}
