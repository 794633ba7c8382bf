/*
** Local sockets (AF_UNIX): ds.unix, ds.socketpair, and the calls of
** socket.c and msg.c that take or give an address, with paths for
** addresses ("@name": a Linux abstract name, "": unnamed). Bind never
** removes a file unless asked (remove_stale), and then only a socket file
** no one listens on. Receives here give the kernel no control room, so
** descriptors passed to a socket cannot arrive through them: the kernel
** closes them.
*/
#include "ds.h"

#include <string.h>

#include <lualib.h> /* LUA_FILEHANDLE, luaL_Stream: Lua files passed as descriptors */

static const char *const type_names[] = {"stream", "dgram", "seqpacket", NULL};
static const int type_values[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};

/* ---- names ---- */

/* Why text is no path, for a DS_PATH_* code other than DS_PATH_OK. */
static const char *path_error(lua_State *L, int code) {
  if (code == DS_PATH_LONG)
    return lua_pushfstring(L, "path too long (at most %d bytes)", (int)DS_UNIX_PATH_MAX);
  return code == DS_PATH_NUL ? "path contains a NUL byte" : "path is empty";
}

/* The path argument at arg as an address: 0, or EAFNOSUPPORT for an
** abstract name where there are none (a failure, as a family the system
** lacks); raises for text that is no name. */
static int check_path(lua_State *L, int arg, ds_sockaddr *sa) {
  size_t len;
  const char *text = luaL_checklstring(L, arg, &len);
  int code = ds_unix_to_sockaddr(text, len, sa);
  if (code == DS_PATH_NOABSTRACT) return EAFNOSUPPORT;
  if (code != DS_PATH_OK) luaL_argerror(L, arg, path_error(L, code));
  return 0;
}

int ds_unix_push_name(lua_State *L, const ds_sockaddr *sa) {
  char text[DS_UNIX_PATH_MAX + 2];
  size_t n = ds_sockaddr_to_unix(sa, text);
  lua_pushlstring(L, text, n);
  return 1;
}

/* ---- constructors ---- */

static int check_type(lua_State *L, int arg) {
  return type_values[luaL_checkoption(L, arg, "stream", type_names)];
}

/* ds.unix([{type = "stream" | "dgram" | "seqpacket"}]): the userdata first
** (liolib's order), then the descriptor. */
static int l_unix(lua_State *L) {
  int type = SOCK_STREAM, err;
  ds_socket *s;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    type = type_values[ds_check_field_option(L, 1, "type", type_names, 0)];
  }
  s = ds_new_socket(L, DS_UNIX, type);
  s->fd = ds_make_socket(AF_UNIX, type, 0, &err);
  if (s->fd == DS_FD_NONE) return ds_push_error(L, err);
  return 1;
}

/* ds.socketpair([type]) -> a, b: both objects exist before the pair. */
static int l_socketpair(lua_State *L) {
  int type = lua_isnoneornil(L, 1) ? SOCK_STREAM : check_type(L, 1), err;
  ds_socket *a = ds_new_socket(L, DS_UNIX, type);
  ds_socket *b = ds_new_socket(L, DS_UNIX, type);
  ds_fd sv[2];
  if ((err = ds_sys_socketpair(type, sv)) != 0) return ds_push_error(L, err);
  a->fd = sv[0];
  b->fd = sv[1];
  a->bound = b->bound = 1;
  return 2;
}

/* ---- connection set-up ---- */

/* Is the socket file at sa stale: a connect of this type is refused, so
** no one listens there? A live server, even one with a full backlog
** (EAGAIN), is not. */
static int is_stale(int type, const ds_sockaddr *sa) {
  int err, refused;
  ds_fd fd = ds_make_socket(AF_UNIX, type, 0, &err);
  if (fd == DS_FD_NONE) return 0;
  refused = ds_sys_set_nonblocking(fd, 1) == 0 && ds_sys_connect(fd, &sa->u.sa, sa->len) < 0 &&
            ds_sys_error() == ECONNREFUSED;
  ds_sys_close(fd);
  return refused;
}

