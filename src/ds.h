/*
** dualstack: internal interface shared by the C files of dualstack.core.
** Each file owns one concern: errors.c (errno names), addr.c (address
** text and sockaddrs), wait.c (timeouts), socket.c (the socket object),
** options.c (socket options), cmsg.c (control data), msg.c (recvmsg and
** friends), recv.c (the receive loop every datagram path shares, and the
** buffers a call borrows), box.c (system results owned by a userdata),
** core.c (the module table).
*/
#ifndef DS_H
#define DS_H

#include "compat.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

/* Everything declared below is internal to the module: hidden, so calls
** between its files are direct rather than through the PLT. Only
** luaopen_dualstack_core (core.c, declared by Lua's LUAMOD_API) is seen. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define DS_SOCKET_MT "dualstack.socket"

/* Upvalues of socket methods (see ds_add_methods): the socket metatable,
** then the method's own. */
#define DS_UPVALUE_MT lua_upvalueindex(1)
#define DS_UPVALUE(k) lua_upvalueindex((k) + 1)

/* The three kinds of socket a user can ask for. */
enum ds_family { DS_DUAL, DS_INET6, DS_INET };

/* Receive options that add control messages: they size the control buffer. */
enum {
  DS_RECV_PKTINFO = 1 << 0,
  DS_RECV_HOPLIMIT = 1 << 1,
  DS_RECV_TCLASS = 1 << 2,
  DS_RECV_TIMESTAMP = 1 << 3,
  DS_RECV_GRO = 1 << 4,
  DS_RECV_GUARD = 1 << 5, /* the IPv4 arrival marker (ds_fit_marker) */
  /* Those with an IPv4-level message: each marks IPv4 arrival itself. */
  DS_RECV_IPV4 = DS_RECV_PKTINFO | DS_RECV_HOPLIMIT | DS_RECV_TCLASS
};

/* User values of a socket: the scratch buffer of large receives, and the
** text of the last peer and destination addresses a receive produced. */
enum { DS_SLOT_SCRATCH = 1, DS_SLOT_PEER, DS_SLOT_DST, DS_SLOTS = DS_SLOT_DST };

/* Read-ahead for LuaSocket's line pattern; larger reads bypass it. */
#define DS_BUFSIZE 8192

/* Receive size when none is given: the largest datagram fits. */
#define DS_RECV_DEFAULT 65536

/* An IP address in binary form, as parsed from or formatted to text. */
typedef struct ds_ip {
  int af;                 /* AF_INET or AF_INET6 */
  unsigned char bytes[16];/* 4 or 16 used */
  uint32_t scope;         /* IPv6 zone (interface index), 0 when none */
} ds_ip;

/* Longest text ds_ntop writes: IPv6, '%', an interface name, NUL. */
#define DS_ADDRSTRLEN (INET6_ADDRSTRLEN + 1 + IF_NAMESIZE + 1)

/* The last address of one kind (peer or destination) a receive gave as
** text: a server hears the same peers on the same addresses again and
** again, so each is formatted once (its string is the slot's user value)
** and text equal to it, handed back to send, needs no parsing. */
typedef struct ds_known_ip {
  ds_ip ip;  /* af 0: none yet */
  size_t len;
  char text[DS_ADDRSTRLEN];
} ds_known_ip;

typedef struct ds_socket {
  int fd;           /* -1 once closed */
  int family;       /* enum ds_family; v6only may turn DUAL into INET6 */
  int type;         /* SOCK_STREAM or SOCK_DGRAM */
  int bound;        /* bind, connect or listen happened: v6only is frozen */
  unsigned recvopts;/* DS_RECV_* enabled */
  size_t cmsgspace; /* control buffer for recvmsg; 0: sized by recvopts */
  size_t maxline;   /* longest line "*l" returns; 0: no limit */
  double timeout;   /* seconds per call; negative blocks */
  short want;       /* POLLIN or POLLOUT: what the last blocked call awaited */
  ds_known_ip known[2]; /* DS_SLOT_PEER and DS_SLOT_DST */
  lua_Integer spoofed; /* datagrams dropped: mapped source, not IPv4 */
  char *rxbuf;      /* single receives larger than buf (ds_recv_buffer) */
  size_t rxcap;     /* its size, 0 while there is none */
  size_t first, last; /* unread bytes are buf[first..last) */
  char buf[DS_BUFSIZE];
} ds_socket;

