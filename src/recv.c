/*
** Receiving datagrams: the one loop that recvfrom, receive, recvmsg and
** recvmmsg share (one deadline per call, and the check that no datagram
** claiming an IPv4-mapped source passes unless it arrived over IPv4), and
** the sender's and destination's text, formatted once per address.
*/
#include "ds.h"

#include <string.h>

static size_t control_size(const ds_socket *s) {
  size_t n = ds_cmsg_space(s->recvopts);
  if (s->cmsgspace > n) n = s->cmsgspace;
  return n < DS_CMSG_MAX ? n : DS_CMSG_MAX;
}

/* Points mh at data[0..size) and at rx for the sender and control data. */
void ds_setup_rx(const ds_socket *s, ds_msghdr *mh, ds_iov *iov, char *data, size_t size,
                 ds_rx *rx) {
  size_t ctl = control_size(s);
  ds_msg_set(mh, &rx->from.u, sizeof(rx->from.u), iov, data, size, ctl ? rx->ctl.bytes : NULL,
             ctl);
}

/* Does the received datagram claim an IPv4-mapped source it cannot have?
** An inet6 (v6-only) socket gets no IPv4 traffic at all; on a dual socket
** real IPv4 traffic carries IPv4-level control data (the marker, at
** least). Control data cut short (options enabled outside dualstack, with
** too little cmsgspace) can leave the claim unproven: refused too. */
static int spoofed(const ds_socket *s, const ds_msghdr *mh, const ds_ctl *got) {
  const struct sockaddr_in6 *from = (const struct sockaddr_in6 *)ds_msg_name(mh);
  if (s->family == DS_INET || (size_t)ds_msg_namelen(mh) < sizeof(*from) ||
      from->sin6_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&from->sin6_addr))
    return 0;
  return s->family == DS_INET6 || !got->ipv4;
}

/* Does an ICMPv4 datagram arrive behind its IPv4 header on s? On a raw
** socket everywhere; on a datagram one where the backend says so
** (DS_ICMP_DGRAM_IPV4_HEADER: macOS, whose icmp(4) delivers it "with the IP
** header and options intact"; Linux strips it). */
#if !defined(DS_ICMP_DGRAM_IPV4_HEADER)
#define DS_ICMP_DGRAM_IPV4_HEADER 0
#endif
static int ipv4_header_first(const ds_socket *s) {
  return s->family == DS_INET && (s->raw || (s->proto && DS_ICMP_DGRAM_IPV4_HEADER));
}

/* ICMP sockets (issue 17): an ICMPv4 socket of ipv4_header_first receives the IPv4 header
** before the ICMP message; it goes, so every ICMP socket gives the
** message. *len (the datagram's length) shrinks by it. 0 for a packet
** shorter than its header says, which is dropped. */
static int strip_ipv4_header(const ds_socket *s, const ds_msghdr *mh, size_t *len) {
  char *data = ds_msg_data(mh);
  size_t have = *len < ds_msg_datalen(mh) ? *len : ds_msg_datalen(mh);
  long ihl;
  if (!ipv4_header_first(s)) return 1;
  if ((ihl = ds_icmp_ipv4_header((const unsigned char *)data, have)) < 0) return 0;
  memmove(data, data + ihl, have - (size_t)ihl);
  /* *len stays the message's real length, as a datagram socket reports it.
  ** Cut short (*len > have), the buffer keeps have - ihl of its bytes: at
  ** least the size asked for, since ds_rx_room gave the header's room too,
  ** and callers copy no more than that size, so no stale byte of the
  ** buffer's tail is handed out. */
  *len -= (size_t)ihl;
  return 1;
}

/* ICMP sockets (issue 17): the buffer a receive of size bytes needs. On a
** raw ICMPv4 socket the IPv4 header (at most 60 bytes) comes first and is
** stripped, so size counts the ICMP message's bytes, as on a datagram ICMP
** socket (else a size under 20 dropped every packet). */
#define DS_IPV4_HEADER_MAX 60
size_t ds_rx_room(const ds_socket *s, size_t size) {
  return ipv4_header_first(s) ? size + DS_IPV4_HEADER_MAX : size;
}

/* Decodes the control data of the datagram just received into mh (set up
** with rx), of *len bytes, into rx->got, once for every use. Returns 1 to
** keep it, 0 for a spoofed one, which is counted and must be dropped (and
** for a raw ICMPv4 packet cut short, which is not counted). */
int ds_take_dgram(ds_socket *s, const ds_msghdr *mh, ds_rx *rx, size_t *len) {
  void *control = ds_msg_control(mh);
  if (!strip_ipv4_header(s, mh, len)) return 0;
  ds_cmsg_decode(control, control ? ds_msg_controllen(mh) : 0, &rx->got);
#if defined(DS_GUARD_SHARED)
  /* The arrival marker is the IPv4 packet-info option itself here (the
  ** BSDs, Windows): a socket without pktinfo hears IPv4 destinations it
  ** did not ask for, and reports none, as a Linux one does. An IPv6 one
  ** comes from an option someone set, and is reported. */
  if (!(s->recvopts & DS_RECV_PKTINFO) && (rx->got.have & DS_CTL_ADDR) && rx->got.addr.af == AF_INET)
    rx->got.have &= ~(unsigned)(DS_CTL_ADDR | DS_CTL_IFINDEX | DS_CTL_BROADCAST);
#endif
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
ssize_t ds_recv_dgram(ds_socket *s, ds_msghdr *mh, ds_rx *rx, double *deadline, int *err) {
  socklen_t namelen = ds_msg_namelen(mh);
  size_t ctllen = ds_msg_controllen(mh);
  for (;;) {
    ssize_t n = ds_sys_recvmsg(s->fd, mh);
    size_t len = n >= 0 ? (size_t)n : 0;
    if (n >= 0 && ds_take_dgram(s, mh, rx, &len)) return (ssize_t)len;
    if (n < 0 && (*err = ds_retry(s, ds_sys_error(), POLLIN, deadline)) != 0) return -1;
    if (n >= 0 && ds_deadline_passed(s->timeout, deadline)) {
      *err = ETIMEDOUT;
      return -1;
    }
    ds_msg_reset(mh, namelen, ctllen);
  }
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