/* bind(path [, {remove_stale = true}]): binding a path that exists fails
** with EADDRINUSE; remove_stale unlinks it once, only when it is a socket
** file no one listens on, and binds again. */
int ds_unix_bind(lua_State *L, ds_socket *s) {
  ds_sockaddr sa;
  int stale = 0, err;
  const char *path = ((struct sockaddr_un *)&sa.u.ss)->sun_path;
  if ((err = check_path(L, 2, &sa)) != 0) return ds_push_error(L, err);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "remove_stale");
    stale = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  /* the field read may have run Lua code: s->fd is read afresh below (closed: EBADF) */
  if (ds_sys_bind(s->fd, &sa.u.sa, sa.len) == 0) goto bound;
  err = ds_sys_error();
  if (err == EADDRINUSE && stale && path[0] != '\0' && ds_sys_is_socket_file(path) &&
      is_stale(s->type, &sa) && ds_sys_unlink(path) == 0) {
    if (ds_sys_bind(s->fd, &sa.u.sa, sa.len) == 0) goto bound;
    err = ds_sys_error();
  }
  return ds_push_error(L, err);
bound:
  s->bound = 1;
  lua_pushinteger(L, 1);
  return 1;
}

/* A local connect completes at once or is refused; a full backlog on a
** non-blocking socket (EAGAIN) waits for room, within the one deadline:
** by naps, since no event tells when room appears (poll calls the socket
** writable at once, so waiting on it spun). */
int ds_unix_connect(lua_State *L, ds_socket *s) {
  ds_sockaddr sa;
  double deadline = DS_DEADLINE_UNSET;
  int err;
  if ((err = check_path(L, 2, &sa)) != 0) return ds_push_error(L, err);
  s->bound = 1;
  while (ds_sys_connect(s->fd, &sa.u.sa, sa.len) < 0) {
    err = ds_sys_error();
    if (err == EISCONN) break; /* the earlier try completed */
    if (err == EAGAIN || err == EWOULDBLOCK) err = ds_nap(s->timeout, &deadline); /* full backlog */
    else err = ds_retry(s, err == EINPROGRESS ? EAGAIN : err, POLLOUT, &deadline); /* Windows */
    if (err != 0) return ds_push_error(L, err);
  }
  lua_pushinteger(L, 1);
  return 1;
}

/* ---- datagrams and records ---- */

/* Is a receive of n bytes the peer's end: nothing on a stream or
** seqpacket socket (whose connection ended; a record carrying
** descriptors is a message, even empty), when room was given. Datagrams
** may be empty. */
static int is_eof(const ds_socket *s, ssize_t n, size_t max, unsigned nfds, int ctrunc) {
  return n == 0 && max > 0 && s->type != SOCK_DGRAM && nfds == 0 && !ctrunc;
}

/* recv / recvfrom on a dgram or seqpacket socket: one datagram or record
** of at most size bytes (arg 2), and with sender its sender's path. No
** control room: passed descriptors are dropped by the kernel. */
int ds_unix_recv(lua_State *L, ds_socket *s, int sender) {
  size_t max = ds_check_size(L, 2, DS_RECV_DEFAULT);
  double deadline = DS_DEADLINE_UNSET;
  ds_sockaddr from;
  ds_msghdr mh;
  ds_iov iov;
  ssize_t n;
  int err;
  char *dst;
  if (max > DS_RECV_DEFAULT) max = DS_RECV_DEFAULT;
  dst = ds_recv_buffer(L, s, max);
  memset(&from, 0, sizeof(from));
  ds_msg_set(&mh, &from.u.ss, sizeof(from.u.ss), &iov, dst, max, NULL, 0);
  while ((n = ds_sys_recvmsg(s->fd, &mh)) < 0) {
    if ((err = ds_retry(s, ds_sys_error(), POLLIN, &deadline)) != 0) return ds_push_error(L, err);
    ds_msg_reset(&mh, sizeof(from.u.ss), 0);
  }
  from.len = ds_msg_namelen(&mh);
  lua_pushlstring(L, dst, (size_t)n < max ? (size_t)n : max); /* n: the real length */
  if (is_eof(s, n, max, 0, 0)) return ds_push_failure(L, "closed", "EOF");
  if (!sender) return 1;
  if (s->type == SOCK_SEQPACKET) from.len = 0; /* a connected record has no sender name */
  return 1 + ds_unix_push_name(L, &from);
}