typedef struct ds_sockaddr {
  union {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_storage ss;
  } u;
  socklen_t len;
} ds_sockaddr;

/* Control data of one datagram: what arrived with it, or what to send
** with it. Plain C so the decoder can be fuzzed. */
enum {
  DS_CTL_ADDR = 1 << 0,     /* received: destination; sent: source */
  DS_CTL_IFINDEX = 1 << 1,
  DS_CTL_HOPLIMIT = 1 << 2,
  DS_CTL_TCLASS = 1 << 3,   /* the whole TOS / traffic class byte */
  DS_CTL_TIMESTAMP = 1 << 4,
  DS_CTL_SEGMENT = 1 << 5,  /* UDP GSO/GRO segment size */
  DS_CTL_BROADCAST = 1 << 6,/* received: sent to a broadcast address */
  DS_CTL_ALL = (DS_CTL_BROADCAST << 1) - 1
};

typedef struct ds_ctl {
  unsigned have; /* DS_CTL_* fields set */
  int ipv4;      /* received: an IPv4-level message came, so it came over IPv4 */
  ds_ip addr;              /* for a broadcast, the local address to answer from */
  ds_ip broadcast;         /* the broadcast address it was sent to */
  unsigned ifindex;
  int hoplimit;
  int tclass;
  int segment;
  double timestamp; /* seconds since the epoch */
} ds_ctl;

/* Room for every control message this module enables, on both families. */
#define DS_CMSG_MAX 320

typedef union ds_cmsgbuf {
  struct cmsghdr align;
  char bytes[DS_CMSG_MAX];
} ds_cmsgbuf;

/* box.c */
typedef struct ds_box {
  void *p;                 /* the system result, NULL once freed */
  void (*release)(void *); /* frees it */
} ds_box;
ds_box *ds_new_box(lua_State *L, void (*release)(void *));
void ds_box_release(ds_box *b);

/* errors.c */
void ds_push_errname(lua_State *L, int err);
const char *ds_errmessage(int err);
int ds_push_error(lua_State *L, int err);
int ds_push_failure(lua_State *L, const char *message, const char *code);

/* addr.c: pure functions (no Lua) first, then the socket-facing ones. */
const char *ds_pton(const char *text, size_t len, ds_ip *ip);
size_t ds_ntop(const ds_ip *ip, char *out);
void ds_ip_map(ds_ip *ip);
void ds_ip_unmap(ds_ip *ip);
void ds_ip_to_sockaddr(const ds_ip *ip, int port, ds_sockaddr *sa);
int ds_sockaddr_to_ip(const struct sockaddr *sa, ds_ip *ip);
int ds_push_sockaddr(lua_State *L, const struct sockaddr *sa);
int ds_fit_family(lua_State *L, int sockfamily, ds_ip *ip);
int ds_resolve(lua_State *L, const ds_socket *s, int hostarg, int portarg,
               ds_sockaddr *sa);
int ds_check_port(lua_State *L, int arg);
const char *ds_check_text(lua_State *L, int arg, size_t *len);
int ds_check_field_option(lua_State *L, int t, const char *field, const char *const names[],
                          int def);
int ds_parse_host(lua_State *L, const ds_socket *s, const char *host, size_t len,
                  ds_ip *ip, const char **why);
void ds_open_addr(lua_State *L);

/* ::ffff:0:0/96. Inline, as ds_ip_equal: the send and receive paths ask
** several times per datagram. */
static inline int ds_ip_is_mapped(const ds_ip *ip) {
  static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip->af == AF_INET6 && memcmp(ip->bytes, prefix, 12) == 0;
}

