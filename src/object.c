/*
** The socket object: the userdata and its checks, the method table every
** file adds to, the memory a socket owns (its receive buffer and the
** scratch a call borrows), a blocked call's wait, and the life cycle
** (close, __gc, __close, __tostring). liolib's model: an explicit closed
** state, and using a closed socket is a programming error.
*/
#include "ds.h"

#include <string.h>

/* Largest buffer a socket keeps between calls; a bigger one is the call's
** alone, so one large batch does not pin its memory for the socket's life. */
#define DS_KEEP_MAX (1 << 20)

const char *const ds_family_names[] = {"dual", "inet6", "inet", NULL};

/* Socket methods have the socket metatable as their first upvalue:
** comparing with it costs a fraction of luaL_checkudata, which looks the
** metatable up by name in the registry. Any other caller gets that lookup. */
ds_socket *ds_check_socket(lua_State *L, int arg) {
  void *s = lua_touserdata(L, arg);
  if (s && lua_getmetatable(L, arg)) {
    int same = lua_rawequal(L, -1, DS_UPVALUE_MT);
    lua_pop(L, 1);
    if (same) return (ds_socket *)s;
  }
  return (ds_socket *)luaL_checkudata(L, arg, DS_SOCKET_MT);
}

ds_socket *ds_check_open(lua_State *L, int arg) {
  ds_socket *s = ds_check_socket(L, arg);
  if (s->fd == DS_FD_NONE) luaL_error(L, "attempt to use a closed socket");
  return s;
}

/* Raises unless s is of type, naming the argument that needs it (1: the
** socket itself) and, in what, for what (may be empty). The one way a
** socket of the wrong type is reported. */
void ds_need_type(lua_State *L, const ds_socket *s, int type, int arg, const char *what) {
  if (s->type == type) return;
  luaL_argerror(L, arg, lua_pushfstring(L, "%s socket expected%s, got %s socket",
                                        type == SOCK_DGRAM ? "udp" : "tcp", what,
                                        s->type == SOCK_DGRAM ? "udp" : "tcp"));
}

/* A size argument. Past what size_t holds (a 32-bit system) it is the
** largest count, never a wrapped small one; SIZE_MAX itself stays the
** stream reader's "to the end". */
size_t ds_check_size(lua_State *L, int arg, lua_Integer def) {
  lua_Integer n = luaL_optinteger(L, arg, def);
  luaL_argcheck(L, n >= 0, arg, "size must not be negative");
  return (lua_Unsigned)n >= SIZE_MAX ? SIZE_MAX - 1 : (size_t)n;
}

/* Pushes a socket without a descriptor yet: what owns the descriptor
** comes first (liolib's order), so a memory error raised while making it
** can leak none. */
ds_socket *ds_new_socket(lua_State *L, int family, int type) {
  ds_socket *s = (ds_socket *)lua_newuserdatauv(L, sizeof(ds_socket), DS_SLOTS);
  s->fd = DS_FD_NONE;
  s->family = family;
  s->type = type;
  s->bound = 0;
  s->recvopts = 0;
  s->spoofed = 0;
  s->rxbuf = NULL;
  s->rxcap = 0;
  s->cmsgspace = 0;
  s->maxline = 0;
  s->timeout = -1;
  s->want = POLLIN;
  memset(s->known, 0, sizeof(s->known)); /* af 0: nothing known */
  s->first = s->last = 0;
  s->errq = NULL; /* recverr (issue 17) */
  s->proto = s->raw = 0; /* ICMP sockets (issue 17) */
  luaL_setmetatable(L, DS_SOCKET_MT);
  return s;
}

/* recverr (issue 17), the no-spin rule: with recverr on, asynchronous
** errors are reported by recverr() only. ds_retry with recverr on. A
** failed call moves the kernel's queue into the socket's FIFO
** (core/errq.c): when an entry of the network's moved, the error may have
** been its (sk_err, now consumed) and the call goes on, bounded by its
** deadline; else the error is the call's own (a local EMSGSIZE, whose twin
** stays for recverr). Any errno can be the network's (ICMPv6 administratively
** prohibited is EACCES, protocol unreachable ENOPROTOOPT), so none is
** singled out: a call's own error comes back on the retry, with nothing
** moved. A call that would block moves what is queued first (else POLLERR
** stays up), and a wait woken by POLLERR alone moves it and waits again
** within the same deadline. */
static int retry_past_errors(ds_socket *s, int err, short events, double *deadline) {
  if (err != EAGAIN && err != EWOULDBLOCK) {
    if (!(ds_errq_drain(s->fd, s->errq) & DS_ERRQ_MOVED_NET)) return err;
    return ds_deadline_passed(s->timeout, deadline) ? ETIMEDOUT : 0;
  }
  s->want = events;
  (void)ds_errq_drain(s->fd, s->errq);
  for (;;) {
    short rev;
    int r = ds_wait_ready_ev(s->fd, events, s->timeout, deadline, &rev);
    if (r != 0 || !(rev & POLLERR) || (rev & events)) return r;
    if (!ds_errq_drain(s->fd, s->errq) && !ds_errq_keep_pending(s->fd, s->errq))
      return 0; /* nothing to move: the call itself reports what is there */
  }
}