/* sendto(data, path) -> bytes | nil, message, code. */
int ds_unix_sendto(lua_State *L, ds_socket *s) {
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  double deadline = DS_DEADLINE_UNSET;
  ds_sockaddr to;
  ds_msghdr mh;
  ds_iov iov;
  ssize_t n;
  int err;
  if ((err = check_path(L, 3, &to)) != 0) return ds_push_error(L, err);
  ds_msg_set(&mh, &to.u.ss, to.len, &iov, (void *)data, len, NULL, 0);
  while ((n = ds_sys_sendmsg(s->fd, &mh)) < 0)
    if ((err = ds_retry(s, ds_sys_error(), POLLOUT, &deadline)) != 0) return ds_push_error(L, err);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* ---- descriptors passed along (SCM_RIGHTS) ---- */

#define DS_FD_MT "dualstack.fd"
#define DS_FDHOLDER_MT "dualstack.fdholder"
#define SEND_FDS_MAX 253 /* the kernel's SCM_MAX_FD */
#define RECV_FDS_MAX 16  /* recvmsg's room: more arrive as ctruncated, all closed */

/* A received descriptor that is no socket of ours: getfd, close, release. */
typedef struct ds_fdobj { ds_fd fd; } ds_fdobj;

/* What a recvmsg received, owned from the receive until each object takes
** its slot (made before the receive: a memory error closes the rest). */
typedef struct fd_holder {
  unsigned n;
  ds_fd fd[RECV_FDS_MAX];
} fd_holder;

static void holder_gc_slots(fd_holder *h);

static int holder_gc(lua_State *L) {
  holder_gc_slots((fd_holder *)lua_touserdata(L, 1));
  return 0;
}

static void holder_gc_slots(fd_holder *h) {
  unsigned i;
  for (i = 0; i < h->n; i++)
    if (h->fd[i] != DS_FD_NONE) ds_sys_close(h->fd[i]);
  h->n = 0;
}

static fd_holder *new_holder(lua_State *L) {
  fd_holder *h = (fd_holder *)lua_newuserdatauv(L, sizeof(*h), 0);
  h->n = 0;
  if (luaL_newmetatable(L, DS_FDHOLDER_MT)) {
    lua_pushcfunction(L, holder_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return h;
}

static ds_fdobj *check_fdobj(lua_State *L) {
  return (ds_fdobj *)luaL_checkudata(L, 1, DS_FD_MT);
}

static int fd_getfd(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_fdobj(L)->fd);
  return 1;
}

static int fd_close(lua_State *L) {
  ds_fdobj *o = check_fdobj(L);
  if (o->fd != DS_FD_NONE) ds_sys_close(o->fd);
  o->fd = DS_FD_NONE;
  lua_pushinteger(L, 1);
  return 1;
}

/* release() -> the descriptor, which the caller owns from now on. */
static int fd_release(lua_State *L) {
  ds_fdobj *o = check_fdobj(L);
  if (o->fd == DS_FD_NONE) return luaL_error(L, "attempt to use a closed descriptor");
  lua_pushinteger(L, (lua_Integer)o->fd);
  o->fd = DS_FD_NONE;
  return 1;
}

static int fd_tostring(lua_State *L) {
  ds_fdobj *o = check_fdobj(L);
  if (o->fd == DS_FD_NONE) lua_pushliteral(L, "fd: closed");
  else lua_pushfstring(L, "fd: %I", (LUAI_UACINT)o->fd);
  return 1;
}

static const luaL_Reg fd_methods[] = {
  {"getfd", fd_getfd},
  {"close", fd_close},
  {"release", fd_release},
  {NULL, NULL}};

static const luaL_Reg fd_metamethods[] = {
  {"__gc", fd_close},
  {"__close", fd_close},
  {"__tostring", fd_tostring},
  {NULL, NULL}};

static void open_fd_type(lua_State *L) {
  luaL_newmetatable(L, DS_FD_MT);
  luaL_setfuncs(L, fd_metamethods, 0);
  luaL_newlib(L, fd_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

/* Pushes an object owning the holder's slot i: a socket object for a
** socket of a kind dualstack makes (as fromfd adopts one), else, or when
** its set-up fails, a dualstack.fd. Each object is made before it takes
** the slot, so a memory error leaves the descriptor the holder's. */
static void push_received(lua_State *L, fd_holder *h, unsigned i) {
  ds_fdinfo info;
  int family = ds_inspect(h->fd[i], &info) == 0 ? ds_fd_family(&info) : -1;
  ds_fdobj *o;
  if (family >= 0) {
    ds_socket *s = ds_new_socket(L, family, SOCK_DGRAM);
    if (ds_adopt_socket(L, s, h->fd[i], &info, family, 1) == 0) { /* close-on-exec came with the receive */
      h->fd[i] = DS_FD_NONE;
      return;
    }
    lua_pop(L, 1); /* not set up as ours: given as it is */
  }
  o = (ds_fdobj *)lua_newuserdatauv(L, sizeof(*o), 0);
  o->fd = DS_FD_NONE;
  luaL_setmetatable(L, DS_FD_MT);
  o->fd = h->fd[i];
  h->fd[i] = DS_FD_NONE;
}

/* The descriptor of fds[i] (at the top of the stack), raising for what is
** none or is closed. Reads only: no Lua code runs (rule 1). */
static ds_fd fd_of(lua_State *L, lua_Integer i) {
  void *u;
  if (lua_isinteger(L, -1)) {
    lua_Integer n = lua_tointeger(L, -1);
    if (n < 0 || n > DS_FD_MAX)
      luaL_error(L, "bad field 'fds' in message (descriptor %I out of range)", (LUAI_UACINT)i);
    return (ds_fd)n;
  }
  if ((u = luaL_testudata(L, -1, DS_SOCKET_MT)) != NULL || (u = luaL_testudata(L, -1, DS_FD_MT)) != NULL) {
    ds_fd fd = luaL_testudata(L, -1, DS_FD_MT) ? ((ds_fdobj *)u)->fd : ((ds_socket *)u)->fd;
    if (fd == DS_FD_NONE) luaL_error(L, "bad field 'fds' in message (descriptor %I is closed)", (LUAI_UACINT)i);
    return fd;
  }
  if ((u = luaL_testudata(L, -1, LUA_FILEHANDLE)) != NULL) {
    luaL_Stream *f = (luaL_Stream *)u;
    long fd = f->closef ? ds_sys_fileno(f->f) : -1;
    if (fd < 0) luaL_error(L, "bad field 'fds' in message (descriptor %I is closed)", (LUAI_UACINT)i);
    return (ds_fd)fd;
  }
  luaL_error(L, "bad field 'fds' in message (descriptor %I: socket, fd, file or integer expected, got %s)",
             (LUAI_UACINT)i, luaL_typename(L, -1));
  return DS_FD_NONE;
}

/* ---- messages ---- */

/* The fields of a received local message, every one written on each
** receive (a local message never has the IP ones: nil), so nothing of an
** earlier message survives in a reused table. The first MADE are values
** made after the receive; the rest are numbers, booleans and nils. */
static const char *const msg_fields[] = {
  "data", "addr", "cred", "fds", "size", "truncated", "ctruncated",
  "port", "dst", "ifindex", "broadcast", "hoplimit", "tclass", "ecn", "segment", "timestamp", "src",
  NULL};
#define MSG_FIELDS 17
#define MSG_MADE 4
#define MSG_LOCAL 7 /* the fields a local message can have; the IP ones follow */

/* Pushes a table of objects owning what the holder received, or nil. */
static void push_fds(lua_State *L, fd_holder *h) {
  unsigned k;
  if (h->n == 0) {
    lua_pushnil(L);
    return;
  }
  lua_createtable(L, (int)h->n, 0);
  for (k = 0; k < h->n; k++) {
    push_received(L, h, k);
    lua_rawseti(L, -2, (lua_Integer)k + 1);
  }
}

/* Stores the MSG_MADE values at v and the rest into t, by the keys at k
** (msg_fields' order). Raw stores of values already made: no Lua code runs,
** so whatever a finalizer did to t while they were made, t ends with this
** message's fields (rule 2: strings first, then raw stores). */
static void store_msg(lua_State *L, int t, int k, int v, lua_Integer size, int trunc,
                      int ctrunc, int fresh) {
  int i;
  for (i = 0; i < MSG_FIELDS; i++) {
    if (i >= MSG_LOCAL && fresh) break; /* a new table has no IP fields to clear */
    lua_pushvalue(L, k + i);
    if (i < MSG_MADE) lua_pushvalue(L, v + i);
    else if (i == MSG_MADE) lua_pushinteger(L, size);
    else if (i == MSG_MADE + 1) lua_pushboolean(L, trunc);
    else if (i == MSG_MADE + 2) lua_pushboolean(L, ctrunc);
    else lua_pushnil(L);
    lua_rawset(L, t);
  }
}

/* msg, err, code = sock:recvmsg([size[, msg]]): data, addr (the sender's
** path, "" unnamed), size, truncated, ctruncated, cred with passcred, and
** fds, the descriptors passed along (at most RECV_FDS_MAX: with more, or
** a control message cut short, none is given and ctruncated says so). On
** a stream, bytes receive read ahead come first (ds_push_ahead), as recv
** gives them, so none comes out of order. At the end of a stream or
** seqpacket connection: nil, "closed", "EOF". The
** holder owns them from the receive until their objects do. Every value
** and key is made from copies on the C stack before any store; t stays
** anchored. */
static int unix_recvmsg(lua_State *L, ds_socket *s) {
  size_t max = ds_check_size(L, 2, DS_RECV_DEFAULT);
  int fresh = lua_isnoneornil(L, 3), t, err, has_cred, i, ctrunc, dropped, v, trunc;
  double deadline = DS_DEADLINE_UNSET;
  ds_sockaddr from;
  union {
    ds_cmsghdr align;
    char bytes[DS_CRED_ROOM + DS_RIGHTS_ROOM(RECV_FDS_MAX)];
  } ctl;
  fd_holder *h;
  ds_cred cred;
  ds_msghdr mh;
  ds_iov iov;
  ssize_t n;
  char *dst;
  if (fresh) {
    lua_settop(L, 2);
    lua_createtable(L, 0, MSG_LOCAL);
  } else {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
  }
  t = 3;
  luaL_checkstack(L, MSG_MADE + MSG_FIELDS + 4, "too many fields"); /* before the receive */
  h = new_holder(L); /* 4: before the receive (rule 3) */
  if (max > DS_RECV_DEFAULT) max = DS_RECV_DEFAULT;
  /* the allocations may have run Lua code: s->fd is read afresh below (closed: EBADF) */
  memset(&from, 0, sizeof(from));
  if (s->type == SOCK_STREAM && ds_push_ahead(L, s, max)) { /* read ahead: first, as recv */
    n = (ssize_t)lua_rawlen(L, -1); /* no control data: the plain read that took them had none */
    trunc = has_cred = ctrunc = 0;
  } else {
    dst = ds_recv_buffer(L, s, max);
    ds_msg_set(&mh, &from.u.ss, sizeof(from.u.ss), &iov, dst, max, ctl.bytes, sizeof(ctl.bytes));
    while ((n = ds_sys_recvmsg_rights(s->fd, &mh)) < 0) {
      if ((err = ds_retry(s, ds_sys_error(), POLLIN, &deadline)) != 0) return ds_push_error(L, err);
      ds_msg_reset(&mh, sizeof(from.u.ss), sizeof(ctl.bytes));
    }
    h->n = ds_sys_rights_take(&mh, h->fd, RECV_FDS_MAX, &dropped); /* owned from here */
    ctrunc = (ds_msg_flags(&mh) & MSG_CTRUNC) != 0 || dropped;
    if (is_eof(s, n, max, h->n, ctrunc)) return ds_push_failure(L, "closed", "EOF"); /* as recv */
    if (ctrunc) holder_gc_slots(h); /* some did not fit: none is given */
    from.len = s->type == SOCK_DGRAM ? ds_msg_namelen(&mh) : 0;
    has_cred = ds_sys_msg_cred(&mh, &cred);
    trunc = (ds_msg_flags(&mh) & MSG_TRUNC) != 0;
    lua_pushlstring(L, dst, (size_t)n < max ? (size_t)n : max); /* first: dst may be reused */
  }
  v = lua_gettop(L);
  ds_unix_push_name(L, &from);
  if (has_cred) ds_push_cred(L, &cred);
  else lua_pushnil(L);
  push_fds(L, h);
  for (i = 0; i < MSG_FIELDS; i++) lua_pushstring(L, msg_fields[i]); /* the keys: made too */
  store_msg(L, t, v + MSG_MADE, v, (lua_Integer)n, trunc, ctrunc, fresh);
  lua_pushvalue(L, t);
  return 1;
}

/* n, err, code = sock:sendmsg{data =, addr = path}: addr may be absent on
** a connected socket. Both fields stay on the stack while sent. */
static int unix_sendmsg(lua_State *L, ds_socket *s) {
  double deadline = DS_DEADLINE_UNSET;
  const char *data;
  size_t len;
  ds_sockaddr to;
  ds_msghdr mh;
  ds_iov iov;
  ssize_t n;
  int err, has_addr;
  union {
    ds_cmsghdr align;
    char bytes[DS_RIGHTS_ROOM(SEND_FDS_MAX)];
  } ctl;
  ds_fd fds[SEND_FDS_MAX];
  size_t ctllen = 0;
  lua_Integer nfds = 0, i;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_getfield(L, 2, "data"); /* 3 */
  lua_getfield(L, 2, "addr"); /* 4 */
  lua_getfield(L, 2, "fds");  /* 5: the last read that may run Lua code */
  if (lua_type(L, 3) != LUA_TSTRING)
    return luaL_error(L, "bad field 'data' in message (string expected, got %s)", luaL_typename(L, 3));
  data = lua_tolstring(L, 3, &len);
  has_addr = !lua_isnil(L, 4);
  if (has_addr) {
    if (lua_type(L, 4) != LUA_TSTRING)
      return luaL_error(L, "bad field 'addr' in message (path expected, got %s)", luaL_typename(L, 4));
    size_t plen;
    const char *path = lua_tolstring(L, 4, &plen);
    int code = ds_unix_to_sockaddr(path, plen, &to);
    if (code == DS_PATH_NOABSTRACT) return ds_push_error(L, EAFNOSUPPORT);
    if (code != DS_PATH_OK)
      return luaL_error(L, "bad field 'addr' in message (%s)", path_error(L, code));
  }
  if (!lua_isnil(L, 5)) {
    if (lua_type(L, 5) != LUA_TTABLE)
      return luaL_error(L, "bad field 'fds' in message (table expected, got %s)", luaL_typename(L, 5));
    if (lua_rawlen(L, 5) > SEND_FDS_MAX)
      return luaL_error(L, "bad field 'fds' in message (more than %d descriptors)", SEND_FDS_MAX);
    nfds = (lua_Integer)lua_rawlen(L, 5);
  }
  /* the field reads may have run Lua code: s->fd is read afresh below (closed: EBADF) */
  /* From here to the send no Lua code runs: the descriptors read are the
  ** ones sent (rule 1). */
  for (i = 1; i <= nfds; i++) {
    lua_rawgeti(L, 5, i);
    fds[i - 1] = fd_of(L, i);
    lua_pop(L, 1);
  }
  if (nfds > 0 && (ctllen = ds_sys_rights_put(ctl.bytes, fds, (unsigned)nfds)) == 0)
    return ds_push_error(L, EAFNOSUPPORT); /* no descriptor passing here */
  ds_msg_set(&mh, has_addr ? &to.u.ss : NULL, has_addr ? to.len : 0, &iov, (void *)data, len,
             ctllen ? ctl.bytes : NULL, ctllen);
  while ((n = ds_sys_sendmsg(s->fd, &mh)) < 0)
    if ((err = ds_retry(s, ds_sys_error(), POLLOUT, &deadline)) != 0) return ds_push_error(L, err);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

int ds_unix_msg(lua_State *L, ds_socket *s, int send) {
  return send ? unix_sendmsg(L, s) : unix_recvmsg(L, s);
}

/* ---- the object ---- */

static const luaL_Reg constructors[] = {
  {"unix", l_unix},
  {"socketpair", l_socketpair},
  {NULL, NULL}};

void ds_open_unix(lua_State *L) {
  luaL_setfuncs(L, constructors, 0);
  open_fd_type(L);
}
