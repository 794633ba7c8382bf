/*
** The POSIX backend (Linux, the BSDs, macOS): sys.h's calls over the
** system's own. Nothing above this file names a system call.
*/
#include "sys.h"

#include <fcntl.h>
#include <sys/stat.h> /* local sockets: lstat */
#include <ifaddrs.h>
#include <stdio.h> /* descriptor passing: fileno */
#include <netinet/icmp6.h> /* ICMP sockets (issue 17): ICMP6_FILTER */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Sending never raises SIGPIPE: a per-call flag where there is one, else
** (macOS) a per-socket option, set in new_fd. */
#if defined(MSG_NOSIGNAL)
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0
#endif

/* Linux reports a datagram's real length when asked with MSG_TRUNC; other
** systems only flag the truncation. */
#if defined(__linux__)
#define RECV_FLAGS MSG_TRUNC
#else
#define RECV_FLAGS 0
#endif

int ds_sys_init(void) {
  return 0;
}

const char *ds_sys_platform(void) {
  return "posix";
}

const char *ds_sys_wine_version(void) {
  return NULL;
}

int ds_sys_error(void) {
  return errno;
}

/* Sending never raises SIGPIPE where that is a socket option (macOS). */
static int no_sigpipe(ds_fd fd) {
#if defined(SO_NOSIGPIPE)
  int one = 1;
  return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one)) == 0;
#else
  (void)fd;
  return 1;
#endif
}

/* What a new descriptor fd needs that the system did not give it at birth
** (cloexec: whether it did close-on-exec): close-on-exec, and no SIGPIPE
** where that is a socket option. */
static ds_fd new_fd(ds_fd fd, int cloexec) {
  int ok = 1;
  if (fd < 0) return DS_FD_NONE;
  if (!cloexec) ok = fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
  if (ok) ok = no_sigpipe(fd);
  if (!ok) {
    int err = errno;
    close(fd);
    errno = err;
    return DS_FD_NONE;
  }
  return fd;
}

int ds_sys_adopt(ds_fd fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0 || !no_sigpipe(fd)) return errno;
  return 0;
}

ds_fd ds_sys_socket(int af, int type) {
  return ds_sys_socket_proto(af, type, 0);
}

/* ICMP sockets (issue 17) */
ds_fd ds_sys_socket_proto(int af, int type, int proto) {
#if defined(DS_HAVE_SOCK_CLOEXEC)
  return new_fd(socket(af, type | SOCK_CLOEXEC, proto), 1);
#else
  return new_fd(socket(af, type, proto), 0);
#endif
}

/* Linux's ICMP_FILTER (linux/icmp.h, level SOL_RAW) blocks the types whose
** bits are set; ICMPv6's filter is RFC 3542's. Passed: echo reply and the
** errors (unreachable, too big, time exceeded, parameter problem). */
int ds_sys_icmp_filter(ds_fd fd, int af) {
  if (af == AF_INET6) {
    struct icmp6_filter f;
    ICMP6_FILTER_SETBLOCKALL(&f);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
    ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &f);
    ICMP6_FILTER_SETPASS(ICMP6_PACKET_TOO_BIG, &f);
    ICMP6_FILTER_SETPASS(ICMP6_TIME_EXCEEDED, &f);
    ICMP6_FILTER_SETPASS(ICMP6_PARAM_PROB, &f);
    return setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f)) < 0 ? errno : 0;
  }
#if defined(__linux__)
  {
    const uint32_t pass = (1u << 0) | (1u << 3) | (1u << 11) | (1u << 12);
    uint32_t block = ~pass;
    return setsockopt(fd, 255 /* SOL_RAW */, 1 /* ICMP_FILTER */, &block, sizeof(block)) < 0
               ? errno : 0;
  }
#else
  (void)fd;
  return 0;
#endif
}

long ds_sys_getegid(void) {
  return (long)getegid();
}