/* After a system call failed with err: 0 to try it again (a signal
** interrupted it, or the socket became ready), else the error to report.
** One deadline per call (ds_wait_ready starts it on the first wait). The
** direction that would block is remembered for event loops (the pollable
** protocol). */
int ds_retry(ds_socket *s, int err, short events, double *deadline) {
  if (err == EINTR) return 0;
  if (s->errq) return retry_past_errors(s, err, events, deadline); /* recverr (issue 17) */
  if (err != EAGAIN && err != EWOULDBLOCK) return err;
  s->want = events;
  return ds_wait_ready(s->fd, events, s->timeout, deadline);
}

/* ---- memory a socket owns ---- */

/* A buffer of at least size bytes for one call, left on the stack, which
** anchors it. It is the socket's kept buffer when that is large enough,
** taken from the socket meanwhile: Lua code the call runs (a finalizer
** receiving on the same socket) then gets a buffer of its own instead of
** overwriting or replacing this one. */
void *ds_borrow(lua_State *L, int sockarg, size_t size) {
  if (lua_getiuservalue(L, sockarg, DS_SLOT_SCRATCH) == LUA_TUSERDATA &&
      lua_rawlen(L, -1) >= size) {
    lua_pushnil(L);
    lua_setiuservalue(L, sockarg, DS_SLOT_SCRATCH);
    return lua_touserdata(L, -1);
  }
  lua_pop(L, 1);
  return lua_newuserdatauv(L, size ? size : 1, 0);
}

/* Keeps the borrowed buffer at idx (nil: none was borrowed) for the
** socket's next call, unless it is too large to keep. */
void ds_give_back(lua_State *L, int sockarg, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) > DS_KEEP_MAX) return;
  lua_pushvalue(L, idx);
  lua_setiuservalue(L, sockarg, DS_SLOT_SCRATCH);
}

static void free_recv_buffer(lua_State *L, ds_socket *s) {
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud);
  if (s->rxbuf) alloc(ud, s->rxbuf, s->rxcap, 0);
  s->rxbuf = NULL;
  s->rxcap = 0;
}

/* Makes the receive buffer size bytes: its old bytes are not needed, so it
** is freed and allocated anew, not reallocated (no copy). Returns 0 when
** memory ran out, the socket then holding none. */
static int grow_recv_buffer(lua_State *L, ds_socket *s, size_t size) {
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud); /* the state's: no collection step */
  free_recv_buffer(L, s);
  if ((s->rxbuf = (char *)alloc(ud, NULL, 0, size)) == NULL) return 0;
  s->rxcap = size;
  return 1;
}

/* Where one receive of size bytes lands: the read-ahead buffer when it is
** free and large enough, else the socket's own, grown as needed. The
** caller makes its string before any Lua code can run (lua_pushlstring
** copies before it collects), so code that receives on this socket or
** closes it (a finalizer) never meets the bytes still in use. Batches,
** which make many strings, borrow instead (ds_borrow). */
char *ds_recv_buffer(lua_State *L, ds_socket *s, size_t size) {
  if (size <= sizeof(s->buf) && s->first == s->last) return s->buf;
  if (size > s->rxcap && !grow_recv_buffer(L, s, size)) {
    /* As Lua's own allocations do when memory runs out: a full collection,
    ** whose finalizers run before the caller holds anything, then again. */
    lua_gc(L, LUA_GCCOLLECT);
    if (size > s->rxcap && !grow_recv_buffer(L, s, size)) luaL_error(L, "not enough memory");
  }
  return s->rxbuf;
}

/* ---- the read-ahead (receive's buffer, s->buf[first..last)) ---- */

/* Copies up to len bytes of the read-ahead to dst; returns how many. */
size_t ds_take_ahead(ds_socket *s, char *dst, size_t len) {
  size_t n = s->last - s->first;
  if (n > len) n = len;
  memcpy(dst, s->buf + s->first, n);
  s->first += n;
  if (s->first == s->last) s->first = s->last = 0;
  return n;
}

