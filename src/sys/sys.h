/*
** The platform backend: every system call dualstack makes, once. The
** core (../core/) and the bindings (../) call these and nothing of the
** system's own, so a port is a backend of its own: posix.c and posix.h
** now; win32.c and win32.h (Winsock) are the next; BSD and macOS differ
** inside posix.h only.
**
** The backend's header defines the types named here: ds_fd (a socket
** descriptor, DS_FD_NONE for none), ds_msghdr, ds_mmsghdr (msg_hdr and
** msg_len, as Linux names them), ds_iov, ds_pollfd, and the inline
** operations on a message header: ds_msg_set (one buffer, an address
** and control room), ds_msg_reset (room again, for a retry), and the
** readers ds_msg_name, ds_msg_namelen, ds_msg_control,
** ds_msg_controllen and ds_msg_flags. Functions that fail return -1 (DS_FD_NONE
** for a descriptor) and leave the reason to ds_sys_error(), an errno
** value on every platform; the rest return the error itself.
*/
#ifndef DS_SYS_H
#define DS_SYS_H

#if defined(_WIN32)
#include "win32.h" /* the next port */
#else
#include "posix.h"
#endif

#include <stddef.h>

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Once, before any other call (WSAStartup on Windows): 0, or the error. */
int ds_sys_init(void);

/* The platform's name ("posix", "windows"), and the version of Wine it
** runs under, or NULL when it does not. */
const char *ds_sys_platform(void);
const char *ds_sys_wine_version(void);

/* Why the last call that failed failed: an errno value. */
int ds_sys_error(void);

/* Descriptors: made close-on-exec and never raising SIGPIPE, as each
** system allows. */
ds_fd ds_sys_socket(int af, int type);
ds_fd ds_sys_accept(ds_fd fd);
void ds_sys_close(ds_fd fd);
/* Gives a descriptor made elsewhere (inherited) what ds_sys_socket gives
** its own: close-on-exec, no SIGPIPE (Windows: no inheritance, no UDP
** reset reports). 0, or the error. */
int ds_sys_adopt(ds_fd fd);
int ds_sys_set_nonblocking(ds_fd fd, int on); /* 0, or the error */

int ds_sys_bind(ds_fd fd, const struct sockaddr *sa, socklen_t len);
/* A connect that goes on in the background fails with EINPROGRESS. */
int ds_sys_connect(ds_fd fd, const struct sockaddr *sa, socklen_t len);
/* Dissolves a datagram socket's association (connect to AF_UNSPEC, or
** Winsock's zeroed address); a system that reports EAFNOSUPPORT while
** doing so (macOS) succeeds. */
int ds_sys_disconnect(ds_fd fd);
int ds_sys_listen(ds_fd fd, int backlog);
int ds_sys_shutdown(ds_fd fd, int how); /* DS_SHUT_* */
int ds_sys_sockname(ds_fd fd, struct sockaddr *sa, socklen_t *len);
int ds_sys_peername(ds_fd fd, struct sockaddr *sa, socklen_t *len);
int ds_sys_setopt(ds_fd fd, int level, int name, const void *val, socklen_t len);
int ds_sys_getopt(ds_fd fd, int level, int name, void *val, socklen_t *len);
/* The interface of IPv4 multicast sends, by index. */
int ds_sys_set_mcast_if4(ds_fd fd, unsigned index);

/* Device binding (issue 17): the socket (of address family af) sends, and
** where the system can receives, only through interface index, called
** name; index 0 and name "" unbind. Linux SO_BINDTODEVICE (by name), macOS
** IP_BOUND_IF/IPV6_BOUND_IF, Windows IP_UNICAST_IF/IPV6_UNICAST_IF (sends
** only: receives are not filtered); elsewhere ENOPROTOOPT. An AF_INET6
** socket binds both halves where they are separate options.
** ds_sys_get_device gives the name bound, "" for none. */
int ds_sys_bind_device(ds_fd fd, int af, unsigned index, const char *name);
int ds_sys_get_device(ds_fd fd, int af, char name[IF_NAMESIZE]);
/* ICMP sockets (issue 17): a socket of af, type (SOCK_DGRAM or SOCK_RAW)
** and protocol, made as ds_sys_socket makes its own; the filter that lets
** a raw ICMP socket of af receive only echo replies and errors (0, or the
** error; 0 where the system has none); the effective group id, -1 where
** there is none. */
ds_fd ds_sys_socket_proto(int af, int type, int proto);
int ds_sys_icmp_filter(ds_fd fd, int af);
long ds_sys_getegid(void);

