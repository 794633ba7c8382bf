/*
** Sockets as LuaSocket has them: creation, connection set-up, stream and
** datagram I/O with LuaSocket's names and results, and the addresses of
** the two ends. The userdata itself is object.c's.
*/
#include "ds.h"

#include <limits.h>
#include <string.h>

#define DS_CHUNK (1 << 20) /* largest piece asked of the kernel at once */

/* The userdata comes first (liolib's order): a memory error raised while
** making it can then leak no descriptor. */
static int new_socket(lua_State *L, int type) {
  int family = DS_DUAL, err;
  ds_socket *s;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    family = ds_check_field_option(L, 1, "family", ds_family_names, DS_DUAL);
  }
  s = ds_new_socket(L, family, type);
  s->fd = ds_make_socket(family == DS_INET ? AF_INET : AF_INET6, type, family == DS_INET6, &err);
  if (s->fd == DS_FD_NONE) return ds_push_error(L, err);
  if (family != DS_INET && type == SOCK_DGRAM) s->recvopts = DS_RECV_GUARD;
  return 1;
}

static int l_tcp(lua_State *L) { return new_socket(L, SOCK_STREAM); }

/* nil, "descriptor N ...", code: why fd cannot be adopted. */
static int refuse_fd(lua_State *L, lua_Integer fd, const char *why, const char *code) {
  return ds_push_failure(L, lua_pushfstring(L, "descriptor %I %s", (LUAI_UACINT)fd, why), code);
}

/* The kinds fromfd takes, and what each is called in its refusals. */
static const char *const fd_kinds[] = {"tcp", "udp", "unix", "icmp", NULL};
static const char *const fd_kind_names[] = {"a tcp", "a udp", "a unix", "an icmp"};
enum { KIND_TCP, KIND_UDP, KIND_UNIX, KIND_ICMP };

/* The kind (fd_kinds' index) of a socket of family by info. */
static int kind_of(const ds_fdinfo *info, int family) {
  if (family == DS_UNIX) return KIND_UNIX;
  if (info->proto) return KIND_ICMP;
  return info->type == SOCK_STREAM ? KIND_TCP : KIND_UDP;
}

/* fromfd(fd [, kind]): a socket object owning a descriptor made elsewhere
** (inherited, systemd's, inetd's stdin). Type, family and v6only are
** read from it; it is set up as tcp, udp, unix and icmp set theirs up.
** The object comes first, so a memory error leaves the descriptor the
** caller's. Every check (what it is, which receive options are on) only
** reads, and comes before any change; only the set-up itself can fail
** after a change (a system failure), and then the descriptor stays the
** caller's, open, with what was done before the failure
** (docs/dualstack.luadoc: fromfd). The object owns it once nothing can
** fail. */
static int l_fromfd(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  int kind = lua_isnoneornil(L, 2) ? -1 : luaL_checkoption(L, 2, NULL, fd_kinds), err, family, is;
  ds_socket *s;
  ds_fdinfo info;
  luaL_argcheck(L, n >= 0 && n <= DS_FD_MAX, 1, "descriptor out of range");
  s = ds_new_socket(L, DS_DUAL, SOCK_STREAM);
  if ((err = ds_inspect((ds_fd)n, &info)) == ENOTSOCK) return refuse_fd(L, n, "is not a socket", "ENOTSOCK");
  if (err == EAFNOSUPPORT)
    return refuse_fd(L, n, "is not an IPv4, IPv6 or local socket", "EAFNOSUPPORT");
  if (err) return ds_push_error(L, err);
  if (kind == KIND_UNIX && info.af != AF_UNIX)
    return refuse_fd(L, n, "is not a unix socket", "EAFNOSUPPORT");
  if ((family = ds_fd_family(&info)) < 0)
    return refuse_fd(L, n, "is neither a tcp nor a udp socket", "EPROTOTYPE");
  if (kind >= 0 && (is = kind_of(&info, family)) != kind)
    return refuse_fd(L, n, lua_pushfstring(L, "is %s socket, %s expected", fd_kind_names[is], fd_kinds[kind]),
                     "EPROTOTYPE");
  if ((err = ds_adopt_socket(L, s, (ds_fd)n, &info, family, 0)) != 0) return ds_push_error(L, err);
  return 1;
}
static int l_udp(lua_State *L) { return new_socket(L, SOCK_DGRAM); }

static int push_true(lua_State *L) {
  lua_pushinteger(L, 1); /* LuaSocket's success value */
  return 1;
}

/* ---- connection set-up ---- */