/* How much to reserve for a piece of at most max bytes: no more than the
** read-ahead holds, when it holds any. What is taken is decided after the
** reservation, which may have run a finalizer. */
size_t ds_ahead_room(const ds_socket *s, size_t max) {
  size_t n = s->last - s->first;
  return n > 0 && n < max ? n : max;
}

/* A stream's next piece of at most max bytes from the read-ahead, pushed
** as a string: 1; or 0 with nothing pushed when the read-ahead is empty,
** or a finalizer run by the reservation took it (the socket is next). Any
** receive of a stream (recv, a local recvmsg) gives these bytes first, so
** none comes out of order. */
int ds_push_ahead(lua_State *L, ds_socket *s, size_t max) {
  luaL_Buffer b;
  size_t room, n;
  char *dst;
  if (s->first == s->last) return 0;
  room = ds_ahead_room(s, max);
  dst = luaL_buffinitsize(L, &b, room); /* may run a finalizer that reads */
  n = ds_take_ahead(s, dst, room);
  luaL_pushresultsize(&b, n);
  if (n > 0 || max == 0) return 1;
  lua_pop(L, 1);
  return 0;
}

/* ---- the pollable protocol, timeouts ---- */

static int sock_getfd(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ds_check_socket(L, 1)->fd);
  return 1;
}

/* LuaSocket's select asks whether data waits in our read-ahead buffer. */
static int sock_dirty(lua_State *L) {
  ds_socket *s = ds_check_socket(L, 1);
  lua_pushboolean(L, s->first < s->last);
  return 1;
}

/* The pollable protocol of cqueues: the descriptor, the events the last
** call that would have blocked waited for, and no timeout of its own. */
static int sock_events(lua_State *L) {
  ds_socket *s = ds_check_socket(L, 1);
  lua_pushstring(L, s->want == POLLOUT ? "w" : "r");
  return 1;
}

static int sock_polltimeout(lua_State *L) {
  ds_check_socket(L, 1);
  lua_pushnil(L);
  return 1;
}

static int sock_getfamily(lua_State *L) {
  ds_socket *s = ds_check_socket(L, 1);
  if (s->family == DS_UNIX) lua_pushliteral(L, "unix"); /* local sockets: not a tcp/udp name */
  else lua_pushstring(L, ds_family_names[s->family]);
  return 1;
}

/* settimeout(seconds | nil [, mode]): mode is LuaSocket's "b" (per call)
** or "t" (total); both mean the same here, a limit on each whole call,
** since every call keeps one deadline for all of its system calls. */
static int sock_settimeout(lua_State *L) {
  static const char *const modes[] = {"b", "t", NULL};
  ds_socket *s = ds_check_open(L, 1);
  double t = luaL_optnumber(L, 2, -1);
  int err;
  luaL_argcheck(L, t == t, 2, "timeout is NaN");
  luaL_checkoption(L, 3, "b", modes);
  if (t < 0) t = -1;
  if ((err = ds_sys_set_nonblocking(s->fd, t >= 0)) != 0) return ds_push_error(L, err);
  s->timeout = t;
  lua_pushinteger(L, 1);
  return 1;
}

static int sock_gettimeout(lua_State *L) {
  ds_socket *s = ds_check_socket(L, 1);
  if (s->timeout < 0) lua_pushnil(L);
  else lua_pushnumber(L, s->timeout);
  return 1;
}

/* ---- life cycle ---- */

/* Leaves the socket at 1 closed without touching its descriptor: the
** read-ahead and the batch buffer go, so a closed socket keeps no memory. */
static void forget_descriptor(lua_State *L, ds_socket *s) {
  s->fd = DS_FD_NONE;
  s->first = s->last = 0; /* nothing left to read: dirty() is false */
  free_recv_buffer(L, s);
  ds_errq_free(s->errq); /* recverr (issue 17): its FIFO goes too */
  s->errq = NULL;
  lua_pushnil(L);
  lua_setiuservalue(L, 1, DS_SLOT_SCRATCH);
}

static int sock_close(lua_State *L) {
  ds_socket *s = ds_check_socket(L, 1);
  if (s->fd != DS_FD_NONE) ds_sys_close(s->fd);
  forget_descriptor(L, s);
  lua_pushinteger(L, 1);
  return 1;
}

/* detach(): gives the descriptor up, open, to the caller (LuaSocket's
** setfd, LuaSec's wrap), leaving the socket closed. Bytes already read
** ahead are dropped with the buffer, as close drops them. */
static int sock_detach(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  ds_fd fd = s->fd;
  forget_descriptor(L, s);
  lua_pushinteger(L, (lua_Integer)fd);
  return 1;
}

