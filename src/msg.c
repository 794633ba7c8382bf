/*
** Datagrams with control data, in two forms. The fast path is sendto,
** whose source and interface arguments answer what recvfrom (socket.c)
** returned. Message tables carry everything else: recvmsg/sendmsg, reply
** (answers a request from the address it was sent to) and the batches.
** Receiving refills the table it is given, every field of it, so a server
** loop allocates nothing but the strings themselves.
*/
#include "ds.h"

#include <string.h>

#define DS_BATCH_MAX 1024 /* messages per batch call (UIO_MAXIOV) */

/* Message field names, interned once and kept as upvalues of every message
** method, so filling a table hashes no C strings on the per-datagram path. */
enum {
  K_DATA = 1, K_ADDR, K_PORT, K_SIZE, K_TRUNCATED, K_CTRUNCATED, K_DST, K_IFINDEX,
  K_HOPLIMIT, K_TCLASS, K_ECN, K_SEGMENT, K_TIMESTAMP, K_BROADCAST, K_SRC, K_LAST = K_SRC
};

static const char *const key_names[] = {
  NULL, "data", "addr", "port", "size", "truncated", "ctruncated", "dst", "ifindex",
  "hoplimit", "tclass", "ecn", "segment", "timestamp", "broadcast", "src"};

#define KEY(k) DS_UPVALUE(k)

/* Pushes t[key k] and returns its type. */
static int get_key(lua_State *L, int t, int k) {
  lua_pushvalue(L, KEY(k));
  return lua_gettable(L, t);
}

static ds_socket *check_dgram(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  /* local sockets: recvmsg and sendmsg only (a batch's control room could take descriptors) */
  if (s->family == DS_UNIX) luaL_argerror(L, 1, "udp socket expected, got unix socket");
  ds_need_type(L, s, SOCK_DGRAM, 1, "");
  return s;
}

/* ---- receiving ---- */

/* t[key k] = the value at idx. A fresh table needs no nil stores. Raw
** stores of values already made: no collection step, so no finalizer,
** runs in here. */
static void set_from(lua_State *L, int t, int k, int idx, int fresh) {
  if (fresh && lua_isnil(L, idx)) return;
  lua_pushvalue(L, KEY(k));
  lua_pushvalue(L, idx);
  lua_rawset(L, t);
}

/* t[key k] = v, or nil when absent. */
static void set_int(lua_State *L, int t, int k, int present, lua_Integer v, int fresh) {
  if (fresh && !present) return;
  lua_pushvalue(L, KEY(k));
  if (present) lua_pushinteger(L, v);
  else lua_pushnil(L);
  lua_rawset(L, t);
}

static void set_bool(lua_State *L, int t, int k, int v) {
  lua_pushvalue(L, KEY(k));
  lua_pushboolean(L, v);
  lua_rawset(L, t);
}

/* Pushes the text of the broadcast address c's datagram was sent to, in
** the socket's form, or nil. Broadcasts are rare: it is not kept. */
static void push_broadcast(lua_State *L, const ds_socket *s, const ds_ctl *c) {
  char text[DS_ADDRSTRLEN];
  ds_ip ip = c->broadcast;
  if (!(c->have & DS_CTL_BROADCAST)) {
    lua_pushnil(L);
    return;
  }
  if (s->family == DS_DUAL) ds_ip_map(&ip);
  lua_pushlstring(L, text, ds_ntop(&ip, text));
}