ds_fd ds_sys_accept(ds_fd fd) {
#if defined(DS_HAVE_SOCK_CLOEXEC) && defined(DS_HAVE_ACCEPT4)
  return new_fd(accept4(fd, NULL, NULL, SOCK_CLOEXEC), 1);
#else
  return new_fd(accept(fd, NULL, NULL), 0);
#endif
}

/* The descriptor is gone even when close reports EINTR: never retried. */
void ds_sys_close(ds_fd fd) {
  (void)close(fd);
}

int ds_sys_set_nonblocking(ds_fd fd, int on) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0) return errno;
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return fcntl(fd, F_SETFL, flags) < 0 ? errno : 0;
}

int ds_sys_bind(ds_fd fd, const struct sockaddr *sa, socklen_t len) {
  return bind(fd, sa, len);
}

int ds_sys_connect(ds_fd fd, const struct sockaddr *sa, socklen_t len) {
  return connect(fd, sa, len);
}

int ds_sys_disconnect(ds_fd fd) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  ss.ss_family = AF_UNSPEC;
  if (connect(fd, (struct sockaddr *)&ss, sizeof(ss)) == 0 || errno == EAFNOSUPPORT) return 0;
  return -1;
}

int ds_sys_listen(ds_fd fd, int backlog) {
  return listen(fd, backlog);
}

int ds_sys_shutdown(ds_fd fd, int how) {
  return shutdown(fd, how);
}

int ds_sys_sockname(ds_fd fd, struct sockaddr *sa, socklen_t *len) {
  return getsockname(fd, sa, len);
}

int ds_sys_peername(ds_fd fd, struct sockaddr *sa, socklen_t *len) {
  return getpeername(fd, sa, len);
}

int ds_sys_setopt(ds_fd fd, int level, int name, const void *val, socklen_t len) {
  return setsockopt(fd, level, name, val, len);
}

int ds_sys_getopt(ds_fd fd, int level, int name, void *val, socklen_t *len) {
  return getsockopt(fd, level, name, val, len);
}

int ds_sys_set_mcast_if4(ds_fd fd, unsigned index) {
#if defined(__linux__) || defined(__FreeBSD__)
  struct ip_mreqn mr;
  memset(&mr, 0, sizeof(mr));
  mr.imr_ifindex = (int)index;
  return setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr));
#else /* macOS and OpenBSD take the interface's address: not done yet */
  (void)fd;
  (void)index;
  errno = EOPNOTSUPP;
  return -1;
#endif
}

/* Device binding (issue 17). */
#if defined(SO_BINDTODEVICE)
int ds_sys_bind_device(ds_fd fd, int af, unsigned index, const char *name) {
  (void)af;
  (void)index; /* Linux takes the name; "" (length 0) unbinds */
  return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)strlen(name));
}

/* Linux wants room for IFNAMSIZ bytes, NUL included (less is EINVAL). */
int ds_sys_get_device(ds_fd fd, int af, char name[IF_NAMESIZE]) {
  socklen_t len = IF_NAMESIZE;
  (void)af;
  if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &len) < 0) return -1;
  name[len < IF_NAMESIZE ? len : IF_NAMESIZE - 1] = '\0'; /* the kernel may count the NUL */
  return 0;
}
#elif defined(IP_BOUND_IF) && defined(IPV6_BOUND_IF)
/* macOS: by index, each family's own option (both on a dual socket). */
int ds_sys_bind_device(ds_fd fd, int af, unsigned index, const char *name) {
  int v = (int)index;
  (void)name;
  if (af == AF_INET6) {
    int v6only = 0;
    socklen_t len = sizeof(v6only);
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_BOUND_IF, &v, sizeof(v)) < 0) return -1;
    if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) < 0 || v6only) return 0;
  }
  return setsockopt(fd, IPPROTO_IP, IP_BOUND_IF, &v, sizeof(v));
}