static int sock_bind(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  ds_sockaddr sa;
  int n;
  if (s->family == DS_UNIX) return ds_unix_bind(L, s); /* local sockets: paths */
  if ((n = ds_resolve(L, s, 2, 3, &sa)) != 0) return n;
  if (ds_sys_bind(s->fd, &sa.u.sa, sa.len) < 0) return ds_push_error(L, ds_sys_error());
  s->bound = 1;
  return push_true(L);
}

/* The kernel caps the backlog at its own limit (net.core.somaxconn), which
** may exceed the header's SOMAXCONN (128 on musl): the default asks for
** the most (DS_BACKLOG_MAX), and only the conversion to int is clamped. */
static int sock_listen(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  lua_Integer backlog = luaL_optinteger(L, 2, DS_BACKLOG_MAX);
  luaL_argcheck(L, backlog >= 0, 2, "backlog must not be negative");
  if (backlog > INT_MAX) backlog = INT_MAX;
  if (ds_sys_listen(s->fd, (int)backlog) < 0) return ds_push_error(L, ds_sys_error());
  s->bound = 1;
  return push_true(L);
}

/* The client's userdata is made before accept, so a memory error leaves
** the connection queued. Its allocation may run a finalizer that closes
** the listener: s->fd is read afterwards (none fails with EBADF). */
static int sock_accept(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  ds_socket *client = ds_new_socket(L, s->family, s->type);
  double deadline = DS_DEADLINE_UNSET;
  int err;
  while ((client->fd = ds_sys_accept(s->fd)) == DS_FD_NONE)
    if ((err = ds_retry(s, ds_sys_error(), POLLIN, &deadline)) != 0)
      return ds_push_error(L, err);
  client->bound = 1;
  client->maxline = s->maxline; /* a listener's line limit holds for its clients */
  return 1;
}

/* A connect in progress (non-blocking, or interrupted by a signal) ends
** when the socket turns writable; SO_ERROR then holds its outcome. */
static int finish_connect(ds_socket *s, int err) {
  if (err != EINPROGRESS && err != EINTR && err != EAGAIN) return err;
  s->want = POLLOUT;
  if (s->timeout == 0) return ETIMEDOUT;
  if ((err = ds_wait(s->fd, POLLOUT, ds_deadline(s->timeout))) != 0) return err;
  return ds_pending_error(s->fd);
}

static int sock_connect(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  ds_sockaddr sa;
  int n, err;
  if (s->family == DS_UNIX) return ds_unix_connect(L, s); /* local sockets: paths */
  if ((n = ds_resolve(L, s, 2, 3, &sa)) != 0) return n;
  s->bound = 1;
  if (ds_sys_connect(s->fd, &sa.u.sa, sa.len) < 0 &&
      (err = finish_connect(s, ds_sys_error())) != 0)
    return ds_push_error(L, err);
  return push_true(L);
}

/* LuaSocket's setpeername: connect, and on UDP "*" (no port) dissolves
** the association, so sendto reaches any peer again. */
static int sock_setpeername(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  size_t len;
  const char *host = luaL_checklstring(L, 2, &len);
  if (len != 1 || host[0] != '*') return sock_connect(L);
  ds_need_type(L, s, SOCK_DGRAM, 2, " for setpeername(\"*\") (disconnect)");
  if (ds_sys_disconnect(s->fd) < 0) return ds_push_error(L, ds_sys_error());
  return push_true(L);
}

static int sock_shutdown(lua_State *L) {
  static const char *const hows[] = {"both", "send", "receive", NULL};
  static const int values[] = {DS_SHUT_RDWR, DS_SHUT_WR, DS_SHUT_RD};
  ds_socket *s = ds_check_open(L, 1);
  int how = luaL_checkoption(L, 2, "both", hows);
  if (ds_sys_shutdown(s->fd, values[how]) < 0) return ds_push_error(L, ds_sys_error());
  return push_true(L);
}

/* ---- receiving ----
** Every stream receive has one deadline (DS_DEADLINE_UNSET until its first
** wait) that all of its recvs share. Growing a luaL_Buffer or making a
** string may run a finalizer that receives on the same socket or closes
** it: the read-ahead is looked at only after such a call, never through a
** pointer kept across it, and s->fd is read afresh for each recv. */

/* What the stream readers return besides 0 and an errno value. */
enum { READ_EOF = -1, READ_LONG = -2 };

/* One recv into dst; returns bytes, 0 at end of stream, or -1 with *err. */
static ssize_t recv_some(ds_socket *s, char *dst, size_t len, double *deadline, int *err) {
  ssize_t n;
  while ((n = ds_sys_recv(s->fd, dst, len)) < 0)
    if ((*err = ds_retry(s, ds_sys_error(), POLLIN, deadline)) != 0) return -1;
  return n;
}