/* Fills message table t from one received datagram of n bytes (its real
** length where the platform reports it) read into a buffer of size, with
** its control data decoded in rx->got. Every message field is written,
** nil when this datagram lacks it, so nothing of an earlier datagram,
** socket or send survives; a fresh table, made by this call, has none to
** clear. The strings are made first (making one may run Lua code, which
** may even refill t); the stores after them run none. */
static void fill_msg(lua_State *L, ds_socket *s, int t, int fresh, const char *data,
                     size_t size, size_t n, const ds_msghdr *mh, const ds_rx *rx) {
  const ds_ctl *c = &rx->got;
  int top;
  lua_pushlstring(L, data, n < size ? n : size);
  ds_push_peer(L, s, 1, (const struct sockaddr *)ds_msg_name(mh));
  ds_push_dst(L, s, 1, c);
  push_broadcast(L, s, c);
  top = lua_gettop(L); /* data, addr, port, dst, broadcast */
  set_from(L, t, K_DATA, top - 4, fresh);
  set_from(L, t, K_ADDR, top - 3, fresh);
  set_from(L, t, K_PORT, top - 2, fresh);
  set_int(L, t, K_SIZE, 1, (lua_Integer)n, fresh);
  set_bool(L, t, K_TRUNCATED, (ds_msg_flags(mh) & MSG_TRUNC) != 0 || n > size); /* n > size: raw ICMPv4 */
  set_bool(L, t, K_CTRUNCATED, (ds_msg_flags(mh) & MSG_CTRUNC) != 0);
  set_from(L, t, K_DST, top - 1, fresh);
  set_int(L, t, K_IFINDEX, c->have & DS_CTL_IFINDEX, c->ifindex, fresh);
  set_from(L, t, K_BROADCAST, top, fresh);
  set_int(L, t, K_HOPLIMIT, c->have & DS_CTL_HOPLIMIT, c->hoplimit, fresh);
  set_int(L, t, K_TCLASS, c->have & DS_CTL_TCLASS, c->tclass, fresh);
  set_int(L, t, K_ECN, c->have & DS_CTL_TCLASS, c->tclass & 3, fresh);
  set_int(L, t, K_SEGMENT, c->have & DS_CTL_SEGMENT, c->segment, fresh);
  if (!fresh || (c->have & DS_CTL_TIMESTAMP)) {
    lua_pushvalue(L, KEY(K_TIMESTAMP));
    if (c->have & DS_CTL_TIMESTAMP) lua_pushnumber(L, c->timestamp);
    else lua_pushnil(L);
    lua_rawset(L, t);
  }
  set_int(L, t, K_SRC, 0, 0, fresh); /* a send field: never a received one */
  lua_settop(L, top - 5);
}

/* The message table argument at arg, or a new one; returns its index. */
static int msg_table(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg)) {
    lua_settop(L, arg - 1);
    lua_createtable(L, 0, 14);
  } else {
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_settop(L, arg);
  }
  return arg;
}

/* msg, err, code = sock:recvmsg([size[, msg]]) */
static int sock_recvmsg(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  size_t size;
  int fresh, t, err = 0;
  char *data;
  double deadline = DS_DEADLINE_UNSET;
  ds_msghdr mh;
  ds_iov iov;
  ds_rx rx;
  ssize_t n;
  if (s->family == DS_UNIX) return ds_unix_msg(L, s, 0); /* local sockets: paths, credentials */
  s = check_dgram(L);
  size = ds_check_size(L, 2, DS_RECV_DEFAULT);
  fresh = lua_isnoneornil(L, 3);
  t = msg_table(L, 3);
  if (size > DS_RECV_DEFAULT) size = DS_RECV_DEFAULT;
  data = ds_recv_buffer(L, s, ds_rx_room(s, size));
  ds_setup_rx(s, &mh, &iov, data, ds_rx_room(s, size), &rx); /* copied: size bytes at most */
  n = ds_recv_dgram(s, &mh, &rx, &deadline, &err);
  if (n < 0) return ds_push_error(L, err);
  fill_msg(L, s, t, fresh, data, size, (size_t)n, &mh, &rx);
  lua_pushvalue(L, t);
  return 1;
}

/* ---- composing a datagram to send ---- */

typedef struct ds_tx {
  ds_iov iov;
  ds_sockaddr to;
  ds_cmsgbuf ctl;
} ds_tx;

static int is_v4ish(const ds_ip *ip) {
  return ip->af == AF_INET || ds_ip_is_mapped(ip);
}

static int is_multicast(const ds_ip *ip) {
  if (ip->af == AF_INET) return (ip->bytes[0] & 0xf0) == 0xe0;
  if (ds_ip_is_mapped(ip)) return (ip->bytes[12] & 0xf0) == 0xe0;
  return ip->bytes[0] == 0xff;
}

/* fe80::/10, or 169.254.0.0/16 (plain or mapped): addresses that several
** interfaces may share, so only the interface tells the way. */
static int is_link_local(const ds_ip *ip) {
  const unsigned char *v4 = ip->af == AF_INET ? ip->bytes
                          : ds_ip_is_mapped(ip) ? ip->bytes + 12 : NULL;
  if (v4) return v4[0] == 169 && v4[1] == 254;
  return ip->bytes[0] == 0xfe && (ip->bytes[1] & 0xc0) == 0x80;
}

