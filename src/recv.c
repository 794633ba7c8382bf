/*
** Receiving datagrams: the one loop that recvfrom, receive, recvmsg and
** recvmmsg share (one deadline per call, and the check that no datagram
** claiming an IPv4-mapped source passes unless it arrived over IPv4), and
** the buffers a call borrows from its socket.
*/
#include "ds.h"

#include <string.h>

/* Largest buffer a socket keeps between calls; a bigger one is the call's
** alone, so one large batch does not pin its memory for the socket's life. */
#define DS_KEEP_MAX (1 << 20)

/* Turns the IPv4 arrival marker (DS_IP_GUARD_OPT) on or off: 0, or the
** errno. A host with IPv4 disabled refuses IPv4-level options and has no
** IPv4 traffic to tell apart. */
int ds_guard_ipv4(int fd, int on) {
#if defined(DS_IP_GUARD_OPT)
  if (setsockopt(fd, IPPROTO_IP, DS_IP_GUARD_OPT, &on, sizeof(on)) < 0 && !ds_ipv4_disabled())
    return errno;
#else
  (void)fd;
  (void)on;
#endif
  return 0;
}

/* Gives s the marker exactly when recvopts (the receive options about to
** be on) has no IPv4-level one: each of those makes IPv4 traffic carry an
** IPv4-level message already, and the marker costs a message per IPv4
** datagram. An inet6 socket keeps it: its options have no IPv4 half, and
** v6only may still be cleared. Called before an option goes off and after
** one comes on, so no datagram is read while neither is on. 0, or errno. */
int ds_fit_marker(ds_socket *s, unsigned recvopts) {
  int want = s->type == SOCK_DGRAM &&
             (s->family == DS_INET6 || (s->family == DS_DUAL && !(recvopts & DS_RECV_IPV4)));
  int err;
#if defined(DS_GUARD_SHARED)
  want = want || (s->recvopts & DS_RECV_GUARD); /* it is pktinfo's own option there */
#endif
  if (want == ((s->recvopts & DS_RECV_GUARD) != 0)) return 0;
  if ((err = ds_guard_ipv4(s->fd, want)) != 0) return err;
  if (want) s->recvopts |= DS_RECV_GUARD;
  else s->recvopts &= ~(unsigned)DS_RECV_GUARD;
  return 0;
}

static size_t control_size(const ds_socket *s) {
  size_t n = ds_cmsg_space(s->recvopts);
  if (s->cmsgspace > n) n = s->cmsgspace;
  return n < DS_CMSG_MAX ? n : DS_CMSG_MAX;
}

/* Points mh at data[0..size) and at rx for the sender and control data. */
void ds_setup_rx(const ds_socket *s, struct msghdr *mh, struct iovec *iov, char *data,
                 size_t size, ds_rx *rx) {
  size_t ctl = control_size(s);
  iov->iov_base = data;
  iov->iov_len = size;
  memset(mh, 0, sizeof(*mh));
  mh->msg_name = &rx->from.u;
  mh->msg_namelen = sizeof(rx->from.u);
  mh->msg_iov = iov;
  mh->msg_iovlen = 1;
  mh->msg_control = ctl ? rx->ctl.bytes : NULL;
  mh->msg_controllen = ctl;
}

/* Does the received datagram claim an IPv4-mapped source it cannot have?
** An inet6 (v6-only) socket gets no IPv4 traffic at all; on a dual socket
** real IPv4 traffic carries IPv4-level control data (the marker, at
** least). Control data cut short (options enabled outside dualstack, with
** too little cmsgspace) can leave the claim unproven: refused too. */
static int spoofed(const ds_socket *s, const struct msghdr *mh, const ds_ctl *got) {
  const struct sockaddr_in6 *from = (const struct sockaddr_in6 *)mh->msg_name;
  if (s->family == DS_INET || mh->msg_namelen < sizeof(*from) ||
      from->sin6_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&from->sin6_addr))
    return 0;
  return s->family == DS_INET6 || !got->ipv4;
}

/* Decodes the control data of the datagram just received into mh (set up
** with rx) into rx->got, once for every use. Returns 1 to keep it, 0 for a
** spoofed one, which is counted and must be dropped. */
int ds_take_dgram(ds_socket *s, const struct msghdr *mh, ds_rx *rx) {
  ds_cmsg_decode(mh->msg_control, mh->msg_control ? mh->msg_controllen : 0, &rx->got);
  if (!spoofed(s, mh, &rx->got)) return 1;
  s->spoofed++;
  return 0;
}

