/*
** dualstack: the Lua binding's internal interface, shared by the C files
** of dualstack.core. Under them: the core (core/core.h: address text,
** control data, the errno table, waiting and deadlines, probes, socket
** set-up), which includes no Lua header, and under it the platform
** backend (sys/sys.h), which alone makes system calls.
** Each file here is Lua glue for one concern: object.c (the socket
** userdata, its memory and life cycle), socket.c (LuaSocket's methods),
** options.c (socket options), mcast.c (multicast), msg.c (recvmsg and
** friends), recv.c (the receive loop every datagram path shares),
** addr.c (addresses to and from Lua, name resolution, the has_* probes),
** iface.c (interfaces), poll.c (core.poll), box.c (system results owned
** by a userdata), errors.c (errors pushed to Lua), core.c (the module).
*/
#ifndef DS_H
#define DS_H

#include "core/core.h"

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
/* DS_UNIX (local sockets, unix.c) is never a name tcp and udp take. */
enum ds_family { DS_DUAL, DS_INET6, DS_INET, DS_UNIX };

/* User values of a socket: the scratch buffer of large receives, and the
** text of the last peer and destination addresses a receive produced. */
enum { DS_SLOT_SCRATCH = 1, DS_SLOT_PEER, DS_SLOT_DST, DS_SLOTS = DS_SLOT_DST };

/* Read-ahead for LuaSocket's line pattern; larger reads bypass it. */
#define DS_BUFSIZE 8192

/* Receive size when none is given: the largest datagram fits. */
#define DS_RECV_DEFAULT 65536

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
  ds_fd fd;         /* DS_FD_NONE once closed */
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
  /* ICMP sockets (issue 17): s->type stays SOCK_DGRAM, so every datagram
  ** method applies; gettype() tells raw ones apart. */
  int proto;        /* IPPROTO_ICMP or IPPROTO_ICMPV6; 0: tcp or udp */
  int raw;          /* ICMP: a SOCK_RAW socket (IPv4 ones receive the IP header) */
  size_t first, last; /* unread bytes are buf[first..last) */
  struct ds_errq *errq; /* recverr (issue 17): its FIFO while the option is on, else NULL */
  char buf[DS_BUFSIZE];
} ds_socket;

/* box.c */
typedef struct ds_box {
  void *p;                 /* the system result, NULL once freed */
  void (*release)(void *); /* frees it */
} ds_box;
ds_box *ds_new_box(lua_State *L, void (*release)(void *));
void ds_box_release(ds_box *b);

/* errors.c */
void ds_push_errname(lua_State *L, int err);
int ds_push_error(lua_State *L, int err);
int ds_push_failure(lua_State *L, const char *message, const char *code);

/* addr.c: the Lua-facing address code (the pure part is core/addr.c). */
int ds_push_sockaddr(lua_State *L, const struct sockaddr *sa);
int ds_fit_family(lua_State *L, int sockfamily, ds_ip *ip);
int ds_resolve(lua_State *L, const ds_socket *s, int hostarg, int portarg,
               ds_sockaddr *sa);
int ds_check_port(lua_State *L, int arg);
int ds_check_socket_port(lua_State *L, const ds_socket *s, int arg); /* ICMP (issue 17) */
const char *ds_check_text(lua_State *L, int arg, size_t *len);
int ds_check_field_option(lua_State *L, int t, const char *field, const char *const names[],
                          int def);
int ds_parse_host(lua_State *L, const ds_socket *s, const char *host, size_t len,
                  ds_ip *ip, const char **why);
void ds_open_addr(lua_State *L);

