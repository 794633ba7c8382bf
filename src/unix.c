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

static const char *const type_names[] = {"stream", "dgram", "seqpacket", NULL};
static const int type_values[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};

static const char *type_name(int type) {
  return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : "seqpacket";
}

/* ---- names ---- */

/* The path argument at arg as an address; raises for text that is none. */
static void check_path(lua_State *L, int arg, ds_sockaddr *sa) {
  size_t len;
  const char *text = luaL_checklstring(L, arg, &len);
  switch (ds_unix_to_sockaddr(text, len, sa)) {
    case DS_PATH_OK: return;
    case DS_PATH_LONG:
      luaL_argerror(L, arg, lua_pushfstring(L, "path too long (at most %d bytes)",
                                            (int)DS_UNIX_PATH_MAX));
      return;
    case DS_PATH_NUL: luaL_argerror(L, arg, "path contains a NUL byte"); return;
    default: luaL_argerror(L, arg, "path is empty"); return;
  }
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
  check_path(L, 2, &sa);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "remove_stale");
    stale = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  s = ds_check_open(L, 1); /* the field read may have run Lua code */
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
** non-blocking socket (EAGAIN) waits for room, within the one deadline. */
int ds_unix_connect(lua_State *L, ds_socket *s) {
  ds_sockaddr sa;
  double deadline = DS_DEADLINE_UNSET;
  int err;
  check_path(L, 2, &sa);
  s->bound = 1;
  while (ds_sys_connect(s->fd, &sa.u.sa, sa.len) < 0) {
    err = ds_sys_error();
    if (err == EINPROGRESS) err = EAGAIN; /* Windows: wait, then ask again */
    if (err == EISCONN) break;            /* the earlier try completed */
    if ((err = ds_retry(s, err, POLLOUT, &deadline)) != 0) return ds_push_error(L, err);
  }
  lua_pushinteger(L, 1);
  return 1;
}

/* ---- datagrams and records ---- */

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
  if (n == 0 && s->type == SOCK_SEQPACKET && max > 0) return ds_push_failure(L, "closed", "EOF");
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
  check_path(L, 3, &to);
  ds_msg_set(&mh, &to.u.ss, to.len, &iov, (void *)data, len, NULL, 0);
  while ((n = ds_sys_sendmsg(s->fd, &mh)) < 0)
    if ((err = ds_retry(s, ds_sys_error(), POLLOUT, &deadline)) != 0) return ds_push_error(L, err);
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

/* ---- the object ---- */

static int sock_gettype(lua_State *L) {
  ds_socket *s = ds_check_socket(L, 1);
  lua_pushstring(L, type_name(s->type));
  return 1;
}

static const luaL_Reg methods[] = {
  {"gettype", sock_gettype},
  {NULL, NULL}};

static const luaL_Reg constructors[] = {
  {"unix", l_unix},
  {"socketpair", l_socketpair},
  {NULL, NULL}};

void ds_open_unix(lua_State *L) {
  luaL_setfuncs(L, constructors, 0);
  ds_add_methods(L, methods, 0);
}
