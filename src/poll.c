/*
** Waiting on many descriptors: core.poll(rfds, wfds[, timeout]) is the
** loop-agnostic primitive under dualstack.select. It takes arrays of
** descriptors and returns two sets (fd -> true) of the ready ones.
*/
#include "ds.h"

/* Most descriptors one array may hold (core.POLL_MAX): far above any
** descriptor limit, and small enough that the buffer's size cannot wrap.
** A table's border comes from Lua and can be near 2^63 (rawlen may find
** any border of a table with holes). */
#define DS_POLL_MAX (1 << 20)

/* The length of array arg, bounded before anyone multiplies it. */
static size_t check_fds_len(lua_State *L, int arg) {
  lua_Unsigned len; /* 64 bits where size_t has 32: bounded before narrowing */
  luaL_checktype(L, arg, LUA_TTABLE);
  len = lua_rawlen(L, arg);
  luaL_argcheck(L, len <= DS_POLL_MAX, arg, "too many descriptors");
  return (size_t)len;
}

/* Adds the first len descriptors of array arg to p[*n..] with events. len
** is the length the buffer was sized for: a finalizer run by that
** allocation may have grown the table since. */
static void add_fds(lua_State *L, int arg, size_t len, ds_pollfd *p, unsigned *n,
                    short events) {
  size_t i;
  for (i = 1; i <= len; i++) {
    lua_Integer fd;
    int isnum;
    lua_rawgeti(L, arg, (lua_Integer)i);
    fd = lua_tointegerx(L, -1, &isnum);
    lua_pop(L, 1);
    luaL_argcheck(L, isnum && fd >= 0 && fd <= 0x7fffffff, arg, "descriptor expected");
    p[*n].fd = (ds_fd)fd;
    p[*n].events = events;
    p[*n].revents = 0;
    (*n)++;
  }
}

/* Ready descriptors of p[from..to) as a set; errors and hangups count as
** ready, since the next call on the socket reports them. */
static void push_ready(lua_State *L, const ds_pollfd *p, unsigned from, unsigned to) {
  unsigned i;
  lua_newtable(L);
  for (i = from; i < to; i++) {
    if (!p[i].revents) continue;
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, (lua_Integer)p[i].fd);
  }
}

static int l_poll(lua_State *L) {
  size_t nr, nw;
  double t = luaL_optnumber(L, 3, -1);
  ds_pollfd *p;
  unsigned n = 0;
  int err;
  nr = check_fds_len(L, 1);
  nw = check_fds_len(L, 2);
  luaL_argcheck(L, t == t, 3, "timeout is NaN");
  p = (ds_pollfd *)lua_newuserdatauv(L, (nr + nw + 1) * sizeof(*p), 0);
  add_fds(L, 1, nr, p, &n, POLLIN);
  add_fds(L, 2, nw, p, &n, POLLOUT);
  err = ds_poll(p, n, ds_deadline(t));
  if (err != 0 && err != ETIMEDOUT) return ds_push_error(L, err);
  push_ready(L, p, 0, (unsigned)nr);
  push_ready(L, p, (unsigned)nr, n);
  return 2;
}

/* Seconds on a monotonic clock, for deadlines kept in Lua. */
static int l_monotime(lua_State *L) {
  lua_pushnumber(L, ds_now());
  return 1;
}

/* Seconds since 1970 on the wall clock, as LuaSocket's gettime: for
** time stamps, not for deadlines (it jumps when the clock is set). */
static int l_gettime(lua_State *L) {
  lua_pushnumber(L, ds_sys_realtime());
  return 1;
}

static int l_getpid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ds_sys_getpid());
  return 1;
}

static const luaL_Reg poll_funcs[] = {
  {"poll", l_poll},
  {"monotime", l_monotime},
  {"gettime", l_gettime},
  {"getpid", l_getpid},
  {NULL, NULL}};

void ds_open_poll(lua_State *L) {
  luaL_setfuncs(L, poll_funcs, 0);
  lua_pushinteger(L, DS_POLL_MAX);
  lua_setfield(L, -2, "POLL_MAX");
}