/* The next piece of a stream into dst: the read-ahead, else one recv. */
static ssize_t read_into(ds_socket *s, char *dst, size_t len, double *deadline, int *err) {
  if (s->first < s->last) return (ssize_t)ds_take_ahead(s, dst, len);
  return recv_some(s, dst, len, deadline, err);
}

/* Refills the empty read-ahead buffer; 0, READ_EOF or the error. */
static int fill_buffer(ds_socket *s, double *deadline) {
  int err = 0;
  ssize_t n = recv_some(s, s->buf, sizeof(s->buf), deadline, &err);
  if (n < 0) return err;
  if (n == 0) return READ_EOF;
  s->first = 0;
  s->last = (size_t)n;
  return 0;
}

/* Reads into b until want bytes arrived (want = SIZE_MAX: until EOF).
** Large reads go straight into the result, not through the read-ahead. */
static int read_count(ds_socket *s, luaL_Buffer *b, size_t want, double *deadline) {
  int err = 0;
  while (want > 0) {
    size_t ask = ds_ahead_room(s, want < DS_CHUNK ? want : DS_CHUNK);
    char *dst = luaL_prepbuffsize(b, ask);
    ssize_t n = read_into(s, dst, ask, deadline, &err);
    if (n < 0) return err;
    if (n == 0) return READ_EOF;
    luaL_addsize(b, (size_t)n);
    if (want != SIZE_MAX) want -= (size_t)n;
  }
  return 0;
}

/* LuaSocket's "*l": up to LF, which is dropped with every CR; "L" (raw)
** keeps them, so the caller sees every byte consumed. At most max bytes
** other than CR and LF are taken; the byte past them stays unread and the
** read ends with READ_LONG. A byte is consumed before luaL_addchar, whose
** growth may run a finalizer that reads on. */
static int read_line(ds_socket *s, luaL_Buffer *b, size_t max, int raw, double *deadline) {
  size_t kept = 0;
  for (;;) {
    int err;
    while (s->first < s->last) {
      char c = s->buf[s->first];
      if (c != '\n' && c != '\r' && kept == max) return READ_LONG;
      s->first++;
      if (c != '\r' && c != '\n') kept++;
      if (raw || (c != '\r' && c != '\n')) luaL_addchar(b, c);
      if (c == '\n') return 0;
    }
    s->first = s->last = 0;
    if ((err = fill_buffer(s, deadline)) != 0) return err;
  }
}

/* Completes a pattern read whose data (all, or the partial part) is on
** top: data, or nil, err, partial, code. */
static int finish_read(lua_State *L, int err, int eof_ok) {
  if (err == 0 || (err == READ_EOF && eof_ok)) return 1;
  lua_pushnil(L);
  lua_pushstring(L, err == READ_EOF ? "closed" : err == READ_LONG ? "line too long"
                                                                   : ds_errmessage(err));
  lua_rotate(L, -3, -1);
  if (err == READ_EOF) lua_pushliteral(L, "EOF");
  else ds_push_errname(L, err == READ_LONG ? EMSGSIZE : err);
  return 4;
}

/* Reads exactly want bytes into buf, the read-ahead first: one buffer
** that is reused, and one string made at the end. *got counts what
** arrived before an error or the end of the stream. */
static int read_exact(ds_socket *s, char *buf, size_t want, size_t *got, double *deadline) {
  int err = 0;
  *got = 0;
  while (*got < want) {
    ssize_t n = read_into(s, buf + *got, want - *got, deadline, &err);
    if (n < 0) return err;
    if (n == 0) return READ_EOF;
    *got += (size_t)n;
  }
  return 0;
}

/* A single receive never needs more than the largest datagram, or a large
** stream chunk: bigger requests are trimmed, not allocated. */
static size_t check_recv_size(lua_State *L, int arg) {
  size_t n = ds_check_size(L, arg, DS_RECV_DEFAULT);
  return n < DS_CHUNK ? n : DS_CHUNK;
}

static int recv_one(lua_State *L, ds_socket *s, size_t max, int sender);

/* The prefix argument (when given) in front of the string on top. The data
** became a string first: lua_pushlstring copies before it can run a
** finalizer. */
static void add_prefix(lua_State *L, int prefixarg) {
  if (lua_isnil(L, prefixarg)) return;
  lua_pushvalue(L, prefixarg);
  lua_insert(L, -2);
  lua_concat(L, 2);
}