/* The destination's family when the message names none (connected socket). */
static int peer_is_v4ish(const ds_socket *s) {
  ds_sockaddr sa;
  ds_ip ip;
  if (s->family == DS_INET) return 1;
  sa.len = sizeof(sa.u);
  if (ds_sys_peername(s->fd, &sa.u.sa, &sa.len) < 0 || ds_sockaddr_to_ip(&sa.u.sa, &ip) < 0)
    return 0;
  return is_v4ish(&ip);
}

static int refuse_families(lua_State *L, const ds_ip *src, const ds_ip *to) {
  char a[DS_ADDRSTRLEN], b[DS_ADDRSTRLEN];
  ds_ntop(src, a);
  if (to) ds_ntop(to, b);
  lua_pushnil(L);
  lua_pushfstring(L, "source %s (%s) cannot send to %s (%s): the families differ", a,
                  is_v4ish(src) ? "IPv4" : "IPv6", to ? b : "the connected peer",
                  is_v4ish(src) ? "IPv6" : "IPv4");
  lua_pushliteral(L, "EINVAL");
  return 3;
}

/* Completes tx for data to `to` (NULL: the connected peer) with control
** data c. Returns 0, or the count of failure values pushed. */
static int compose(lua_State *L, const ds_socket *s, ds_tx *tx, ds_msghdr *mh,
                   const char *data, size_t len, const ds_ip *to, int port, ds_ctl *c) {
  int v4 = to ? is_v4ish(to) : peer_is_v4ish(s);
  size_t clen;
  if ((c->have & DS_CTL_ADDR) && is_v4ish(&c->addr) != v4) return refuse_families(L, &c->addr, to);
  if ((c->have & DS_CTL_TCLASS) && (c->tclass & 3) == 3)
    return ds_push_failure(L, "ECN codepoint CE (3) may not be sent", "EINVAL");
  clen = ds_cmsg_encode(tx->ctl.bytes, sizeof(tx->ctl.bytes), c, v4);
  if (to) ds_ip_to_sockaddr(to, port, &tx->to);
  ds_msg_set(mh, to ? &tx->to.u : NULL, to ? tx->to.len : 0, &tx->iov, (void *)data, len,
             clen ? tx->ctl.bytes : NULL, clen);
  return 0;
}

static int field_error(lua_State *L, int k, const char *why) {
  return luaL_error(L, "bad field '%s' in message (%s)", key_names[k], why);
}