int ds_sys_get_device(ds_fd fd, int af, char name[IF_NAMESIZE]) {
  int v = 0;
  socklen_t len = sizeof(v);
  int r = af == AF_INET6 ? getsockopt(fd, IPPROTO_IPV6, IPV6_BOUND_IF, &v, &len)
                         : getsockopt(fd, IPPROTO_IP, IP_BOUND_IF, &v, &len);
  if (r < 0) return -1;
  if (v <= 0 || !if_indextoname((unsigned)v, name)) name[0] = '\0';
  return 0;
}
#else
int ds_sys_bind_device(ds_fd fd, int af, unsigned index, const char *name) {
  (void)fd;
  (void)af;
  (void)index;
  (void)name;
  errno = ENOPROTOOPT;
  return -1;
}

int ds_sys_get_device(ds_fd fd, int af, char name[IF_NAMESIZE]) {
  (void)fd;
  (void)af;
  name[0] = '\0';
  errno = ENOPROTOOPT;
  return -1;
}
#endif

ssize_t ds_sys_send(ds_fd fd, const void *data, size_t len) {
  return send(fd, data, len, SEND_FLAGS);
}

ssize_t ds_sys_recv(ds_fd fd, void *buf, size_t len) {
  return recv(fd, buf, len, 0);
}

ssize_t ds_sys_sendmsg(ds_fd fd, const ds_msghdr *mh) {
  return sendmsg(fd, mh, SEND_FLAGS);
}

ssize_t ds_sys_recvmsg(ds_fd fd, ds_msghdr *mh) {
  return recvmsg(fd, mh, RECV_FLAGS);
}

/* recverr (issue 17): the error queue, read without waiting. */
ssize_t ds_sys_recv_errqueue(ds_fd fd, ds_msghdr *mh) {
#if defined(DS_HAVE_ERRQUEUE)
  return recvmsg(fd, mh, MSG_ERRQUEUE | MSG_DONTWAIT);
#else
  (void)fd;
  (void)mh;
  errno = ENOPROTOOPT;
  return -1;
#endif
}

#if defined(DS_HAVE_MMSG)
int ds_sys_sendmmsg(ds_fd fd, ds_mmsghdr *v, unsigned n) {
  return sendmmsg(fd, v, n, SEND_FLAGS);
}

int ds_sys_recvmmsg(ds_fd fd, ds_mmsghdr *v, unsigned n) {
  return recvmmsg(fd, v, n, MSG_WAITFORONE | RECV_FLAGS, NULL);
}
#else
/* Without the batch calls: one message at a time, those after the first
** without waiting, which is what the batch calls do. */
int ds_sys_sendmmsg(ds_fd fd, ds_mmsghdr *v, unsigned n) {
  return ds_sys_send_each(fd, v, n);
}

int ds_sys_recvmmsg(ds_fd fd, ds_mmsghdr *v, unsigned n) {
  unsigned i;
  for (i = 0; i < n; i++) {
    ssize_t r = recvmsg(fd, &v[i].msg_hdr, RECV_FLAGS | (i ? MSG_DONTWAIT : 0));
    if (r < 0) return i ? (int)i : -1;
    v[i].msg_len = (unsigned)r;
  }
  return (int)n;
}
#endif

int ds_sys_poll(ds_pollfd *p, unsigned n, int ms) {
  return poll(p, (nfds_t)n, ms);
}

double ds_sys_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double ds_sys_realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

long ds_sys_getpid(void) {
  return (long)getpid();
}

/* POSIX leaves a truncated name unterminated: terminate it. */
int ds_sys_gethostname(char *buf, size_t size) {
  if (gethostname(buf, size) < 0) return -1;
  buf[size - 1] = '\0';
  return 0;
}

int ds_sys_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res) {
  return getaddrinfo(host, service, hints, res);
}

