/*
** Test helpers, not part of dualstack, for what Lua cannot do itself: set
** a socket option behind dualstack's back (as another library or a parent
** process would), and make the allocator fail. Built by `make test-build`
** as build/spec/testhelp.so.
*/
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <lua.h>
#include <lauxlib.h>

/* ok, err = testhelp.setint(fd, level, name, value) */
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

/* The allocator failalloc puts in front of the state's own. */
typedef struct failing_alloc {
  lua_Alloc f;
  void *ud;
  long countdown; /* allocations that succeed before one fails */
} failing_alloc;

static void *fail_after(void *ud, void *ptr, size_t osize, size_t nsize) {
  failing_alloc *a = (failing_alloc *)ud;
  int grows = nsize > 0 && (ptr == NULL || nsize > osize);
  if (grows && a->countdown-- <= 0) return NULL;
  return a->f(a->ud, ptr, osize, nsize);
}

/* failalloc(n): from now on, n allocations succeed and the rest fail.
** failalloc(nil): the state's own allocator again. The wrapper lives in C
** memory, as the state frees its own memory through it. */
static int failalloc(lua_State *L) {
  void *ud;
  failing_alloc *a = lua_getallocf(L, &ud) == fail_after ? (failing_alloc *)ud : NULL;
  if (lua_isnoneornil(L, 1)) {
    if (a) {
      lua_setallocf(L, a->f, a->ud);
      free(a);
    }
    return 0;
  }
  if (!a) {
    if (!(a = (failing_alloc *)malloc(sizeof(*a)))) return luaL_error(L, "out of memory");
    a->f = lua_getallocf(L, &a->ud);
    lua_setallocf(L, fail_after, a);
  }
  a->countdown = (long)luaL_checkinteger(L, 1);
  return 0;
}

int luaopen_spec_testhelp(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, setint);
  lua_setfield(L, -2, "setint");
  lua_pushcfunction(L, failalloc);
  lua_setfield(L, -2, "failalloc");
#define CONSTANT(c) (lua_pushinteger(L, c), lua_setfield(L, -2, #c))
  CONSTANT(IPPROTO_IP);
  CONSTANT(IPPROTO_IPV6);
  CONSTANT(IP_RECVTTL);
  CONSTANT(IPV6_RECVHOPLIMIT);
#undef CONSTANT
  return 1;
}