/* Optional integer field in [lo, hi]; returns whether it is present. */
static int field_int(lua_State *L, int t, int k, lua_Integer lo, lua_Integer hi,
                     lua_Integer *v) {
  int isnum, type = get_key(L, t, k);
  if (type == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  *v = lua_tointegerx(L, -1, &isnum);
  lua_pop(L, 1);
  if (type != LUA_TNUMBER || !isnum) field_error(L, k, "integer expected");
  if (*v < lo || *v > hi)
    field_error(L, k, lua_pushfstring(L, "out of range (%I-%I)", lo, hi));
  return 1;
}

/* The address text at idx, known (text a receive gave for slot: no
** parsing) or parsed for s. As ds_parse_host: 0, -1 with *why, or the
** count of failure values pushed. */
static int text_to_ip(const char *text, size_t len, lua_State *L, const ds_socket *s,
                      int slot, ds_ip *ip, const char **why) {
  if (ds_known_text(s, slot, text, len, ip)) return 0;
  return ds_parse_host(L, s, text, len, ip, why);
}

/* Address argument arg (of the kind slot): 0, or failure values pushed. */
static int arg_ip(lua_State *L, const ds_socket *s, int arg, int slot, ds_ip *ip) {
  size_t len;
  const char *text, *why;
  int n;
  if (lua_type(L, arg) != LUA_TSTRING) luaL_typeerror(L, arg, "string"); /* no number text */
  text = lua_tolstring(L, arg, &len);
  n = text_to_ip(text, len, L, s, slot, ip, &why);
  if (n < 0) return luaL_argerror(L, arg, lua_pushfstring(L, "%s: '%s'", why, text));
  return n;
}

/* Optional address field; *present says whether it was there. Returns 0,
** or the count of failure values pushed (a name that does not resolve). */
static int field_ip(lua_State *L, const ds_socket *s, int t, int k, int slot, ds_ip *ip,
                    int *present) {
  size_t len;
  const char *text, *why;
  int n, type = get_key(L, t, k);
  *present = type != LUA_TNIL;
  if (!*present) {
    lua_pop(L, 1);
    return 0;
  }
  if (type != LUA_TSTRING) field_error(L, k, "string expected");
  text = lua_tolstring(L, -1, &len);
  n = text_to_ip(text, len, L, s, slot, ip, &why);
  if (n < 0) field_error(L, k, lua_pushfstring(L, "%s: '%s'", why, text));
  if (n > 0) return n;
  lua_pop(L, 1);
  return 0;
}

/* The wildcard: 0.0.0.0 (plain or mapped, as a dual socket has it) or ::. */
static int is_unspecified(const ds_ip *ip) {
  static const unsigned char zeros[16];
  if (ip->af == AF_INET || ds_ip_is_mapped(ip))
    return memcmp(ip->af == AF_INET ? ip->bytes : ip->bytes + 12, zeros, 4) == 0;
  return memcmp(ip->bytes, zeros, 16) == 0;
}

/* 255.255.255.255 as a dst: a system without ipi_spec_dst (see cmsg.c)
** could not say which local address a broadcast was for. */
static int is_limited_broadcast(const ds_ip *ip) {
  static const unsigned char all_ones[4] = {255, 255, 255, 255};
  return is_v4ish(ip) &&
         memcmp(ip->af == AF_INET ? ip->bytes : ip->bytes + 12, all_ones, 4) == 0;
}

/* Makes src the source of what c sends. The wildcard is no source (the
** system picks), nor is a group or the limited broadcast, which is what a
** query's dst is when it was sent to one: no datagram can come from such
** an address, so the system picks then too, by c's interface when set. */
static void set_source(ds_ctl *c, const ds_ip *src) {
  if (is_unspecified(src) || is_multicast(src) || is_limited_broadcast(src)) return;
  c->addr = *src;
  c->have |= DS_CTL_ADDR;
  if (src->scope) { /* a zone (fe80::1%eth0) names the interface; ifindex, read after, wins */
    c->ifindex = src->scope;
    c->have |= DS_CTL_IFINDEX;
  }
}

/* Reads send options (ifindex, hoplimit, tclass, ecn, segment) into c. */
static void read_send_options(lua_State *L, int t, ds_ctl *c) {
  lua_Integer v, ecn;
  if (field_int(L, t, K_IFINDEX, 0, 0xffffffffLL, &v)) {
    c->ifindex = (unsigned)v;
    c->have |= DS_CTL_IFINDEX;
  }
  if (field_int(L, t, K_HOPLIMIT, -1, 255, &v)) {
    c->hoplimit = (int)v;
    c->have |= DS_CTL_HOPLIMIT;
  }
  if (field_int(L, t, K_TCLASS, 0, 255, &v)) {
    c->tclass = (int)v;
    c->have |= DS_CTL_TCLASS;
  }
  if (field_int(L, t, K_ECN, 0, 3, &ecn)) {
    c->tclass = (c->have & DS_CTL_TCLASS ? c->tclass & ~3 : 0) | (int)ecn;
    c->have |= DS_CTL_TCLASS;
  }
  if (field_int(L, t, K_SEGMENT, 1, 65535, &v)) {
    c->segment = (int)v;
    c->have |= DS_CTL_SEGMENT;
  }
}

/* A received message (it has a dst) says nothing of where to answer
** from: sent as it is, it would leave from whatever source the system
** picks, which the client drops; with src given it would send back what
** the network set (a CE mark is refused). Refused loudly unless src is
** given: reply and replymmsg are the way. */
static void refuse_received(lua_State *L, int t) {
  if (get_key(L, t, K_DST) != LUA_TNIL)
    field_error(L, K_DST, "a received message: answer it with reply or replymmsg");
  lua_pop(L, 1);
}

/* Builds the datagram described by message table t. Its data string is
** left on the stack, which anchors it while the caller keeps it there:
** reading the other fields may run metamethods that change t. */
static int build_from_table(lua_State *L, const ds_socket *s, int t, ds_tx *tx,
                            ds_msghdr *mh) {
  ds_ip to, src;
  ds_ctl c;
  size_t len;
  const char *data;
  lua_Integer port = 0;
  int has_to, has_src, n;
  luaL_checktype(L, t, LUA_TTABLE);
  if (get_key(L, t, K_DATA) != LUA_TSTRING) field_error(L, K_DATA, "string expected");
  data = lua_tolstring(L, -1, &len);
  if ((n = field_ip(L, s, t, K_ADDR, DS_SLOT_PEER, &to, &has_to)) != 0) return n;
  /* ICMP sockets (issue 17) need no port */
  if (has_to && !field_int(L, t, K_PORT, 0, 65535, &port) && !s->proto) field_error(L, K_PORT, "missing");
  memset(&c, 0, sizeof(c));
  if ((n = field_ip(L, s, t, K_SRC, DS_SLOT_DST, &src, &has_src)) != 0) return n;
  if (has_src) set_source(&c, &src);
  else refuse_received(L, t);
  read_send_options(L, t, &c);
  return compose(L, s, tx, mh, data, len, has_to ? &to : NULL, (int)port, &c);
}

/* Does the answer c describes need the interface its request came in by?
** Only where its source cannot say the way: it has none (the system picks
** one: no src, or one set_source refused), or a link-local one. A routable
** source leaves the way to the routing table, which is right where routes
** are asymmetric (forcing the arrival interface is not). */
static int needs_interface(const ds_ctl *c) {
  return !(c->have & DS_CTL_ADDR) || is_link_local(&c->addr);
}

/* A request without dst (received with pktinfo off) on a socket bound to
** the wildcard says nothing of the address it was sent to: answered, it
** would leave from the system's choice of source, which the client may
** drop. Raises then; a socket bound to one address answers from it. A
** socket closed meanwhile is left to fail when it sends. */
static void require_dst(lua_State *L, const ds_socket *s) {
  ds_sockaddr sa;
  ds_ip ip;
  sa.len = sizeof(sa.u);
  if (ds_sys_sockname(s->fd, &sa.u.sa, &sa.len) < 0) return;
  if (ds_sockaddr_to_ip(&sa.u.sa, &ip) >= 0 && !is_unspecified(&ip)) return;
  field_error(L, K_DST, "missing: a socket bound to the wildcard needs pktinfo to answer");
}

/* Builds the answer data[0..len) to request table req: to req.addr and
** req.port, from req.dst (see set_source), by req.ifindex where
** needs_interface says. The other fields, what the network set (ecn,
** hoplimit, segment), are the request's, not the answer's. */
static int build_reply(lua_State *L, const ds_socket *s, int req, const char *data,
                       size_t len, ds_tx *tx, ds_msghdr *mh) {
  ds_ip to, dst;
  ds_ctl c;
  lua_Integer port, ifindex;
  int present, n;
  luaL_checktype(L, req, LUA_TTABLE);
  if ((n = field_ip(L, s, req, K_ADDR, DS_SLOT_PEER, &to, &present)) != 0) return n;
  if (!present) field_error(L, K_ADDR, "missing");
  if (!field_int(L, req, K_PORT, 0, 65535, &port)) field_error(L, K_PORT, "missing");
  memset(&c, 0, sizeof(c));
  if ((n = field_ip(L, s, req, K_DST, DS_SLOT_DST, &dst, &present)) != 0) return n;
  if (present) set_source(&c, &dst);
  else require_dst(L, s);
  if (needs_interface(&c) &&
      field_int(L, req, K_IFINDEX, 0, 0xffffffffLL, &ifindex)) {
    c.ifindex = (unsigned)ifindex;
    c.have |= DS_CTL_IFINDEX;
  }
  return compose(L, s, tx, mh, data, len, &to, (int)port, &c);
}

static int send_one(lua_State *L, ds_socket *s, ds_msghdr *mh) {
  double deadline = DS_DEADLINE_UNSET;
  ssize_t n;
  int err;
  while ((n = ds_sys_sendmsg(s->fd, mh)) < 0)
    if ((err = ds_retry(s, ds_sys_error(), POLLOUT, &deadline)) != 0)
      return ds_push_error(L, err);
  lua_pushinteger(L, n);
  return 1;
}

/* n, err, code = sock:sendto(data, addr, port[, src[, ifindex]]): src and
** ifindex are a request's dst and ifindex, and the answer is what reply
** sends, so the answer to what recvfrom returned is sendto(answer, addr,
** port, dst, ifindex). Without them, LuaSocket's sendto. */
static int sock_sendto(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  size_t len;
  const char *data;
  int has_src = !lua_isnoneornil(L, 5), has_if = !lua_isnoneornil(L, 6), port, n;
  ds_ip to, src;
  ds_ctl c;
  ds_msghdr mh;
  ds_tx tx;
  if (s->family == DS_UNIX) return ds_unix_sendto(L, s); /* local sockets: sendto(data, path) */
  data = luaL_checklstring(L, 2, &len);
  if ((n = arg_ip(L, s, 3, DS_SLOT_PEER, &to)) != 0) return n;
  port = ds_check_socket_port(L, s, 4);
  memset(&c, 0, sizeof(c));
  if (has_src || has_if) {
    ds_need_type(L, s, SOCK_DGRAM, 1, " for src and ifindex");
    if (has_src && (n = arg_ip(L, s, 5, DS_SLOT_DST, &src)) != 0) return n;
    if (has_src) set_source(&c, &src);
    if (has_if) { /* checked even where it is not needed */
      unsigned ifindex = ds_check_ifindex(L, 6);
      if (needs_interface(&c)) {
        c.ifindex = ifindex;
        c.have |= DS_CTL_IFINDEX;
      }
    }
  }
  if ((n = compose(L, s, &tx, &mh, data, len, &to, port, &c)) != 0) return n;
  return send_one(L, s, &mh);
}

/* n, err, code = sock:sendmsg(msg) */
static int sock_sendmsg(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  ds_msghdr mh;
  ds_tx tx;
  int n;
  if (s->family == DS_UNIX) return ds_unix_msg(L, s, 1); /* local sockets: sendmsg{data, addr} */
  s = check_dgram(L);
  n = build_from_table(L, s, 2, &tx, &mh);
  return n ? n : send_one(L, s, &mh);
}

/* n, err, code = sock:reply(req, data): answers req (see build_reply). */
static int sock_reply(lua_State *L) {
  ds_socket *s = check_dgram(L);
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  ds_msghdr mh;
  ds_tx tx;
  int n = build_reply(L, s, 2, data, len, &tx, &mh);
  return n ? n : send_one(L, s, &mh);
}

/* ---- batches ---- */

static unsigned check_count(lua_State *L, int arg) {
  lua_Integer n = luaL_checkinteger(L, arg);
  luaL_argcheck(L, n >= 1 && n <= DS_BATCH_MAX, arg, "count out of range (1-1024)");
  return (unsigned)n;
}

/* The table at msgs[i], reused, or a new (*fresh) one, left on top. The
** tables are stored in msgs only once all are filled: Lua code that
** filling runs (a finalizer receiving into the same list, or editing it)
** must not reach a new one half filled, where fill_msg skips its nil
** stores, nor leave the list other than what arrived. */
static int slot_table(lua_State *L, int msgs, lua_Integer i, int *fresh) {
  *fresh = lua_rawgeti(L, msgs, i) != LUA_TTABLE;
  if (*fresh) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 14);
  }
  return lua_gettop(L);
}