int ds_sys_getnameinfo(const struct sockaddr *sa, socklen_t len, char *host, size_t hostlen,
                       char *serv, size_t servlen, int flags) {
  return getnameinfo(sa, len, host, (socklen_t)hostlen, serv, (socklen_t)servlen, flags);
}

int ds_sys_gai_errno(int code) {
#if defined(EAI_SYSTEM)
  if (code == EAI_SYSTEM) return errno;
#endif
  (void)code;
  return 0;
}

struct ds_ifaddrs {
  struct ifaddrs *all, *next;
};

int ds_sys_ifaddrs_open(ds_ifaddrs **list) {
  ds_ifaddrs *l = (ds_ifaddrs *)malloc(sizeof(*l));
  if (!l) return ENOMEM;
  if (getifaddrs(&l->all) < 0) {
    int err = errno;
    free(l);
    return err;
  }
  l->next = l->all;
  *list = l;
  return 0;
}

static int prefix_length(const struct sockaddr *mask) {
  const unsigned char *b;
  int i, n = 0, len;
  if (!mask) return 0;
  if (mask->sa_family == AF_INET) {
    b = (const unsigned char *)&((const struct sockaddr_in *)(const void *)mask)->sin_addr;
    len = 4;
  } else if (mask->sa_family == AF_INET6) {
    b = (const unsigned char *)&((const struct sockaddr_in6 *)(const void *)mask)->sin6_addr;
    len = 16;
  } else {
    return 0;
  }
  for (i = 0; i < len; i++)
    for (unsigned v = b[i]; v; v &= v - 1) n++;
  return n;
}

static unsigned portable_flags(unsigned f) {
  return ((f & IFF_UP) ? DS_IF_UP : 0) | ((f & IFF_RUNNING) ? DS_IF_RUNNING : 0) |
         ((f & IFF_LOOPBACK) ? DS_IF_LOOPBACK : 0) | ((f & IFF_MULTICAST) ? DS_IF_MULTICAST : 0) |
         ((f & IFF_BROADCAST) ? DS_IF_BROADCAST : 0) |
         ((f & IFF_POINTOPOINT) ? DS_IF_POINTOPOINT : 0);
}

int ds_sys_ifaddrs_next(ds_ifaddrs *list, ds_ifaddr *out) {
  struct ifaddrs *ifa = list->next;
  if (!ifa) return 0;
  list->next = ifa->ifa_next;
  out->name = ifa->ifa_name;
  out->flags = portable_flags(ifa->ifa_flags);
  out->addr = ifa->ifa_addr;
  out->prefixlen = prefix_length(ifa->ifa_netmask);
  return 1;
}

void ds_sys_ifaddrs_close(ds_ifaddrs *list) {
  if (!list) return;
  freeifaddrs(list->all);
  free(list);
}

/* ---- local sockets (AF_UNIX) ---- */

int ds_sys_socketpair(int type, ds_fd sv[2]) {
  int i;
#if defined(DS_HAVE_SOCK_CLOEXEC)
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) return errno;
#else
  if (socketpair(AF_UNIX, type, 0, sv) < 0) return errno;
#endif
  for (i = 0; i < 2; i++) {
#if defined(DS_HAVE_SOCK_CLOEXEC)
    int ok = new_fd(sv[i], 1) != DS_FD_NONE;
#else
    int ok = new_fd(sv[i], 0) != DS_FD_NONE;
#endif
    if (!ok) { /* new_fd closed sv[i] */
      int err = errno;
      if (i == 0) close(sv[1]);
      else close(sv[0]);
      return err;
    }
  }
  return 0;
}