/* receive(n [, prefix]); the stack is socket, n, prefix (or nil). */
static int receive_count(lua_State *L, ds_socket *s, size_t want, double *deadline) {
  size_t got;
  int err;
  if (want <= DS_CHUNK) {
    char *buf = ds_recv_buffer(L, s, want);
    err = read_exact(s, buf, want, &got, deadline);
    lua_pushlstring(L, buf, got);
    add_prefix(L, 3);
  } else { /* a huge count grows as the data comes, not all at once */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (!lua_isnil(L, 3)) {
      lua_pushvalue(L, 3);
      luaL_addvalue(&b);
    }
    err = read_count(s, &b, want, deadline);
    luaL_pushresult(&b);
  }
  return finish_read(L, err, 0);
}

/* receive(pattern | n [, prefix]) on a stream: LuaSocket's shapes, one
** deadline for the whole call. "*l" (and "L") stop at the maxline option. */
static int sock_receive(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  double deadline = DS_DEADLINE_UNSET;
  size_t plen = 0;
  const char *prefix = luaL_optlstring(L, 3, NULL, &plen), *p;
  luaL_Buffer b;
  int err;
  if (s->family == DS_UNIX && s->type != SOCK_STREAM) /* local sockets: patterns need a stream */
    return luaL_argerror(L, 1, lua_pushfstring(L, "stream socket expected, got %s socket",
                                                s->type == SOCK_DGRAM ? "dgram" : "seqpacket"));
  if (s->type == SOCK_DGRAM) return recv_one(L, s, check_recv_size(L, 2), 0);
  if (lua_type(L, 2) == LUA_TNUMBER) {
    size_t want = ds_check_size(L, 2, 0);
    lua_settop(L, 3);
    return receive_count(L, s, want, &deadline);
  }
  p = luaL_optstring(L, 2, "*l");
  if (*p == '*') p++;
  if (strcmp(p, "l") != 0 && strcmp(p, "a") != 0 && strcmp(p, "L") != 0)
    return luaL_argerror(L, 2, "invalid receive pattern (\"*l\", \"*a\" or a size)");
  lua_settop(L, 3); /* the buffer's slot goes above the arguments */
  luaL_buffinit(L, &b);
  luaL_addlstring(&b, prefix ? prefix : "", plen); /* prefix stays anchored at 3 */
  if (*p == 'a') err = read_count(s, &b, SIZE_MAX, &deadline);
  else err = read_line(s, &b, s->maxline ? s->maxline : SIZE_MAX, *p == 'L', &deadline);
  luaL_pushresult(&b);
  return finish_read(L, err, *p == 'a');
}

/* Pushes a datagram's address and port and, with pktinfo on, the
** destination and arrival interface (each nil when absent): what it takes
** to answer it with sendto. Returns the count pushed. */
static int push_sender(lua_State *L, ds_socket *s, const ds_rx *rx) {
  ds_push_peer(L, s, 1, &rx->from.u.sa);
  if (!(s->recvopts & DS_RECV_PKTINFO)) return 2;
  ds_push_dst(L, s, 1, &rx->got);
  if (rx->got.have & DS_CTL_IFINDEX) lua_pushinteger(L, rx->got.ifindex);
  else lua_pushnil(L);
  return 4;
}

/* One datagram (or, on a stream, what one recv returns) of at most max
** bytes, pushed as a string; with sender, the datagram's address and port
** follow. Datagrams go through the receive loop that drops spoofed ones. */
static int recv_one(lua_State *L, ds_socket *s, size_t max, int sender) {
  double deadline = DS_DEADLINE_UNSET;
  char *dst;
  int err = 0;
  ds_msghdr mh;
  ds_iov iov;
  ds_rx rx;
  ssize_t n;
  if (s->type == SOCK_DGRAM && max > DS_RECV_DEFAULT) max = DS_RECV_DEFAULT; /* the largest */
  dst = ds_recv_buffer(L, s, s->type == SOCK_DGRAM ? ds_rx_room(s, max) : max);
  if (s->type == SOCK_DGRAM) {
    ds_setup_rx(s, &mh, &iov, dst, ds_rx_room(s, max), &rx); /* copied: max bytes at most */
    n = ds_recv_dgram(s, &mh, &rx, &deadline, &err);
  } else {
    n = read_into(s, dst, max, &deadline, &err);
  }
  if (n >= 0) lua_pushlstring(L, dst, (size_t)n < max ? (size_t)n : max); /* n: the real length */
  if (n < 0) return ds_push_error(L, err);
  if (n == 0 && s->type == SOCK_STREAM && max > 0) return ds_push_failure(L, "closed", "EOF");
  return sender ? 1 + push_sender(L, s, &rx) : 1;
}