/* Stores the k tables on top as msgs[1..k] and clears what follows, as far
** as the list went (len at the call's start, or longer now, up to a
** batch), so #msgs is what arrived. Raw stores: no Lua code runs. */
static void store_batch(lua_State *L, int msgs, lua_Integer k, lua_Integer len) {
  lua_Integer i, now = (lua_Integer)lua_rawlen(L, msgs);
  if (now > len) len = now < DS_BATCH_MAX ? now : DS_BATCH_MAX;
  for (i = k; i >= 1; i--) lua_rawseti(L, msgs, i); /* pops the top one */
  for (i = k + 1; i <= len; i++) {
    lua_pushnil(L);
    lua_rawseti(L, msgs, i);
  }
}

/* A batch of received datagrams in one borrowed buffer: count of each
** part in a row, the data last (stride bytes per datagram, aligned; room
** of them received into, size of them given). */
typedef struct ds_batch {
  ds_mmsghdr *v;
  ds_iov *iov;
  ds_rx *rx;
  char *data;
  unsigned count;
  size_t size, room, stride;
} ds_batch;

/* Borrows the buffer of a batch of count datagrams of size bytes (left on
** the stack) and lays the batch out in it. */
static void borrow_batch(lua_State *L, const ds_socket *s, ds_batch *b, unsigned count,
                         size_t size) {
  b->count = count;
  b->size = size;
  b->room = ds_rx_room(s, size); /* raw ICMPv4: the IPv4 header too */
  b->stride = (b->room + 15) & ~(size_t)15;
  b->v = (ds_mmsghdr *)ds_borrow(
      L, 1, count * (sizeof(*b->v) + sizeof(*b->iov) + sizeof(*b->rx) + b->stride));
  b->iov = (ds_iov *)(b->v + count);
  b->rx = (ds_rx *)(b->iov + count);
  b->data = (char *)(b->rx + count);
}

