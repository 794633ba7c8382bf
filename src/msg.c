/*
** Datagrams with control data: recvmsg/sendmsg, their batch forms, and
** reply, which answers a request from the address it was sent to. A
** message is a Lua table; receiving refills the table it is given so a
** server loop allocates nothing but the strings themselves.
*/
#include "ds.h"

#include <string.h>

#define DS_BATCH_MAX 1024 /* messages per recvmmsg/sendmmsg call (UIO_MAXIOV) */

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

/* A weak-keyed table shared by all sockets of a Lua state (kept in the
** registry, so every load of the module shares it): for each message table
** passed in and filled, the DS_CTL_* fields that fill left non-nil. */
#define FILLED DS_UPVALUE(K_LAST + 1)

/* Pushes t[key k] and returns its type. */
static int get_key(lua_State *L, int t, int k) {
  lua_pushvalue(L, KEY(k));
  return lua_gettable(L, t);
}

static ds_socket *check_dgram(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  if (s->type != SOCK_DGRAM) luaL_error(L, "message calls need a udp socket");
  return s;
}

/* ---- receiving ---- */

/* Sets an integer field, or nil when absent. */
static void set_int(lua_State *L, int t, int k, int present, lua_Integer v) {
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

/* Pushes the text of ip. A server hears the same peers and is asked on the
** same addresses again and again, so the socket keeps the last text of
** each kind (slot) and reuses it instead of formatting it anew. */
static void push_cached_ip(lua_State *L, ds_socket *s, int slot, const ds_ip *ip) {
  int i = slot - DS_SLOT_PEER;
  char text[DS_ADDRSTRLEN];
  if (ds_ip_equal(&s->lastip[i], ip)) {
    lua_getiuservalue(L, 1, slot);
    return;
  }
  s->lasttext[i] = lua_pushlstring(L, text, ds_ntop(ip, text));
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, 1, slot); /* keeps lasttext[i] alive */
  s->lastip[i] = *ip;
}

/* Pushes the texts of the destination and of the broadcast address it
** was sent to, each nil when absent, in the socket's form (mapped on a
** dual socket). Broadcasts are rare: that text is not cached. */
static void push_dst(lua_State *L, ds_socket *s, const ds_ctl *c) {
  char text[DS_ADDRSTRLEN];
  ds_ip ip;
  if (c->have & DS_CTL_ADDR) {
    ip = c->addr;
    if (s->family == DS_DUAL) ds_ip_map(&ip);
    push_cached_ip(L, s, DS_SLOT_DST, &ip);
  } else {
    lua_pushnil(L);
  }
  if (c->have & DS_CTL_BROADCAST) {
    ip = c->broadcast;
    if (s->family == DS_DUAL) ds_ip_map(&ip);
    lua_pushlstring(L, text, ds_ntop(&ip, text));
  } else {
    lua_pushnil(L);
  }
}

static void set_peer(lua_State *L, ds_socket *s, int t, const struct sockaddr *sa) {
  ds_ip ip;
  int port = ds_sockaddr_to_ip(sa, &ip);
  lua_pushvalue(L, KEY(K_ADDR));
  if (port < 0) lua_pushnil(L);
  else push_cached_ip(L, s, DS_SLOT_PEER, &ip);
  lua_rawset(L, t);
  set_int(L, t, K_PORT, port >= 0, port);
}