/* object.c */
extern const char *const ds_family_names[]; /* by enum ds_family */
/* Fastest from functions registered by ds_add_methods (metatable upvalue). */
ds_socket *ds_check_socket(lua_State *L, int arg);
ds_socket *ds_check_open(lua_State *L, int arg);
void ds_need_type(lua_State *L, const ds_socket *s, int type, int arg, const char *what);
size_t ds_check_size(lua_State *L, int arg, lua_Integer def);
ds_socket *ds_new_socket(lua_State *L, int family, int type);
int ds_retry(ds_socket *s, int err, short events, double *deadline);
void *ds_borrow(lua_State *L, int sockarg, size_t size);
void ds_give_back(lua_State *L, int sockarg, int idx);
char *ds_recv_buffer(lua_State *L, ds_socket *s, size_t size);
/* the read-ahead of a stream (object.c): taken by receive, recv and a local recvmsg */
size_t ds_take_ahead(ds_socket *s, char *dst, size_t len);
size_t ds_ahead_room(const ds_socket *s, size_t max);
int ds_push_ahead(lua_State *L, ds_socket *s, size_t max);
void ds_add_methods(lua_State *L, const luaL_Reg *funcs, int nup);
void ds_open_object(lua_State *L);

/* icmp.c: ICMP sockets (issue 17) */
void ds_open_icmp(lua_State *L);

/* socket.c */
void ds_open_socket(lua_State *L);

/* recv.c */
typedef struct ds_rx { /* where one datagram's sender and control data land */
  ds_sockaddr from;
  ds_ctl got;     /* ctl decoded */
  int kept;       /* in a batch: not dropped as spoofed */
  ds_cmsgbuf ctl; /* last: struct cmsghdr may end in a flexible array */
} ds_rx;
void ds_setup_rx(const ds_socket *s, ds_msghdr *mh, ds_iov *iov, char *data, size_t size,
                 ds_rx *rx);
int ds_take_dgram(ds_socket *s, const ds_msghdr *mh, ds_rx *rx, size_t *len);
/* ICMP sockets (issue 17): the buffer a datagram receive of size bytes needs. */
size_t ds_rx_room(const ds_socket *s, size_t size);
int ds_push_peer(lua_State *L, ds_socket *s, int sockarg, const struct sockaddr *sa);
void ds_push_dst(lua_State *L, ds_socket *s, int sockarg, const ds_ctl *c);
int ds_known_text(const ds_socket *s, int slot, const char *text, size_t len, ds_ip *ip);
ssize_t ds_recv_dgram(ds_socket *s, ds_msghdr *mh, ds_rx *rx, double *deadline, int *err);
void ds_open_recv(lua_State *L);

/* msg.c */
void ds_open_msg(lua_State *L);

/* options.c */
unsigned ds_read_recvopts(ds_fd fd, int family, int type);
int ds_fill_recvopts(ds_fd fd, int family, int type, unsigned on);
void ds_push_cred(lua_State *L, const ds_cred *c); /* local sockets: {pid, uid, gid} */
void ds_open_options(lua_State *L);

/* iface.c */
unsigned ds_check_ifindex(lua_State *L, int arg);
void ds_open_iface(lua_State *L);

/* mcast.c */
int ds_set_multicast_if(lua_State *L);
int ds_get_multicast_if(lua_State *L);
int ds_membership_option(lua_State *L, int join, int af);
void ds_open_mcast(lua_State *L);

/* poll.c */
void ds_open_poll(lua_State *L);

/* errq.c: ICMP errors on UDP (recverr, issue 17). */
int ds_set_recverr(lua_State *L);
int ds_get_recverr(lua_State *L);
void ds_adopt_recverr(lua_State *L, ds_socket *s, ds_fd fd);
void ds_open_errq(lua_State *L);
/* unix.c: local sockets. The methods of socket.c and msg.c hand a unix
** socket's calls that take or give addresses to these. */
int ds_unix_bind(lua_State *L, ds_socket *s);
int ds_unix_connect(lua_State *L, ds_socket *s);
int ds_unix_recv(lua_State *L, ds_socket *s, int sender);
int ds_unix_sendto(lua_State *L, ds_socket *s);
int ds_unix_push_name(lua_State *L, const ds_sockaddr *sa);
int ds_unix_msg(lua_State *L, ds_socket *s, int send); /* recvmsg (0), sendmsg (1) */
/* adopt.c: adopting a descriptor made elsewhere, for fromfd (socket.c) and
** for one received over a local socket (unix.c) */
int ds_fd_family(const ds_fdinfo *info);
int ds_adopt_socket(lua_State *L, ds_socket *s, ds_fd fd, const ds_fdinfo *info, int family, int shared);
void ds_open_unix(lua_State *L);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