static int sock_recv(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  size_t max = check_recv_size(L, 2);
  if (s->family == DS_UNIX && s->type != SOCK_STREAM) return ds_unix_recv(L, s, 0); /* local */
  if (ds_push_ahead(L, s, max)) return 1; /* what receive read ahead comes first */
  return recv_one(L, s, max, 0);
}

/* On a stream there is no sender to report: recvfrom is recv, read-ahead
** first, so bytes never come out of order. */
static int sock_recvfrom(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  if (s->type == SOCK_STREAM) return sock_recv(L);
  if (s->family == DS_UNIX) return ds_unix_recv(L, s, 1); /* local sockets: the sender's path */
  return recv_one(L, s, check_recv_size(L, 2), 1);
}

/* ---- sending ---- */

/* Sends all of data[0..len); *sent says how much went out. Always one
** send at least: on a datagram socket an empty one is a datagram. */
static int send_all(ds_socket *s, const char *data, size_t len, size_t *sent) {
  double deadline = DS_DEADLINE_UNSET;
  *sent = 0;
  do {
    ssize_t n = ds_sys_send(s->fd, data + *sent, len - *sent);
    if (n >= 0) {
      *sent += (size_t)n;
    } else {
      int err = ds_retry(s, ds_sys_error(), POLLOUT, &deadline);
      if (err) return err;
    }
  } while (*sent < len);
  return 0;
}

/* send(data, i, j): LuaSocket's result, the index of the last byte sent,
** or nil, err, last index sent, code. A datagram socket returns bytes,
** and sends an empty datagram for an empty range, as sendto("") does. */
static int sock_send(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  size_t len, sent;
  const char *data = luaL_checklstring(L, 2, &len);
  lua_Integer i = luaL_optinteger(L, 3, 1), j = luaL_optinteger(L, 4, -1);
  int err;
  if (i < 0) i = (lua_Integer)len + i + 1;
  if (i < 1) i = 1;
  if (j < 0) j = (lua_Integer)len + j + 1;
  if (j > (lua_Integer)len) j = (lua_Integer)len;
  if (i > j) {
    if (s->type == SOCK_STREAM) { /* nothing to send */
      lua_pushinteger(L, i - 1);
      return 1;
    }
    err = send_all(s, data, 0, &sent); /* data + i - 1 may lie past the end */
  } else {
    err = send_all(s, data + i - 1, (size_t)(j - i + 1), &sent);
  }
  if (err == 0) {
    lua_pushinteger(L, s->type == SOCK_DGRAM ? (lua_Integer)sent : i - 1 + (lua_Integer)sent);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, ds_errmessage(err));
  lua_pushinteger(L, i - 1 + (lua_Integer)sent);
  ds_push_errname(L, err);
  return 4;
}

/* ---- the addresses of the two ends ---- */

typedef int (*name_fn)(ds_fd, struct sockaddr *, socklen_t *);

static int push_name(lua_State *L, name_fn fn) {
  ds_socket *s = ds_check_open(L, 1);
  ds_sockaddr sa;
  sa.len = sizeof(sa.u);
  if (fn(s->fd, &sa.u.sa, &sa.len) < 0) return ds_push_error(L, ds_sys_error());
  if (s->family == DS_UNIX) return ds_unix_push_name(L, &sa); /* local sockets: a path */
  return ds_push_sockaddr(L, &sa.u.sa);
}

static int sock_getsockname(lua_State *L) { return push_name(L, ds_sys_sockname); }
static int sock_getpeername(lua_State *L) { return push_name(L, ds_sys_peername); }

static const luaL_Reg methods[] = {
  {"bind", sock_bind},
  {"listen", sock_listen},
  {"accept", sock_accept},
  {"connect", sock_connect},
  {"setsockname", sock_bind},     /* LuaSocket's UDP name for bind */
  {"setpeername", sock_setpeername},
  {"shutdown", sock_shutdown},
  {"send", sock_send},
  {"receive", sock_receive},
  {"recv", sock_recv},
  {"recvfrom", sock_recvfrom},
  {"receivefrom", sock_recvfrom}, /* LuaSocket's name */
  {"getsockname", sock_getsockname},
  {"getpeername", sock_getpeername},
  {NULL, NULL}};

static const luaL_Reg constructors[] = {
  {"tcp", l_tcp},
  {"udp", l_udp},
  {"fromfd", l_fromfd},
  {NULL, NULL}};

/* Adds the constructors to the module table on top of the stack, and the
** methods to the socket's. */
void ds_open_socket(lua_State *L) {
  luaL_setfuncs(L, constructors, 0);
  ds_add_methods(L, methods, 0);
}