/* Pushes the text of ip, an address of the kind slot (DS_SLOT_PEER or
** DS_SLOT_DST) received on the socket s at sockarg: the known text when
** it is the same address, else a new one, which becomes the known one.
** Making the string may run a finalizer that receives on s and changes
** what is known; the slot and s->known are updated together after it. An
** address with a zone is never known: its text holds the interface's
** name, which may change. */
static void push_received_ip(lua_State *L, ds_socket *s, int sockarg, int slot,
                             const ds_ip *ip) {
  ds_known_ip *k = &s->known[slot - DS_SLOT_PEER];
  char text[DS_ADDRSTRLEN];
  size_t len;
  if (ip->scope) {
    lua_pushlstring(L, text, ds_ntop(ip, text));
    return;
  }
  if (ds_ip_equal(&k->ip, ip)) {
    if (lua_getiuservalue(L, sockarg, slot) == LUA_TSTRING) return;
    lua_pop(L, 1);
  }
  len = ds_ntop(ip, text);
  lua_pushlstring(L, text, len);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, sockarg, slot);
  k->ip = *ip;
  k->len = len;
  memcpy(k->text, text, len);
}

/* Pushes the sender's address and port (nil, nil when sa is not IP);
** returns 2. */
int ds_push_peer(lua_State *L, ds_socket *s, int sockarg, const struct sockaddr *sa) {
  ds_ip ip;
  int port = ds_sockaddr_to_ip(sa, &ip);
  if (port < 0) return ds_push_sockaddr(L, sa); /* nil, nil */
  push_received_ip(L, s, sockarg, DS_SLOT_PEER, &ip);
  lua_pushinteger(L, port);
  return 2;
}

/* Pushes the datagram's destination in the socket's form (mapped on a
** dual socket), or nil when its control data had none. */
void ds_push_dst(lua_State *L, ds_socket *s, int sockarg, const ds_ctl *c) {
  ds_ip ip;
  if (!(c->have & DS_CTL_ADDR)) {
    lua_pushnil(L);
    return;
  }
  ip = c->addr;
  if (s->family == DS_DUAL) ds_ip_map(&ip);
  push_received_ip(L, s, sockarg, DS_SLOT_DST, &ip);
}

/* Is text[0..len) the known text of slot? Then *ip is its address. The
** bytes are compared, so any string equal to it, however made, counts. */
int ds_known_text(const ds_socket *s, int slot, const char *text, size_t len, ds_ip *ip) {
  const ds_known_ip *k = &s->known[slot - DS_SLOT_PEER];
  if (!k->ip.af || k->len != len || memcmp(k->text, text, len) != 0) return 0;
  *ip = k->ip;
  return 1;
}

/* Receives one datagram into mh (set up by ds_setup_rx with rx), dropping
** spoofed ones; rx->got holds its decoded control data. Returns its
** length, or -1 with *err. */
ssize_t ds_recv_dgram(ds_socket *s, struct msghdr *mh, ds_rx *rx, double *deadline, int *err) {
  socklen_t namelen = mh->msg_namelen;
  size_t ctllen = mh->msg_controllen;
  for (;;) {
    ssize_t n = recvmsg(s->fd, mh, DS_RECV_FLAGS);
    if (n >= 0 && ds_take_dgram(s, mh, rx)) return n;
    if (n < 0 && (*err = ds_retry(s, POLLIN, deadline)) != 0) return -1;
    if (n >= 0 && ds_deadline_passed(s->timeout, deadline)) {
      *err = ETIMEDOUT;
      return -1;
    }
    mh->msg_namelen = namelen;
    mh->msg_controllen = ctllen;
  }
}

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

/* Makes the receive buffer size bytes: its old bytes are not needed, so it
** is freed and allocated anew, not reallocated (no copy). Returns 0 when
** memory ran out, the socket then holding none. */
static int grow_recv_buffer(lua_State *L, ds_socket *s, size_t size) {
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud); /* the state's: no collection step */
  ds_free_recv_buffer(L, s);
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

/* Frees the socket's receive buffer (on close). */
void ds_free_recv_buffer(lua_State *L, ds_socket *s) {
  void *ud;
  lua_Alloc alloc = lua_getallocf(L, &ud);
  if (s->rxbuf) alloc(ud, s->rxbuf, s->rxcap, 0);
  s->rxbuf = NULL;
  s->rxcap = 0;
}

/* sock:spoofed(): how many datagrams were dropped for claiming an
** IPv4-mapped source without arriving over IPv4. */
static int sock_spoofed(lua_State *L) {
  lua_pushinteger(L, ds_check_socket(L, 1)->spoofed);
  return 1;
}

static const luaL_Reg recv_methods[] = {
  {"spoofed", sock_spoofed},
  {NULL, NULL}};

void ds_open_recv(lua_State *L) {
  ds_add_methods(L, recv_methods, 0);
}