/* Only the bytes of the family count: an IPv4 address leaves 12 unset.
** Inline: the receive path compares two addresses per datagram. */
static inline int ds_ip_equal(const ds_ip *a, const ds_ip *b) {
  if (a->af != b->af || a->scope != b->scope) return 0;
  return a->af == AF_INET ? memcmp(a->bytes, b->bytes, 4) == 0 /* constant sizes: inlined */
                          : memcmp(a->bytes, b->bytes, 16) == 0;
}

/* cmsg.c */
size_t ds_cmsg_space(unsigned recvopts);
void ds_cmsg_decode(const void *control, size_t len, ds_ctl *out);
size_t ds_cmsg_encode(void *control, size_t cap, const ds_ctl *in, int ipv4);

/* wait.c */
double ds_now(void);
#define DS_DEADLINE_UNSET (-2.0)
int ds_poll(struct pollfd *p, nfds_t n, double deadline);
int ds_wait(int fd, short events, double deadline);
double ds_deadline(double timeout);
int ds_retry(ds_socket *s, short events, double *deadline);

/* socket.c */
/* Fastest from functions registered by ds_add_methods (metatable upvalue). */
ds_socket *ds_check_socket(lua_State *L, int arg);
ds_socket *ds_check_open(lua_State *L, int arg);
void ds_need_type(lua_State *L, const ds_socket *s, int type, int arg, const char *what);
int ds_io_error(lua_State *L, ds_socket *s, int err);
void ds_open_socket(lua_State *L);
void ds_add_methods(lua_State *L, const luaL_Reg *funcs, int nup);
size_t ds_check_size(lua_State *L, int arg, lua_Integer def);

/* recv.c */
typedef struct ds_rx { /* where one datagram's sender and control data land */
  ds_sockaddr from;
  ds_ctl got;     /* ctl decoded */
  ds_cmsgbuf ctl; /* last: struct cmsghdr may end in a flexible array */
} ds_rx;
int ds_guard_ipv4(int fd, int on);
int ds_fit_marker(ds_socket *s, unsigned recvopts);
void ds_setup_rx(const ds_socket *s, struct msghdr *mh, struct iovec *iov, char *data,
                 size_t size, ds_rx *rx);
int ds_take_dgram(ds_socket *s, const struct msghdr *mh, ds_rx *rx);
int ds_push_peer(lua_State *L, ds_socket *s, int sockarg, const struct sockaddr *sa);
void ds_push_dst(lua_State *L, ds_socket *s, int sockarg, const ds_ctl *c);
int ds_known_text(const ds_socket *s, int slot, const char *text, size_t len, ds_ip *ip);
int ds_past_deadline(const ds_socket *s, double *deadline);
ssize_t ds_recv_dgram(ds_socket *s, struct msghdr *mh, ds_rx *rx, double *deadline, int *err);
void *ds_borrow(lua_State *L, int sockarg, size_t size);
void ds_give_back(lua_State *L, int sockarg, int idx);
char *ds_recv_buffer(lua_State *L, ds_socket *s, size_t size);
void ds_free_recv_buffer(lua_State *L, ds_socket *s);
void ds_open_recv(lua_State *L);

/* msg.c */
void ds_open_msg(lua_State *L);

/* options.c */
int ds_sock_setoption(lua_State *L);
int ds_sock_getoption(lua_State *L);
int ds_set_v6only(int fd, int on);
int ds_ipv4_disabled(void);

/* iface.c */
unsigned ds_check_ifindex(lua_State *L, int arg);
unsigned ds_ifindex_of_addr(const ds_ip *ip);
void ds_open_iface(lua_State *L);

/* mcast.c */
int ds_set_multicast_if(lua_State *L);
int ds_get_multicast_if(lua_State *L);
void ds_open_mcast(lua_State *L);

/* poll.c */
void ds_open_poll(lua_State *L);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