/* Waits for a batch and takes what is ready, dropping spoofed datagrams
** (their rx is not kept). Returns the entries used, at least
** one of them kept, or -1 with *err. */
static int recv_batch(ds_socket *s, ds_batch *b, int *err) {
  double deadline = DS_DEADLINE_UNSET;
  for (;;) {
    int got, i, kept = 0;
    for (i = 0; i < (int)b->count; i++) {
      ds_setup_rx(s, &b->v[i].msg_hdr, &b->iov[i], b->data + (size_t)i * b->stride, b->room,
                  &b->rx[i]);
      b->v[i].msg_len = 0;
    }
    got = ds_sys_recvmmsg(s->fd, b->v, b->count);
    if (got < 0) {
      if ((*err = ds_retry(s, ds_sys_error(), POLLIN, &deadline)) != 0) return -1;
      continue;
    }
    for (i = 0; i < got; i++) {
      size_t len = b->v[i].msg_len;
      b->rx[i].kept = ds_take_dgram(s, &b->v[i].msg_hdr, &b->rx[i], &len);
      b->v[i].msg_len = (unsigned)len; /* less a raw ICMPv4 packet's IP header */
      kept += b->rx[i].kept;
    }
    if (kept) return got;
    if (ds_deadline_passed(s->timeout, &deadline)) {
      *err = ETIMEDOUT;
      return -1;
    }
  }
}