/* Control data fields: those in `write` are set from c, nil when c lacks
** them; the texts of dst and broadcast are at indexes dst and dst + 1.
** Raw stores of numbers only: no collection step, so no finalizer, can run
** in here. */
static void set_control_fields(lua_State *L, int t, const ds_ctl *c, int dst,
                               unsigned write) {
  if (write & DS_CTL_ADDR) {
    lua_pushvalue(L, KEY(K_DST));
    lua_pushvalue(L, dst);
    lua_rawset(L, t);
  }
  if (write & DS_CTL_IFINDEX) set_int(L, t, K_IFINDEX, c->have & DS_CTL_IFINDEX, c->ifindex);
  if (write & DS_CTL_HOPLIMIT)
    set_int(L, t, K_HOPLIMIT, c->have & DS_CTL_HOPLIMIT, c->hoplimit);
  if (write & DS_CTL_TCLASS) {
    set_int(L, t, K_TCLASS, c->have & DS_CTL_TCLASS, c->tclass);
    set_int(L, t, K_ECN, c->have & DS_CTL_TCLASS, c->tclass & 3);
  }
  if (write & DS_CTL_SEGMENT) set_int(L, t, K_SEGMENT, c->have & DS_CTL_SEGMENT, c->segment);
  if (write & DS_CTL_BROADCAST) {
    lua_pushvalue(L, KEY(K_BROADCAST));
    lua_pushvalue(L, dst + 1);
    lua_rawset(L, t);
  }
  if (write & DS_CTL_TIMESTAMP) {
    lua_pushvalue(L, KEY(K_TIMESTAMP));
    if (c->have & DS_CTL_TIMESTAMP) lua_pushnumber(L, c->timestamp);
    else lua_pushnil(L);
    lua_rawset(L, t);
  }
}

/* The DS_CTL_* fields FILLED records for table t, or -1: none recorded. */
static lua_Integer recorded_fields(lua_State *L, int t) {
  lua_Integer left;
  int known;
  lua_pushvalue(L, t);
  lua_rawget(L, FILLED);
  left = lua_tointegerx(L, -1, &known);
  lua_pop(L, 1);
  return known ? left : -1;
}

/* Records fields (-1: none, forgetting t) as those t is left with. */
static void record_fields(lua_State *L, int t, lua_Integer fields) {
  lua_pushvalue(L, t);
  if (fields < 0) lua_pushnil(L);
  else lua_pushinteger(L, fields);
  lua_rawset(L, FILLED);
}

/* Sets c's control fields in t, a table passed in (dst as above). A store
** per field per datagram is most of what filling costs, so a table whose
** recorded fields are among c's gets only c's (the others are nil
** already); any other table gets every field, clearing what another
** datagram, socket or option put there. No finalizer can run between
** reading the record and writing it (see set_control_fields), so none can
** fill t meanwhile. When the record stays, an error midway leaves t with
** fields of that record only; when it changes, t is unrecorded first
** (clearing an existing key cannot fail), so an error leaves t unknown. */
static void refill_control_fields(lua_State *L, int t, const ds_ctl *c, int dst) {
  lua_Integer left = recorded_fields(L, t), have = (lua_Integer)c->have;
  if (left == have) {
    set_control_fields(L, t, c, dst, c->have);
    return;
  }
  if (left >= 0) record_fields(L, t, -1);
  set_control_fields(L, t, c, dst, left >= 0 && (left & ~have) == 0 ? c->have : DS_CTL_ALL);
  record_fields(L, t, have);
}

/* Fills message table t from one received datagram of n bytes (its real
** length where the platform reports it) read into a buffer of size, with
** its control data decoded in rx->got. A fresh table, made by this call,
** has no fields to clear. */
static void fill_msg(lua_State *L, ds_socket *s, int t, int fresh, const char *data,
                     size_t size, size_t n, const struct msghdr *mh, const ds_rx *rx) {
  const ds_ctl *c = &rx->got;
  lua_pushvalue(L, KEY(K_DATA));
  lua_pushlstring(L, data, n < size ? n : size);
  lua_rawset(L, t);
  set_peer(L, s, t, (const struct sockaddr *)mh->msg_name);
  set_int(L, t, K_SIZE, 1, (lua_Integer)n);
  set_bool(L, t, K_TRUNCATED, (mh->msg_flags & MSG_TRUNC) != 0);
  set_bool(L, t, K_CTRUNCATED, (mh->msg_flags & MSG_CTRUNC) != 0);
  push_dst(L, s, c); /* may collect, so before the record is read */
  if (fresh) set_control_fields(L, t, c, lua_gettop(L) - 1, c->have);
  else refill_control_fields(L, t, c, lua_gettop(L) - 1);
  lua_pop(L, 2);
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
  ds_socket *s = check_dgram(L);
  size_t size = ds_check_size(L, 2, DS_RECV_DEFAULT);
  int fresh = lua_isnoneornil(L, 3), t = msg_table(L, 3), err = 0, buf;
  char *data;
  double deadline = DS_DEADLINE_UNSET;
  struct msghdr mh;
  struct iovec iov;
  ds_rx rx;
  ssize_t n;
  if (size > DS_RECV_DEFAULT) size = DS_RECV_DEFAULT;
  data = ds_dgram_buffer(L, s, 1, size);
  buf = lua_gettop(L);
  ds_setup_rx(s, &mh, &iov, data, size, &rx);
  n = ds_recv_dgram(s, &mh, &rx, &deadline, &err);
  if (n >= 0) fill_msg(L, s, t, fresh, data, size, (size_t)n, &mh, &rx);
  ds_give_back(L, 1, buf);
  if (n < 0) return ds_push_error(L, err);
  lua_pushvalue(L, t);
  return 1;
}