/* Data. ds_sys_recvmsg reports a datagram's real length where the system
** can (Linux), and flags truncation everywhere. The batch calls wait for
** the first message only; they return how many went, or -1. */
ssize_t ds_sys_send(ds_fd fd, const void *data, size_t len);
ssize_t ds_sys_recv(ds_fd fd, void *buf, size_t len);
ssize_t ds_sys_sendmsg(ds_fd fd, const ds_msghdr *mh);
ssize_t ds_sys_recvmsg(ds_fd fd, ds_msghdr *mh);
int ds_sys_sendmmsg(ds_fd fd, ds_mmsghdr *v, unsigned n);
int ds_sys_recvmmsg(ds_fd fd, ds_mmsghdr *v, unsigned n);

/* recverr (issue 17): one message of the socket's error queue, never
** waiting (MSG_ERRQUEUE|MSG_DONTWAIT); -1 with EAGAIN once it is empty, and
** with ENOPROTOOPT where there is no error queue. */
ssize_t ds_sys_recv_errqueue(ds_fd fd, ds_msghdr *mh);

/* Waiting: poll's result (-1 with ds_sys_error on failure), and a
** monotonic clock in seconds. */
int ds_sys_poll(ds_pollfd *p, unsigned n, int ms);
double ds_sys_monotonic(void);
/* The wall clock, seconds since 1970 (UTC), and this process's id. */
double ds_sys_realtime(void);
long ds_sys_getpid(void);
/* The host's name into buf (NUL-terminated within size): 0, or -1 with
** ds_sys_error. */
int ds_sys_gethostname(char *buf, size_t size);

/* Names and numbers: getaddrinfo's and getnameinfo's results. Their codes
** (EAI_*) are named and worded by the core (ds_gai_errname); a code that
** means "see the system error" gives that error from ds_sys_gai_errno. */
int ds_sys_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
int ds_sys_getnameinfo(const struct sockaddr *sa, socklen_t len, char *host, size_t hostlen,
                       char *serv, size_t servlen, int flags);
int ds_sys_gai_errno(int code);

/* Numeric address text (NUL-terminated, no zone) to its bytes, ds_sys_pton
** (1 when it is one of af), interface index and name, ds_sys_ifindex and
** ds_sys_ifname (0 and -1 when there is no such one): inline below. The
** list of interfaces with their addresses: */

enum { /* ds_ifaddr.flags */
  DS_IF_UP = 1 << 0, DS_IF_RUNNING = 1 << 1, DS_IF_LOOPBACK = 1 << 2,
  DS_IF_MULTICAST = 1 << 3, DS_IF_BROADCAST = 1 << 4, DS_IF_POINTOPOINT = 1 << 5
};

/* One (interface, address) pair; addr is NULL for an interface without
** one. The pointers hold until the next ds_sys_ifaddrs_next. */
typedef struct ds_ifaddr {
  const char *name;
  unsigned flags;
  const struct sockaddr *addr;
  int prefixlen; /* of addr's network */
} ds_ifaddr;

typedef struct ds_ifaddrs ds_ifaddrs;
int ds_sys_ifaddrs_open(ds_ifaddrs **list); /* 0, or the error */
int ds_sys_ifaddrs_next(ds_ifaddrs *list, ds_ifaddr *out); /* 1 while there is one */
void ds_sys_ifaddrs_close(ds_ifaddrs *list);

