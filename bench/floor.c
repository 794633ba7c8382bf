/*
** bench: the Lua floor, the reference beside the targets for user-space
** instructions per ping-pong round trip (issues 5 and 12).
**
** A fake socket whose methods do nothing a binding could leave out: they
** check that argument 1 is the socket the way dualstack's methods do (its
** metatable against the one held as upvalue 1, see src/socket.c) and
** return. bench/floor_loop.lua runs dualstack's echo loops on it under
** callgrind, without any network, so what it counts per round trip is the
** interpreter's own cost of that loop: the method lookups, the two calls
** into C, the values passed and the field read. A Lua binding that
** type-checks its socket argument cannot go below it.
**
** floor.socket(variant), variant:
**   "noop"    recvmsg returns its msg argument as it came
**   "string"  recvmsg also stores a new 64-byte string as msg.data: the
**             datagram, which every binding must hand to Lua as a string
**   "bare"    "string" without the argument checks, which a binding may
**             not leave out (a wrong argument would crash it): what the
**             interpreter alone costs
**   "fast"    the fast path's loop: recvfrom returns five values (a new
**             64-byte string, the sender's address text and port, the
**             destination text and the interface) and sendto takes them;
**             the texts are held as upvalues, so they cost only their
**             passing (how a binding makes them is its own cost), and
**             sendto returns nothing, as reply does here
*/
#include "util.h"

#include <lauxlib.h>
#include <lua.h>

/* Upvalues of every method. */
enum { UP_METATABLE = 1, UP_DATA_KEY, UP_ADDR, UP_DST, N_UPVALUES = UP_DST };

/* As dualstack's ds_check_socket: a pointer comparison, no registry lookup. */
static void check_socket(lua_State *L) {
  if (lua_touserdata(L, 1) && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(UP_METATABLE));
    lua_pop(L, 1);
    if (same) return;
  }
  luaL_typeerror(L, 1, "floor socket");
}

/* msg = sock:recvmsg(size, msg) */
static int recvmsg_noop(lua_State *L) {
  check_socket(L);
  lua_settop(L, 3);
  return 1;
}

/* Stores a new 64-byte string as msg.data (msg at 3) and returns msg. At
** 64 bytes it is longer than Lua interns (40), so each call allocates and
** copies one, and the previous one is left to the collector, as with a
** real datagram. The key is interned once (upvalue), as dualstack does. */
static int store_datagram(lua_State *L) {
  static const char datagram[BENCH_DGRAM];
  lua_settop(L, 3);
  lua_pushvalue(L, lua_upvalueindex(UP_DATA_KEY));
  lua_pushlstring(L, datagram, sizeof(datagram));
  lua_rawset(L, 3);
  return 1;
}

/* msg = sock:recvmsg(size, msg), with msg.data a new string. */
static int recvmsg_string(lua_State *L) {
  check_socket(L);
  luaL_checktype(L, 3, LUA_TTABLE); /* lua_rawset needs a table */
  return store_datagram(L);
}

static int recvmsg_bare(lua_State *L) {
  return store_datagram(L);
}

/* data, addr, port, dst, ifindex = sock:recvfrom([size]) */
static int recvfrom_fast(lua_State *L) {
  static const char datagram[BENCH_DGRAM];
  check_socket(L);
  lua_pushlstring(L, datagram, sizeof(datagram));
  lua_pushvalue(L, lua_upvalueindex(UP_ADDR));
  lua_pushinteger(L, 40000);
  lua_pushvalue(L, lua_upvalueindex(UP_DST));
  lua_pushinteger(L, 1);
  return 5;
}

/* sock:reply(msg, data), sock:sendto(data, addr, port, src, ifindex) */
static int reply_noop(lua_State *L) {
  check_socket(L);
  return 0;
}

static int reply_bare(lua_State *L) {
  (void)L;
  return 0;
}

static const luaL_Reg noop_methods[] = {
  {"recvmsg", recvmsg_noop},
  {"reply", reply_noop},
  {NULL, NULL}};

static const luaL_Reg string_methods[] = {
  {"recvmsg", recvmsg_string},
  {"reply", reply_noop},
  {NULL, NULL}};

static const luaL_Reg bare_methods[] = {
  {"recvmsg", recvmsg_bare},
  {"reply", reply_bare},
  {NULL, NULL}};

static const luaL_Reg fast_methods[] = {
  {"recvfrom", recvfrom_fast},
  {"sendto", reply_noop},
  {NULL, NULL}};

/* Pushes a metatable whose __index is a table of methods, laid out as
** dualstack's socket metatable is, so method lookup costs the same. */
static void push_metatable(lua_State *L, const luaL_Reg *methods) {
  lua_newtable(L);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  lua_pushliteral(L, "data");
  lua_pushliteral(L, "::ffff:127.0.0.1");
  lua_pushliteral(L, "::ffff:127.0.0.2");
  luaL_setfuncs(L, methods, N_UPVALUES);
  lua_setfield(L, -2, "__index");
}

/* floor.socket(variant): a socket of the variant's metatable (upvalues). */
static int new_socket(lua_State *L) {
  static const char *const variants[] = {"noop", "string", "bare", "fast", NULL};
  int v = luaL_checkoption(L, 1, NULL, variants);
  lua_newuserdatauv(L, 1, 0);
  lua_pushvalue(L, lua_upvalueindex(v + 1));
  lua_setmetatable(L, -2);
  return 1;
}

int luaopen_floor(lua_State *L) {
  lua_newtable(L);
  push_metatable(L, noop_methods);
  push_metatable(L, string_methods);
  push_metatable(L, bare_methods);
  push_metatable(L, fast_methods);
  lua_pushcclosure(L, new_socket, 4);
  lua_setfield(L, -2, "socket");
  return 1;
}