/* ---- composing a datagram to send ---- */

typedef struct ds_tx {
  struct iovec iov;
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

static int is_link_local(const ds_ip *ip) {
  return ip->af == AF_INET6 && ip->bytes[0] == 0xfe && (ip->bytes[1] & 0xc0) == 0x80;
}

/* The destination's family when the message names none (connected socket). */
static int peer_is_v4ish(const ds_socket *s) {
  ds_sockaddr sa;
  ds_ip ip;
  if (s->family == DS_INET) return 1;
  sa.len = sizeof(sa.u);
  if (getpeername(s->fd, &sa.u.sa, &sa.len) < 0 || ds_sockaddr_to_ip(&sa.u.sa, &ip) < 0)
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
static int compose(lua_State *L, const ds_socket *s, ds_tx *tx, struct msghdr *mh,
                   const char *data, size_t len, const ds_ip *to, int port, ds_ctl *c) {
  int v4 = to ? is_v4ish(to) : peer_is_v4ish(s);
  size_t clen;
  if ((c->have & DS_CTL_ADDR) && is_v4ish(&c->addr) != v4) return refuse_families(L, &c->addr, to);
  if ((c->have & DS_CTL_TCLASS) && (c->tclass & 3) == 3)
    return ds_push_failure(L, "ECN codepoint CE (3) may not be sent", "EINVAL");
  clen = ds_cmsg_encode(tx->ctl.bytes, sizeof(tx->ctl.bytes), c, v4);
  tx->iov.iov_base = (void *)data;
  tx->iov.iov_len = len;
  memset(mh, 0, sizeof(*mh));
  if (to) {
    ds_ip_to_sockaddr(to, port, &tx->to);
    mh->msg_name = &tx->to.u;
    mh->msg_namelen = tx->to.len;
  }
  mh->msg_iov = &tx->iov;
  mh->msg_iovlen = 1;
  mh->msg_control = clen ? tx->ctl.bytes : NULL;
  mh->msg_controllen = clen;
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

/* Is the string on top the text last cached in slot? Then *ip is known.
** Equal pointers are the same string: the slot keeps it alive. A slot
** replaced behind our back (debug.setuservalue, outside the contract) can
** free that string, and a new string at its address would then pass for
** it; nothing is ever read through the pointer. */
static int cached_ip(lua_State *L, const ds_socket *s, int slot, ds_ip *ip) {
  int i = slot - DS_SLOT_PEER;
  if (lua_tostring(L, -1) != s->lasttext[i]) return 0;
  *ip = s->lastip[i];
  return 1;
}

/* Optional address field; *present says whether it was there. Text that
** recvmsg produced (slot names which) needs no parsing. Returns 0, or the
** count of failure values pushed (a name that does not resolve). */
static int field_ip(lua_State *L, const ds_socket *s, int t, int k, int slot, ds_ip *ip,
                    int *present) {
  size_t len;
  const char *text, *why;
  int n, type = get_key(L, t, k);
  *present = type != LUA_TNIL;
  if (!*present || (type == LUA_TSTRING && slot && cached_ip(L, s, slot, ip))) {
    lua_pop(L, 1);
    return 0;
  }
  if (type != LUA_TSTRING) field_error(L, k, "string expected");
  text = lua_tolstring(L, -1, &len);
  n = ds_parse_host(L, s, text, len, ip, &why);
  if (n < 0) field_error(L, k, lua_pushfstring(L, "%s: '%s'", why, text));
  if (n > 0) return n;
  lua_pop(L, 1);
  return 0;
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

/* Builds the datagram described by message table t. Its data string is
** left on the stack, which anchors it while the caller keeps it there:
** reading the other fields may run metamethods that change t. */
static int build_from_table(lua_State *L, const ds_socket *s, int t, ds_tx *tx,
                            struct msghdr *mh) {
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
  if (has_to && !field_int(L, t, K_PORT, 0, 65535, &port)) field_error(L, K_PORT, "missing");
  memset(&c, 0, sizeof(c));
  if ((n = field_ip(L, s, t, K_SRC, DS_SLOT_DST, &src, &has_src)) != 0) return n;
  if (has_src && !(src.af == AF_INET6 && memcmp(src.bytes, &in6addr_any, 16) == 0) &&
      !(src.af == AF_INET && memcmp(src.bytes, "\0\0\0\0", 4) == 0)) {
    c.addr = src;
    c.have |= DS_CTL_ADDR;
  }
  read_send_options(L, t, &c);
  return compose(L, s, tx, mh, data, len, has_to ? &to : NULL, (int)port, &c);
}

static int send_one(lua_State *L, ds_socket *s, struct msghdr *mh) {
  double deadline = DS_DEADLINE_UNSET;
  ssize_t n;
  int err;
  while ((n = sendmsg(s->fd, mh, DS_SEND_FLAGS)) < 0)
    if ((err = ds_retry(s, POLLOUT, &deadline)) != 0)
      return ds_push_error(L, err);
  lua_pushinteger(L, n);
  return 1;
}

/* n, err, code = sock:sendmsg(msg) */
static int sock_sendmsg(lua_State *L) {
  ds_socket *s = check_dgram(L);
  struct msghdr mh;
  ds_tx tx;
  int n = build_from_table(L, s, 2, &tx, &mh);
  return n ? n : send_one(L, s, &mh);
}

/* 255.255.255.255 as a dst: a system without ipi_spec_dst (see cmsg.c)
** could not say which local address a broadcast was for. */
static int is_limited_broadcast(const ds_ip *ip) {
  static const unsigned char all_ones[4] = {255, 255, 255, 255};
  return is_v4ish(ip) &&
         memcmp(ip->af == AF_INET ? ip->bytes : ip->bytes + 12, all_ones, 4) == 0;
}

/* n, err, code = sock:reply(req, data): answers req from req.dst (for a
** broadcast, the local address it came in on). A multicast destination is
** not a source: the system picks one then; nor is the limited broadcast
** where it stayed the dst: the answer then leaves by req.ifindex. */
static int sock_reply(lua_State *L) {
  ds_socket *s = check_dgram(L);
  size_t len;
  const char *data = luaL_checklstring(L, 3, &len);
  ds_ip to, dst;
  ds_ctl c;
  lua_Integer port, ifindex;
  struct msghdr mh;
  ds_tx tx;
  int present, n;
  luaL_checktype(L, 2, LUA_TTABLE);
  if ((n = field_ip(L, s, 2, K_ADDR, DS_SLOT_PEER, &to, &present)) != 0) return n;
  if (!present) field_error(L, K_ADDR, "missing");
  if (!field_int(L, 2, K_PORT, 0, 65535, &port)) field_error(L, K_PORT, "missing");
  memset(&c, 0, sizeof(c));
  if ((n = field_ip(L, s, 2, K_DST, DS_SLOT_DST, &dst, &present)) != 0) return n;
  if (present && !is_multicast(&dst)) {
    int broadcast = is_limited_broadcast(&dst);
    if (!broadcast) {
      c.addr = dst;
      c.have |= DS_CTL_ADDR;
    }
    if ((broadcast || is_link_local(&dst)) &&
        field_int(L, 2, K_IFINDEX, 0, 0xffffffffLL, &ifindex)) {
      c.ifindex = (unsigned)ifindex;
      c.have |= DS_CTL_IFINDEX;
    }
  }
  if ((n = compose(L, s, &tx, &mh, data, len, &to, (int)port, &c)) != 0) return n;
  return send_one(L, s, &mh);
}

/* ---- batches ---- */

#if !defined(DS_HAVE_MMSG)
/* Systems without the batch calls: one message at a time, the rest
** without waiting, which is what the batch calls do. */
struct mmsghdr {
  struct msghdr msg_hdr;
  unsigned int msg_len;
};
#define MSG_WAITFORONE 0
static int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, void *timeout) {
  unsigned i;
  (void)timeout;
  for (i = 0; i < n; i++) {
    ssize_t r = recvmsg(fd, &v[i].msg_hdr, flags | (i ? MSG_DONTWAIT : 0));
    if (r < 0) return i ? (int)i : -1;
    v[i].msg_len = (unsigned)r;
  }
  return (int)n;
}
static int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags) {
  unsigned i;
  for (i = 0; i < n; i++) {
    ssize_t r = sendmsg(fd, &v[i].msg_hdr, flags);
    if (r < 0) return i ? (int)i : -1;
    v[i].msg_len = (unsigned)r;
  }
  return (int)n;
}
#endif

static unsigned check_count(lua_State *L, int arg) {
  lua_Integer n = luaL_checkinteger(L, arg);
  luaL_argcheck(L, n >= 1 && n <= DS_BATCH_MAX, arg, "count out of range (1-1024)");
  return (unsigned)n;
}

/* The table at msgs[i], reused, or a new (*fresh) one stored there; left
** on top. */
static int slot_table(lua_State *L, int msgs, lua_Integer i, int *fresh) {
  *fresh = lua_rawgeti(L, msgs, i) != LUA_TTABLE;
  if (*fresh) {
    lua_pop(L, 1);
    lua_createtable(L, 0, 14);
    lua_pushvalue(L, -1);
    lua_rawseti(L, msgs, i);
  }
  return lua_gettop(L);
}

/* A batch of received datagrams in one borrowed buffer: count of each
** part in a row, the data last (stride bytes per datagram, aligned). */
typedef struct ds_batch {
  struct mmsghdr *v;
  struct iovec *iov;
  ds_rx *rx;
  char *data;
  unsigned count;
  size_t size, stride;
} ds_batch;

/* Borrows the buffer of a batch of count datagrams of size bytes (left on
** the stack) and lays the batch out in it. */
static void borrow_batch(lua_State *L, ds_batch *b, unsigned count, size_t size) {
  b->count = count;
  b->size = size;
  b->stride = (size + 15) & ~(size_t)15;
  b->v = (struct mmsghdr *)ds_borrow(
      L, 1, count * (sizeof(*b->v) + sizeof(*b->iov) + sizeof(*b->rx) + b->stride));
  b->iov = (struct iovec *)(b->v + count);
  b->rx = (ds_rx *)(b->iov + count);
  b->data = (char *)(b->rx + count);
}

/* Waits for a batch and takes what is ready, dropping spoofed datagrams
** (their entries get a NULL msg_name). Returns the entries used, at least
** one of them kept, or -1 with *err. */
static int recv_batch(ds_socket *s, ds_batch *b, int *err) {
  double deadline = DS_DEADLINE_UNSET;
  for (;;) {
    int got, i, kept = 0;
    for (i = 0; i < (int)b->count; i++) {
      ds_setup_rx(s, &b->v[i].msg_hdr, &b->iov[i], b->data + (size_t)i * b->stride, b->size,
                  &b->rx[i]);
      b->v[i].msg_len = 0;
    }
    got = recvmmsg(s->fd, b->v, b->count, MSG_WAITFORONE | DS_RECV_FLAGS, NULL);
    if (got < 0) {
      if ((*err = ds_retry(s, POLLIN, &deadline)) != 0) return -1;
      continue;
    }
    for (i = 0; i < got; i++) {
      if (ds_take_dgram(s, &b->v[i].msg_hdr, &b->rx[i])) kept++;
      else b->v[i].msg_hdr.msg_name = NULL;
    }
    if (kept) return got;
    if (ds_past_deadline(s, &deadline)) {
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
  borrow_batch(L, &b, count, size < DS_RECV_DEFAULT ? size : DS_RECV_DEFAULT);
  buf = lua_gettop(L);
  got = recv_batch(s, &b, &err);
  for (i = 0; i < got; i++) {
    int fresh, t;
    if (!b.v[i].msg_hdr.msg_name) continue; /* dropped */
    t = slot_table(L, msgs, ++k, &fresh);
    fill_msg(L, s, t, fresh, b.data + (size_t)i * b.stride, b.size, b.v[i].msg_len,
             &b.v[i].msg_hdr, &b.rx[i]);
    lua_pop(L, 1);
  }
  ds_give_back(L, 1, buf);
  if (got < 0) return ds_push_error(L, err);
  while (++k <= len) { /* so #msgs is what arrived */
    lua_pushnil(L);
    lua_rawseti(L, msgs, k);
  }
  lua_settop(L, msgs);
  return 1;
}

/* Sends v[0..n) until all went or the system refuses one: 0, or the
** errno, with *done counting the messages sent. */
static int send_batch(ds_socket *s, struct mmsghdr *v, lua_Integer n, lua_Integer *done) {
  double deadline = DS_DEADLINE_UNSET;
  int err;
  while (*done < n) {
    int sent = sendmmsg(s->fd, v + *done, (unsigned)(n - *done), DS_SEND_FLAGS);
    if (sent >= 0) *done += sent;
    else if ((err = ds_retry(s, POLLOUT, &deadline)) != 0) return err;
  }
  return 0;
}

/* count, err, code = sock:sendmmsg(list): sends the messages of list, at
** most 1024. All are built before any is sent, so a malformed message
** raises with none sent. A refused one (a source of the other family, CE,
** a name that does not resolve) ends the list there: those before it are
** sent, and the failure's fourth value counts what went. */
static int sock_sendmmsg(lua_State *L) {
  ds_socket *s = check_dgram(L);
  lua_Integer total, built, done = 0;
  struct mmsghdr *v;
  ds_tx *tx;
  int fail = 0, err, buf;
  luaL_checktype(L, 2, LUA_TTABLE);
  total = (lua_Integer)lua_rawlen(L, 2);
  luaL_argcheck(L, total <= DS_BATCH_MAX, 2, "more than 1024 messages");
  lua_settop(L, 2);
  v = (struct mmsghdr *)ds_borrow(L, 1, (size_t)total * (sizeof(*v) + sizeof(*tx)));
  buf = lua_gettop(L);
  tx = (ds_tx *)(v + total);
  luaL_checkstack(L, 2 * (int)total + LUA_MINSTACK, "too many messages");
  for (built = 0; built < total; built++) { /* each leaves its table and data */
    if (lua_rawgeti(L, 2, built + 1) != LUA_TTABLE)
      luaL_argerror(L, 2, lua_pushfstring(L, "message %I: table expected, got %s",
                                          (LUAI_UACINT)(built + 1), luaL_typename(L, -1)));
    if ((fail = build_from_table(L, s, lua_gettop(L), &tx[built], &v[built].msg_hdr)) != 0)
      break;
  }
  if ((err = send_batch(s, v, built, &done)) != 0) fail = ds_push_error(L, err);
  ds_give_back(L, 1, buf);
  lua_pushinteger(L, done);
  return fail ? fail + 1 : 1;
}

static const luaL_Reg msg_methods[] = {
  {"recvmsg", sock_recvmsg},
  {"sendmsg", sock_sendmsg},
  {"reply", sock_reply},
  {"recvmmsg", sock_recvmmsg},
  {"sendmmsg", sock_sendmmsg},
  {NULL, NULL}};

void ds_open_msg(lua_State *L) {
  int k;
  for (k = 1; k <= K_LAST; k++) lua_pushstring(L, key_names[k]);
  if (!luaL_getsubtable(L, LUA_REGISTRYINDEX, "dualstack.filled")) { /* FILLED */
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  }
  ds_add_methods(L, msg_methods, K_LAST + 1);
}