/* sock:gettype() and __tostring name the socket type. */
static const char *type_name(const ds_socket *s) {
  if (s->raw) return "raw";
  return s->type == SOCK_STREAM ? "stream" : s->type == SOCK_SEQPACKET ? "seqpacket" : "dgram";
}

/* Local sockets: "unix{dgram, fd 6, @name}", no name part when unnamed. */
static int unix_tostring(lua_State *L, const ds_socket *s) {
  const char *type = type_name(s);
  char text[DS_UNIX_PATH_MAX + 2];
  ds_sockaddr sa;
  size_t n = 0;
  if (s->fd == DS_FD_NONE) {
    lua_pushliteral(L, "unix{closed}");
    return 1;
  }
  sa.len = sizeof(sa.u);
  if (ds_sys_sockname(s->fd, &sa.u.sa, &sa.len) == 0) n = ds_sockaddr_to_unix(&sa, text);
  lua_pushfstring(L, "unix{%s, fd %I", type, (LUAI_UACINT)s->fd);
  if (n) {
    lua_pushliteral(L, ", ");
    lua_pushlstring(L, text, n);
  }
  lua_pushliteral(L, "}");
  lua_concat(L, n ? 4 : 2);
  return 1;
}


/* ICMP sockets (issue 17) and local ones: "raw", "stream", "dgram", "seqpacket". */
static int sock_gettype(lua_State *L) {
  lua_pushstring(L, type_name(ds_check_open(L, 1)));
  return 1;
}

static int sock_tostring(lua_State *L) {
  ds_socket *s = ds_check_socket(L, 1);
  const char *type = s->proto ? "icmp" : s->type == SOCK_STREAM ? "tcp" : "udp";
  const char *family;
  lua_Integer fd = (lua_Integer)s->fd;
  ds_sockaddr sa;
  ds_ip ip;
  char text[DS_ADDRSTRLEN];
  int port;
  if (s->family == DS_UNIX) return unix_tostring(L, s); /* local sockets */
  /* an icmp socket's family text names its type too: icmp{inet, raw, fd 5} (anchored below) */
  family = s->proto ? lua_pushfstring(L, "%s, %s", ds_family_names[s->family], type_name(s))
                    : ds_family_names[s->family];
  sa.len = sizeof(sa.u);
  if (s->fd == DS_FD_NONE) {
    lua_pushfstring(L, "%s{closed}", type);
  } else if (ds_sys_sockname(s->fd, &sa.u.sa, &sa.len) < 0 ||
             (port = ds_sockaddr_to_ip(&sa.u.sa, &ip)) < 0) {
    lua_pushfstring(L, "%s{%s, fd %I}", type, family, (LUAI_UACINT)fd);
  } else {
    ds_ntop(&ip, text);
    lua_pushfstring(L, ip.af == AF_INET6 ? "%s{%s, fd %I, [%s]:%d}" : "%s{%s, fd %I, %s:%d}",
                    type, family, (LUAI_UACINT)fd, text, port);
  }
  return 1;
}

static const luaL_Reg methods[] = {
  {"settimeout", sock_settimeout},
  {"gettimeout", sock_gettimeout},
  {"getfd", sock_getfd},
  {"dirty", sock_dirty},
  {"pollfd", sock_getfd},
  {"events", sock_events},
  {"timeout", sock_polltimeout},
  {"getfamily", sock_getfamily},
  {"gettype", sock_gettype}, /* issue 17 */
  {"close", sock_close},
  {"detach", sock_detach},
  {NULL, NULL}};

static const luaL_Reg metamethods[] = {
  {"__gc", sock_close},
  {"__close", sock_close},
  {"__tostring", sock_tostring},
  {NULL, NULL}};

/* Creates the socket metatable, whose metamethods have it as upvalue, as
** every method has (ds_add_methods). */
void ds_open_object(lua_State *L) {
  luaL_newmetatable(L, DS_SOCKET_MT);
  lua_pushvalue(L, -1);
  luaL_setfuncs(L, metamethods, 1);
  lua_pop(L, 1);
  ds_add_methods(L, methods, 0);
}

/* Adds funcs to the socket's method table (made on first use). Their
** upvalues are the metatable (DS_UPVALUE_MT), then the nup values on top
** of the stack, which are popped. */
void ds_add_methods(lua_State *L, const luaL_Reg *funcs, int nup) {
  luaL_getmetatable(L, DS_SOCKET_MT);
  if (lua_getfield(L, -1, "__index") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
  }
  lua_insert(L, -(nup + 2)); /* methods, then metatable, below the upvalues */
  lua_insert(L, -(nup + 1));
  luaL_setfuncs(L, funcs, nup + 1);
  lua_pop(L, 1);
}