/* Local sockets (AF_UNIX): a connected pair, close-on-exec (0, or the
** error; EAFNOSUPPORT where there is none), and the socket file of a
** path: ds_sys_is_socket_file is 1 when path names one (never following
** a symbolic link), ds_sys_unlink removes it (0, or the error). */
int ds_sys_socketpair(int type, ds_fd sv[2]);
int ds_sys_is_socket_file(const char *path);
int ds_sys_unlink(const char *path);
/* Credentials of a local socket's peer (ds_sys_peercred: Linux
** SO_PEERCRED) and of a received message (ds_sys_msg_cred: 1 when mh
** carried SCM_CREDENTIALS, which SO_PASSCRED asks for, ds_sys_set_passcred
** turns on or off; DS_CRED_ROOM is the control room they need). Elsewhere
** ENOPROTOOPT, 0 and a room of 0: a backend whose header leaves
** DS_HAVE_PEERCRED undefined (Windows, the BSDs and macOS for now) gets
** these answers here, one definition for all. */
typedef struct ds_cred { long pid, uid, gid; } ds_cred;
#if defined(DS_HAVE_PEERCRED)
int ds_sys_peercred(ds_fd fd, ds_cred *c);
int ds_sys_set_passcred(ds_fd fd, int on);
int ds_sys_get_passcred(ds_fd fd, int *on);
int ds_sys_msg_cred(const ds_msghdr *mh, ds_cred *c);
#else
static inline int ds_sys_peercred(ds_fd fd, ds_cred *c) {
  (void)fd;
  (void)c;
  return ENOPROTOOPT;
}

static inline int ds_sys_set_passcred(ds_fd fd, int on) {
  (void)fd;
  (void)on;
  return ENOPROTOOPT;
}

static inline int ds_sys_get_passcred(ds_fd fd, int *on) {
  (void)fd;
  *on = 0;
  return ENOPROTOOPT;
}

static inline int ds_sys_msg_cred(const ds_msghdr *mh, ds_cred *c) {
  (void)mh;
  (void)c;
  return 0;
}
#endif
/* Descriptor passing (SCM_RIGHTS). ds_sys_rights_put writes fd[0..n) as
** one control message into buf (DS_RIGHTS_ROOM(n) bytes, aligned) and
** returns its length, 0 where there is no passing. ds_sys_recvmsg_rights
** is ds_sys_recvmsg making what arrives close-on-exec. ds_sys_rights_take
** copies the descriptors mh carried into out (at most max; any past max
** are closed, *dropped then 1) and returns how many it copied. ds_sys_fileno: the
** descriptor of a C stream (a Lua file), -1 when it has none. */
size_t ds_sys_rights_put(void *buf, const ds_fd *fd, unsigned n);
ssize_t ds_sys_recvmsg_rights(ds_fd fd, ds_msghdr *mh);
unsigned ds_sys_rights_take(const ds_msghdr *mh, ds_fd *out, unsigned max, int *dropped);
long ds_sys_fileno(void *stream);

/* What every backend does alike, over the calls above or ones of the
** same name everywhere, defined once. */

/* A batch sent one message at a time, for systems without sendmmsg. */
static inline int ds_sys_send_each(ds_fd fd, ds_mmsghdr *v, unsigned n) {
  unsigned i;
  for (i = 0; i < n; i++) {
    ssize_t r = ds_sys_sendmsg(fd, &v[i].msg_hdr);
    if (r < 0) return i ? (int)i : -1;
    v[i].msg_len = (unsigned)r;
  }
  return (int)n;
}

static inline void ds_sys_freeaddrinfo(struct addrinfo *res) {
  freeaddrinfo(res);
}

static inline int ds_sys_pton(int af, const char *text, void *bytes) {
  return inet_pton(af, text, bytes) == 1;
}

static inline unsigned ds_sys_ifindex(const char *name) {
  return if_nametoindex(name);
}

static inline int ds_sys_ifname(unsigned index, char name[IF_NAMESIZE]) {
  return if_indextoname(index, name) ? 0 : -1;
}

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