/* msgs, err, code = sock:recvmmsg(n[, size[, msgs]]): waits for the first
** datagram like recvmsg, then takes up to n that are ready. */
static int sock_recvmmsg(lua_State *L) {
  ds_socket *s = check_dgram(L);
  unsigned count = check_count(L, 2);
  size_t size = ds_check_size(L, 3, 2048);
  int msgs = msg_table(L, 4), err = 0, got, i, buf;
  lua_Integer k = 0, len = (lua_Integer)lua_rawlen(L, msgs);
  ds_batch b;
  luaL_argcheck(L, len <= DS_BATCH_MAX, 4, "more than 1024 messages");
  borrow_batch(L, s, &b, count, size < DS_RECV_DEFAULT ? size : DS_RECV_DEFAULT);
  buf = lua_gettop(L);
  got = recv_batch(s, &b, &err);
  luaL_checkstack(L, got + LUA_MINSTACK, "too many messages");
  for (i = 0; i < got; i++) { /* each filled table stays on the stack */
    int fresh, t;
    if (!b.rx[i].kept) continue; /* dropped */
    t = slot_table(L, msgs, ++k, &fresh);
    fill_msg(L, s, t, fresh, b.data + (size_t)i * b.stride, b.size, b.v[i].msg_len,
             &b.v[i].msg_hdr, &b.rx[i]);
  }
  if (got < 0) {
    ds_give_back(L, 1, buf);
    return ds_push_error(L, err);
  }
  store_batch(L, msgs, k, len);
  ds_give_back(L, 1, buf);
  lua_settop(L, msgs);
  return 1;
}

/* Sends v[0..n) until all went or the system refuses one: 0, or the
** error, with *done counting the messages sent. */
static int send_batch(ds_socket *s, ds_mmsghdr *v, lua_Integer n, lua_Integer *done) {
  double deadline = DS_DEADLINE_UNSET;
  int err;
  while (*done < n) {
    int sent = ds_sys_sendmmsg(s->fd, v + *done, (unsigned)(n - *done));
    if (sent >= 0) *done += sent;
    else if ((err = ds_retry(s, ds_sys_error(), POLLOUT, &deadline)) != 0) return err;
  }
  return 0;
}

/* Builds message i (from 1) of a batch into tx and mh, leaving on the
** stack what anchors its data (two values at most); 0, or the count of
** failure values pushed. */
typedef int (*build_fn)(lua_State *L, const ds_socket *s, lua_Integer i, ds_tx *tx,
                        ds_msghdr *mh);

/* Message i of sendmmsg's list (argument 2): the table and its data. */
static int build_listed(lua_State *L, const ds_socket *s, lua_Integer i, ds_tx *tx,
                        ds_msghdr *mh) {
  if (lua_rawgeti(L, 2, i) != LUA_TTABLE)
    luaL_argerror(L, 2, lua_pushfstring(L, "message %I: table expected, got %s",
                                        (LUAI_UACINT)i, luaL_typename(L, -1)));
  return build_from_table(L, s, lua_gettop(L), tx, mh);
}