int ds_sys_is_socket_file(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int ds_sys_unlink(const char *path) {
  return unlink(path) == 0 ? 0 : errno;
}

/* Local sockets: the payload bytes of control message h that mh's control
** data holds: its cmsg_len bounded by the buffer's end, as the core's
** decoder bounds it (src/core/cmsg.c), so a length the buffer does not hold
** is never read. 0 for a header shorter than itself (the walk stops there:
** some systems' NXTHDR would come back to it for ever). */
static size_t cmsg_payload(const struct msghdr *mh, const struct cmsghdr *h) {
  const unsigned char *end = (const unsigned char *)mh->msg_control + mh->msg_controllen;
  const unsigned char *data = CMSG_DATA((struct cmsghdr *)h);
  size_t len = h->cmsg_len;
  if (len < CMSG_LEN(0) || data > end) return 0;
  len -= CMSG_LEN(0);
  return len < (size_t)(end - data) ? len : (size_t)(end - data);
}

/* Credentials (Linux); elsewhere sys.h's absent answers. */
#if defined(DS_HAVE_PEERCRED)
int ds_sys_peercred(ds_fd fd, ds_cred *c) {
  struct ucred u;
  socklen_t len = sizeof(u);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &u, &len) < 0) return errno;
  c->pid = (long)u.pid;
  c->uid = (long)u.uid;
  c->gid = (long)u.gid;
  return 0;
}

int ds_sys_set_passcred(ds_fd fd, int on) {
  return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) == 0 ? 0 : errno;
}

int ds_sys_get_passcred(ds_fd fd, int *on) {
  socklen_t len = sizeof(*on);
  return getsockopt(fd, SOL_SOCKET, SO_PASSCRED, on, &len) == 0 ? 0 : errno;
}

int ds_sys_msg_cred(const ds_msghdr *mh, ds_cred *c) {
  struct cmsghdr *h;
  for (h = CMSG_FIRSTHDR((ds_msghdr *)mh); h && h->cmsg_len >= CMSG_LEN(0);
       h = CMSG_NXTHDR((ds_msghdr *)mh, h))
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS &&
        cmsg_payload(mh, h) >= sizeof(struct ucred)) {
      struct ucred u;
      memcpy(&u, CMSG_DATA(h), sizeof(u));
      c->pid = (long)u.pid;
      c->uid = (long)u.uid;
      c->gid = (long)u.gid;
      return 1;
    }
  return 0;
}
#endif

/* ---- descriptor passing (SCM_RIGHTS) ---- */

size_t ds_sys_rights_put(void *buf, const ds_fd *fd, unsigned n) {
  struct msghdr mh;
  struct cmsghdr *h;
  memset(&mh, 0, sizeof(mh));
  mh.msg_control = buf;
  mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
  memset(buf, 0, mh.msg_controllen);
  h = CMSG_FIRSTHDR(&mh);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(n * sizeof(int));
  memcpy(CMSG_DATA(h), fd, n * sizeof(int));
  return mh.msg_controllen;
}

ssize_t ds_sys_recvmsg_rights(ds_fd fd, ds_msghdr *mh) {
#if defined(MSG_CMSG_CLOEXEC)
  return recvmsg(fd, mh, RECV_FLAGS | MSG_CMSG_CLOEXEC);
#else
  return recvmsg(fd, mh, RECV_FLAGS); /* ds_sys_rights_take marks them */
#endif
}

unsigned ds_sys_rights_take(const ds_msghdr *mh, ds_fd *out, unsigned max, int *dropped) {
  struct cmsghdr *h;
  unsigned got = 0;
  *dropped = 0;
  for (h = CMSG_FIRSTHDR((ds_msghdr *)mh); h && h->cmsg_len >= CMSG_LEN(0);
       h = CMSG_NXTHDR((ds_msghdr *)mh, h)) {
    size_t i, n;
    if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
    n = cmsg_payload(mh, h) / sizeof(int); /* never past the buffer: no stranger is closed */
    for (i = 0; i < n; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
#if !defined(MSG_CMSG_CLOEXEC)
      (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
      if (got < max) out[got++] = fd;
      else {
        close(fd);
        *dropped = 1;
      }
    }
  }
  return got;
}

long ds_sys_fileno(void *stream) {
  return stream ? (long)fileno((FILE *)stream) : -1;
}