/* Answer i of replymmsg: request i (argument 2) answered with answer i
** (argument 3), both left on the stack. */
static int build_answer(lua_State *L, const ds_socket *s, lua_Integer i, ds_tx *tx,
                        ds_msghdr *mh) {
  size_t len;
  const char *data;
  int req;
  if (lua_rawgeti(L, 2, i) != LUA_TTABLE)
    luaL_argerror(L, 2, lua_pushfstring(L, "request %I: table expected, got %s",
                                        (LUAI_UACINT)i, luaL_typename(L, -1)));
  req = lua_gettop(L);
  if (lua_rawgeti(L, 3, i) != LUA_TSTRING)
    luaL_argerror(L, 3, lua_pushfstring(L, "answer %I: string expected, got %s",
                                        (LUAI_UACINT)i, luaL_typename(L, -1)));
  data = lua_tolstring(L, -1, &len);
  return build_reply(L, s, req, data, len, tx, mh);
}

/* Sends the total messages build makes, at most 1024. All are built
** before any is sent, so a malformed one raises with none sent. A refused
** one (a source of the other family, CE, a name that does not resolve)
** ends the batch there: those before it are sent, and the failure's
** fourth value counts what went. Returns count, or that failure. */
static int send_built(lua_State *L, ds_socket *s, lua_Integer total, build_fn build) {
  lua_Integer built, done = 0;
  ds_mmsghdr *v;
  ds_tx *tx;
  int fail = 0, err, buf;
  v = (ds_mmsghdr *)ds_borrow(L, 1, (size_t)total * (sizeof(*v) + sizeof(*tx)));
  buf = lua_gettop(L);
  tx = (ds_tx *)(v + total);
  luaL_checkstack(L, 2 * (int)total + LUA_MINSTACK, "too many messages");
  for (built = 0; built < total; built++)
    if ((fail = build(L, s, built + 1, &tx[built], &v[built].msg_hdr)) != 0) break;
  if ((err = send_batch(s, v, built, &done)) != 0) fail = ds_push_error(L, err);
  ds_give_back(L, 1, buf);
  lua_pushinteger(L, done);
  return fail ? fail + 1 : 1;
}

/* The length of the list at arg, at most a batch. */
static lua_Integer check_list(lua_State *L, int arg, const char *what) {
  lua_Integer n;
  luaL_checktype(L, arg, LUA_TTABLE);
  n = (lua_Integer)lua_rawlen(L, arg);
  luaL_argcheck(L, n <= DS_BATCH_MAX, arg, lua_pushfstring(L, "more than 1024 %s", what));
  return n;
}

/* count, err, code, sent = sock:sendmmsg(list) */
static int sock_sendmmsg(lua_State *L) {
  ds_socket *s = check_dgram(L);
  lua_Integer total = check_list(L, 2, "messages");
  lua_settop(L, 2);
  return send_built(L, s, total, build_listed);
}

/* count, err, code, sent = sock:replymmsg(reqs, answers): answers each
** request of reqs (received tables, as recvmmsg fills) with the string of
** the same index in answers, as reply does, in one batch. */
static int sock_replymmsg(lua_State *L) {
  ds_socket *s = check_dgram(L);
  lua_Integer total = check_list(L, 2, "requests");
  luaL_checktype(L, 3, LUA_TTABLE);
  luaL_argcheck(L, (lua_Integer)lua_rawlen(L, 3) == total, 3,
                "as many answers as requests expected");
  lua_settop(L, 3);
  return send_built(L, s, total, build_answer);
}

static const luaL_Reg msg_methods[] = {
  {"recvmsg", sock_recvmsg},
  {"sendmsg", sock_sendmsg},
  {"reply", sock_reply},
  {"recvmmsg", sock_recvmmsg},
  {"sendmmsg", sock_sendmmsg},
  {"replymmsg", sock_replymmsg},
  {"sendto", sock_sendto},
  {NULL, NULL}};

void ds_open_msg(lua_State *L) {
  int k;
  for (k = 1; k <= K_LAST; k++) lua_pushstring(L, key_names[k]);
  ds_add_methods(L, msg_methods, K_LAST);
}
