/*
** The Windows backend: sys.h's calls over Winsock 2. Winsock's own
** semantics, not POSIX ones: WSAStartup, SOCKET handles, closesocket,
** ioctlsocket, WSAPoll, WSARecvMsg and WSASendMsg, and WSAGetLastError
** mapped to the errno values the rest of the module names.
*/
#if defined(_WIN32)

#include "sys.h"

#include <stdio.h>
#include <stdlib.h>

static int errno_of(int wsa);

/* WSARecvMsg is reached through a pointer Winsock hands out (it is the
** same for every socket of the provider). It is fetched once per process,
** under InitOnce, and only read after: a constant found at run time, not
** state that changes. */
static INIT_ONCE recvmsg_once = INIT_ONCE_STATIC_INIT;
static LPFN_WSARECVMSG recvmsg_fn;

static BOOL CALLBACK find_recvmsg(PINIT_ONCE once, PVOID param, PVOID *context) {
  GUID guid = WSAID_WSARECVMSG;
  DWORD bytes = 0;
  SOCKET s = socket(AF_INET6, SOCK_DGRAM, 0);
  (void)once;
  (void)param;
  (void)context;
  if (s == INVALID_SOCKET) s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s == INVALID_SOCKET) return FALSE;
  if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid), &recvmsg_fn,
               sizeof(recvmsg_fn), &bytes, NULL, NULL) != 0)
    recvmsg_fn = NULL;
  closesocket(s);
  return recvmsg_fn != NULL;
}

/* Winsock counts its users: each Lua state that opens the module starts
** it once more, and it is never stopped (the process's end does that). */
int ds_sys_init(void) {
  WSADATA data;
  int err = WSAStartup(MAKEWORD(2, 2), &data);
  if (err != 0) return errno_of(err);
  if (!InitOnceExecuteOnce(&recvmsg_once, find_recvmsg, NULL, NULL)) return ENOSYS;
  return 0;
}

const char *ds_sys_platform(void) {
  return "windows";
}

/* Wine's ntdll says so (wine_get_version); Windows' has no such export. */
const char *ds_sys_wine_version(void) {
  typedef const char *(CDECL * version_fn)(void);
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  FARPROC f = ntdll ? GetProcAddress(ntdll, "wine_get_version") : NULL;
  version_fn version;
  if (!f) return NULL;
  memcpy(&version, &f, sizeof(version)); /* a function pointer of another type */
  return version();
}

/* POSIX's EPIPE has no Winsock code: the backend sets this one of its own
** where POSIX says EPIPE, and reads it back as EPIPE. */
#define WSA_EPIPE (WSABASEERR + 900)

/* Winsock's codes by the errno value that means the same. */
static int errno_of(int wsa) {
  switch (wsa) {
    case WSA_EPIPE: return EPIPE;
    case WSAEINTR: return EINTR;
    case WSAEBADF: return EBADF;
    case WSAENOTSOCK: return EBADF; /* a closed handle, as EBADF on POSIX */
    case WSAEACCES: return EACCES;
    case WSAEFAULT: return EINVAL;
    case WSAEINVAL: return EINVAL;
    case WSAEMFILE: return EMFILE;
    case WSAEWOULDBLOCK: return EWOULDBLOCK;
    case WSAEINPROGRESS: return EINPROGRESS;
    case WSAEALREADY: return EALREADY;
    case WSAEDESTADDRREQ: return EDESTADDRREQ;
    case WSAEMSGSIZE: return EMSGSIZE;
    case WSAEPROTOTYPE: return EPROTOTYPE;
    case WSAENOPROTOOPT: return ENOPROTOOPT;
    case WSAEPROTONOSUPPORT: return EPROTONOSUPPORT;
    case WSAESOCKTNOSUPPORT: return EPROTONOSUPPORT;
    case WSAEOPNOTSUPP: return EOPNOTSUPP;
    case WSAEPFNOSUPPORT: return EAFNOSUPPORT;
    case WSAEAFNOSUPPORT: return EAFNOSUPPORT;
    case WSAEADDRINUSE: return EADDRINUSE;
    case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
    case WSAENETDOWN: return ENETDOWN;
    case WSAENETUNREACH: return ENETUNREACH;
    case WSAENETRESET: return ENETRESET;
    case WSAECONNABORTED: return ECONNABORTED;
    case WSAECONNRESET: return ECONNRESET;
    case WSAENOBUFS: return ENOBUFS;
    case WSAEISCONN: return EISCONN;
    case WSAENOTCONN: return ENOTCONN;
    case WSAESHUTDOWN: return ESHUTDOWN;
    case WSAETIMEDOUT: return ETIMEDOUT;
    case WSAECONNREFUSED: return ECONNREFUSED;
    case WSAEHOSTDOWN: return EHOSTDOWN;
    case WSAEHOSTUNREACH: return EHOSTUNREACH;
    case WSA_NOT_ENOUGH_MEMORY: return ENOMEM;
    case WSAEDISCON: return ECONNRESET;
    case WSA_OPERATION_ABORTED: return EINTR;
    case WSANOTINITIALISED: return ENOSYS;
    case WSASYSNOTREADY: return ENETDOWN;
    case WSAEPROCLIM: return EMFILE;
    default: return wsa; /* unknown: its own number, reported as "E<n>" */
  }
}

int ds_sys_error(void) {
  return errno_of(WSAGetLastError());
}

static int connected(SOCKET s) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  return getpeername(s, (struct sockaddr *)&ss, &len) == 0;
}

/* The socket's type and family, from its protocol record: what POSIX
** calls below need to say where Winsock answers differently. */
static int type_of(SOCKET s, int *af) {
  WSAPROTOCOL_INFOW info;
  int len = sizeof(info);
  if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) != 0) return 0;
  if (af) *af = info.iAddressFamily;
  return info.iSocketType;
}

#if !defined(SIO_UDP_NETRESET)
#define SIO_UDP_NETRESET _WSAIOW(IOC_VENDOR, 15)
#endif

/* A UDP socket would otherwise report an ICMP port unreachable, caused by
** one peer, as WSAECONNRESET on its next receive from anyone (and a TTL
** expired as WSAENETRESET: turned off too, where the system has it). */
static int udp_connreset_off(SOCKET s) {
  BOOL off = FALSE;
  DWORD bytes = 0;
  if (WSAIoctl(s, SIO_UDP_CONNRESET, &off, sizeof(off), NULL, 0, &bytes, NULL, NULL) != 0)
    return 0;
  (void)WSAIoctl(s, SIO_UDP_NETRESET, &off, sizeof(off), NULL, 0, &bytes, NULL, NULL);
  return 1;
}

static int set_bool(SOCKET s, int name, BOOL on) {
  return setsockopt(s, SOL_SOCKET, name, (const char *)&on, sizeof(on)) == 0;
}

/* Not inherited by child processes: Windows' close-on-exec. Exclusive:
** Windows lets a socket with SO_REUSEADDR take over a port another one
** uses; SO_EXCLUSIVEADDRUSE refuses that, as POSIX systems do by
** default (see ds_sys_setopt for sharing that both sides ask for). */
ds_fd ds_sys_socket(int af, int type) {
  return ds_sys_socket_proto(af, type, 0);
}

/* ICMP sockets (issue 17): raw ones only (administrators); Windows has no
** datagram ICMP socket and no receive filter. */
int ds_sys_icmp_filter(ds_fd fd, int af) {
  (void)fd;
  (void)af;
  return 0;
}

long ds_sys_getegid(void) {
  return -1;
}

ds_fd ds_sys_socket_proto(int af, int type, int proto) {
  /* Overlapped, as socket() makes them, for loops that use IOCP. Systems
  ** before Windows 7 SP1 refuse the no-inherit flag: inheritance is then
  ** cleared on the handle. */
  SOCKET s = WSASocketW(af, type, proto, NULL, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL) {
    s = WSASocketW(af, type, proto, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (s != INVALID_SOCKET) SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
  }
  if (s == INVALID_SOCKET) return DS_FD_NONE;
  if (!set_bool(s, SO_EXCLUSIVEADDRUSE, TRUE) ||
      (type == SOCK_DGRAM && !udp_connreset_off(s))) {
    int err = WSAGetLastError();
    closesocket(s);
    WSASetLastError(err);
    return DS_FD_NONE;
  }
  return s;
}

int ds_sys_adopt(ds_fd fd) {
  if (!SetHandleInformation((HANDLE)fd, HANDLE_FLAG_INHERIT, 0)) return ds_sys_error();
  if (type_of(fd, NULL) == SOCK_DGRAM && !udp_connreset_off(fd)) return ds_sys_error();
  return 0;
}

/* An accepted socket inherits the listener's non-blocking mode here; on
** POSIX it starts blocking, as the new socket object expects. */
ds_fd ds_sys_accept(ds_fd fd) {
  SOCKET s = accept(fd, NULL, NULL);
  u_long blocking = 0;
  if (s == INVALID_SOCKET) return DS_FD_NONE;
  SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
  ioctlsocket(s, FIONBIO, &blocking);
  return s;
}

void ds_sys_close(ds_fd fd) {
  (void)closesocket(fd);
}

int ds_sys_set_nonblocking(ds_fd fd, int on) {
  u_long mode = on ? 1 : 0;
  return ioctlsocket(fd, FIONBIO, &mode) == 0 ? 0 : ds_sys_error();
}

/* A port another socket holds exclusively refuses with WSAEACCES where
** POSIX says EADDRINUSE: the same case, reported as POSIX names it. */
int ds_sys_bind(ds_fd fd, const struct sockaddr *sa, socklen_t len) {
  if (bind(fd, sa, len) == 0) return 0;
  if (WSAGetLastError() == WSAEACCES) WSASetLastError(WSAEADDRINUSE);
  return -1;
}

/* A non-blocking connect under way says WSAEWOULDBLOCK; sys.h's callers
** expect EINPROGRESS, as POSIX says it. */
int ds_sys_connect(ds_fd fd, const struct sockaddr *sa, socklen_t len) {
  /* After a background connect failed, POSIX's next connect reports why;
  ** Winsock's says WSAECONNABORTED or WSAEINVAL: the reason is in SO_ERROR. */
  int soerr = 0, n = sizeof(soerr);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, (char *)&soerr, &n) == 0 && soerr != 0) {
    WSASetLastError(soerr);
    return -1;
  }
  if (connect(fd, sa, len) == 0) return 0;
  if (WSAGetLastError() == WSAEWOULDBLOCK) WSASetLastError(WSAEINPROGRESS);
  return -1;
}

/* Winsock dissolves a datagram socket's association on a connect to the
** zeroed address of its family. */
int ds_sys_disconnect(ds_fd fd) {
  struct sockaddr_storage ss;
  int af = AF_INET6;
  if (!type_of(fd, &af)) return -1;
  memset(&ss, 0, sizeof(ss));
  ss.ss_family = (ADDRESS_FAMILY)af;
  return connect(fd, (struct sockaddr *)&ss,
                 af == AF_INET ? (int)sizeof(struct sockaddr_in)
                               : (int)sizeof(struct sockaddr_in6)) == 0 ? 0 : -1;
}

/* Binds a socket not bound yet to the wildcard and a free port, as POSIX
** does on its first listen, send or receive: 1 when it did, 0 when the
** socket was bound already or cannot be (the error is left as it was). */
static int bind_if_unbound(SOCKET s) {
  struct sockaddr_storage ss;
  int len = sizeof(ss), af = 0, err = WSAGetLastError();
  if (getsockname(s, (struct sockaddr *)&ss, &len) == 0 || !type_of(s, &af)) {
    WSASetLastError(err);
    return 0;
  }
  memset(&ss, 0, sizeof(ss));
  ss.ss_family = (ADDRESS_FAMILY)af;
  len = af == AF_INET ? (int)sizeof(struct sockaddr_in) : (int)sizeof(struct sockaddr_in6);
  if (bind(s, (struct sockaddr *)&ss, len) == 0) return 1;
  WSASetLastError(err);
  return 0;
}

/* POSIX's answers: a datagram socket cannot listen (EOPNOTSUPP), and a
** stream socket not bound yet is bound first, where Winsock says WSAEINVAL. */
int ds_sys_listen(ds_fd fd, int backlog) {
  if (listen(fd, backlog) == 0) return 0;
  if (WSAGetLastError() != WSAEINVAL) return -1;
  if (type_of(fd, NULL) == SOCK_DGRAM) {
    WSASetLastError(WSAEOPNOTSUPP);
    return -1;
  }
  if (!bind_if_unbound(fd)) return -1;
  return listen(fd, backlog) == 0 ? 0 : -1;
}

/* A datagram socket that is not connected has nothing to shut down:
** ENOTCONN, as POSIX says (Wine lets it pass). */
int ds_sys_shutdown(ds_fd fd, int how) {
  if (type_of(fd, NULL) == SOCK_DGRAM && !connected(fd)) {
    WSASetLastError(WSAENOTCONN);
    return -1;
  }
  return shutdown(fd, how) == 0 ? 0 : -1;
}

/* A socket not bound yet has, as on POSIX, the wildcard and port 0,
** where Winsock says WSAEINVAL. */
int ds_sys_sockname(ds_fd fd, struct sockaddr *sa, socklen_t *len) {
  int af = 0;
  socklen_t need;
  if (getsockname(fd, sa, len) == 0) return 0;
  if (WSAGetLastError() != WSAEINVAL || !type_of(fd, &af)) return -1;
  need = af == AF_INET ? (socklen_t)sizeof(struct sockaddr_in)
                       : (socklen_t)sizeof(struct sockaddr_in6);
  if (*len < need) return -1;
  memset(sa, 0, (size_t)need);
  sa->sa_family = (ADDRESS_FAMILY)af;
  *len = need;
  return 0;
}

int ds_sys_peername(ds_fd fd, struct sockaddr *sa, socklen_t *len) {
  return getpeername(fd, sa, len) == 0 ? 0 : -1;
}

/* reuseaddr means what it means on POSIX: sockets that all ask for it may
** share a port, others may not take it. Here that is SO_REUSEADDR on
** them all, without SO_EXCLUSIVEADDRUSE, which is turned off first (the
** two together are refused) and on again when sharing ends. */
int ds_sys_setopt(ds_fd fd, int level, int name, const void *val, socklen_t len) {
  if (level == SOL_SOCKET && name == SO_REUSEADDR && len == sizeof(int)) {
    BOOL on = *(const int *)val != 0;
    if (on && !set_bool(fd, SO_EXCLUSIVEADDRUSE, FALSE)) return -1;
    if (!set_bool(fd, SO_REUSEADDR, on)) {
      int err = WSAGetLastError();
      if (on) set_bool(fd, SO_EXCLUSIVEADDRUSE, TRUE); /* as it was */
      WSASetLastError(err);
      return -1;
    }
    return on || set_bool(fd, SO_EXCLUSIVEADDRUSE, TRUE) ? 0 : -1;
  }
  return setsockopt(fd, level, name, (const char *)val, len) == 0 ? 0 : -1;
}

/* SO_ERROR holds a Winsock code: it is read as the errno value, as every
** other error here is. */
int ds_sys_getopt(ds_fd fd, int level, int name, void *val, socklen_t *len) {
  if (getsockopt(fd, level, name, (char *)val, len) != 0) return -1;
  if (level == SOL_SOCKET && name == SO_ERROR && *len == sizeof(int) && *(int *)val != 0)
    *(int *)val = errno_of(*(int *)val);
  return 0;
}

/* The first IPv4 address of interface index into *a: 1, or 0 when it has
** none (or the list cannot be read). */
static int ipv4_of_interface(unsigned index, struct in_addr *a) {
  ULONG size = 16384, flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST |
                              GAA_FLAG_SKIP_DNS_SERVER;
  IP_ADAPTER_ADDRESSES *all = (IP_ADAPTER_ADDRESSES *)malloc(size), *ad;
  int found = 0;
  if (all && GetAdaptersAddresses(AF_INET, flags, NULL, all, &size) == NO_ERROR)
    for (ad = all; ad && !found; ad = ad->Next)
      if (ad->IfIndex == index && ad->FirstUnicastAddress) {
        *a = ((struct sockaddr_in *)(void *)ad->FirstUnicastAddress->Address.lpSockaddr)->sin_addr;
        found = 1;
      }
  free(all);
  return found;
}

/* IPv4 multicast leaves by an interface address; an interface without
** one is named by index as 0.0.0.index, which Windows also takes. */
int ds_sys_set_mcast_if4(ds_fd fd, unsigned index) {
  struct in_addr a;
  if (!ipv4_of_interface(index, &a)) a.s_addr = htonl(index);
  return ds_sys_setopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &a, sizeof(a));
}

/* Device binding (issue 17): IP_UNICAST_IF takes the index in network
** byte order, IPV6_UNICAST_IF in host order. They choose the interface of
** sends only; receives are not filtered. An AF_INET6 socket sets both
** (the IPv4 one governs its mapped traffic; a v6only socket may refuse
** it, which is then no error). */
int ds_sys_bind_device(ds_fd fd, int af, unsigned index, const char *name) {
  DWORD v4 = htonl(index), v6 = index;
  (void)name;
  if (af == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_IF, (const char *)&v6, sizeof(v6)) != 0)
      return -1;
    (void)setsockopt(fd, IPPROTO_IP, IP_UNICAST_IF, (const char *)&v4, sizeof(v4));
    return 0;
  }
  return setsockopt(fd, IPPROTO_IP, IP_UNICAST_IF, (const char *)&v4, sizeof(v4)) == 0 ? 0 : -1;
}

int ds_sys_get_device(ds_fd fd, int af, char name[IF_NAMESIZE]) {
  DWORD v = 0;
  int len = sizeof(v);
  int r = af == AF_INET6 ? getsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_IF, (char *)&v, &len)
                         : getsockopt(fd, IPPROTO_IP, IP_UNICAST_IF, (char *)&v, &len);
  if (r != 0) return -1;
  if (af != AF_INET6) v = ntohl(v);
  if (v == 0 || ds_sys_ifname((unsigned)v, name) < 0) name[0] = '\0';
  return 0;
}

/* Winsock takes int lengths: larger requests are cut, as a short send or
** receive is always allowed to be. */
static int clamp_len(size_t len) {
  return len > INT_MAX ? INT_MAX : (int)len;
}

/* A send without a destination on a socket not connected fails as POSIX
** says: EDESTADDRREQ on a datagram socket, EPIPE on a stream one (where
** Winsock says WSAEINVAL, WSAENOTCONN, or under Wine WSAECONNRESET). */
static void unconnected_send_error(SOCKET s) {
  int err = WSAGetLastError(), type;
  /* A real reset says WSAECONNRESET too: only Wine's is taken for this. */
  if (err == WSAECONNRESET && !ds_sys_wine_version()) return;
  if (err != WSAENOTCONN && err != WSAEINVAL && err != WSAECONNRESET) return;
  if (connected(s)) return;
  type = type_of(s, NULL);
  if (type == SOCK_DGRAM && err != WSAECONNRESET) WSASetLastError(WSAEDESTADDRREQ);
  else if (type == SOCK_STREAM && err != WSAEINVAL) WSASetLastError(WSA_EPIPE);
}

ssize_t ds_sys_send(ds_fd fd, const void *data, size_t len) {
  int n = send(fd, (const char *)data, clamp_len(len), 0);
  if (n != SOCKET_ERROR) return n;
  unconnected_send_error(fd);
  return -1;
}

ssize_t ds_sys_recv(ds_fd fd, void *buf, size_t len) {
  int n = recv(fd, (char *)buf, clamp_len(len), 0);
  if (n == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL && bind_if_unbound(fd))
    n = recv(fd, (char *)buf, clamp_len(len), 0);
  return n == SOCKET_ERROR ? -1 : n;
}

ssize_t ds_sys_sendmsg(ds_fd fd, const ds_msghdr *mh) {
  DWORD sent = 0;
  if (WSASendMsg(fd, (LPWSAMSG)mh, 0, &sent, NULL, NULL) == 0) return (ssize_t)sent;
  if (!mh->name) unconnected_send_error(fd);
  return -1;
}

/* recverr (issue 17): Windows has no error queue. */
ssize_t ds_sys_recv_errqueue(ds_fd fd, ds_msghdr *mh) {
  (void)fd;
  (void)mh;
  WSASetLastError(WSAENOPROTOOPT);
  return -1;
}

/* A datagram larger than the buffer fails with WSAEMSGSIZE, its first
** part received and MSG_TRUNC set: that is a truncated datagram, as on
** POSIX, not an error. */
/* A receive on a datagram socket not bound yet waits, as on POSIX (where
** nothing can reach it until it sends), instead of WSAEINVAL: it is bound
** first. */
ssize_t ds_sys_recvmsg(ds_fd fd, ds_msghdr *mh) {
  DWORD got = 0;
  int tried = 0;
  for (;;) {
    mh->dwFlags = 0;
    if (recvmsg_fn(fd, mh, &got, NULL, NULL) == 0) return (ssize_t)got;
    if (WSAGetLastError() == WSAEMSGSIZE) {
      /* Cut short: the data (MSG_TRUNC, or no flag at all) fills the
      ** buffer; control data alone (MSG_CTRUNC) leaves the count right. */
      if (!(mh->dwFlags & MSG_CTRUNC)) mh->dwFlags |= MSG_TRUNC;
      if (mh->dwFlags & MSG_TRUNC) return (ssize_t)mh->lpBuffers[0].len;
      if (got == 0) return -1; /* no count came with it (Wine): EMSGSIZE, not "" */
      return (ssize_t)got;
    }
    if (tried++ || WSAGetLastError() != WSAEINVAL || !bind_if_unbound(fd)) return -1;
  }
}

int ds_sys_sendmmsg(ds_fd fd, ds_mmsghdr *v, unsigned n) {
  return ds_sys_send_each(fd, v, n);
}

static int readable_now(ds_fd fd) {
  WSAPOLLFD p;
  p.fd = fd;
  p.events = POLLIN;
  p.revents = 0;
  return WSAPoll(&p, 1, 0) > 0;
}

/* The first message as the socket's mode says (waiting or not), the rest
** only while more are queued: Windows has no per-call MSG_DONTWAIT. */
int ds_sys_recvmmsg(ds_fd fd, ds_mmsghdr *v, unsigned n) {
  unsigned i;
  for (i = 0; i < n; i++) {
    ssize_t r;
    if (i > 0 && !readable_now(fd)) break;
    r = ds_sys_recvmsg(fd, &v[i].msg_hdr);
    if (r < 0) return i ? (int)i : -1;
    v[i].msg_len = (unsigned)r;
  }
  return (int)i;
}

/* A wait that includes writing (a connect under way, most often) waits
** with select: WSAPoll did not report a connect that failed before
** Windows 10 2004, so such a wait lasted until its timeout; select puts
** the failure in exceptfds. Sets are FD_SETSIZE sockets (win32.h). */
static int poll_by_select(ds_pollfd *p, unsigned n, int ms) {
  fd_set r, w, e;
  struct timeval tv, *t = NULL;
  unsigned i;
  int got, ready = 0;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_ZERO(&e);
  for (i = 0; i < n; i++) {
    if (p[i].events & POLLIN) FD_SET(p[i].fd, &r);
    if (p[i].events & POLLOUT) FD_SET(p[i].fd, &w);
    FD_SET(p[i].fd, &e);
  }
  if (ms >= 0) {
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    t = &tv;
  }
  got = select(0, &r, &w, &e, t);
  if (got == SOCKET_ERROR && WSAGetLastError() == WSAENOTSOCK) { /* one is stale: */
    got = WSAPoll(p, (ULONG)n, ms); /* it says which, as POLLNVAL */
    return got == SOCKET_ERROR ? -1 : got;
  }
  if (got == SOCKET_ERROR) return -1;
  for (i = 0; i < n; i++) {
    /* One socket may be several entries: each hears only what it asked. */
    p[i].revents = (short)((((p[i].events & POLLIN) && FD_ISSET(p[i].fd, &r)) ? POLLIN : 0) |
                           (((p[i].events & POLLOUT) && FD_ISSET(p[i].fd, &w)) ? POLLOUT : 0) |
                           (FD_ISSET(p[i].fd, &e) ? POLLERR : 0));
    ready += p[i].revents != 0;
  }
  return ready;
}

static int wants_write(const ds_pollfd *p, unsigned n) {
  unsigned i;
  for (i = 0; i < n; i++)
    if (p[i].events & POLLOUT) return 1;
  return 0;
}

int ds_sys_poll(ds_pollfd *p, unsigned n, int ms) {
  int got;
  if (n == 0) { /* WSAPoll refuses an empty set; POSIX's poll just sleeps */
    Sleep(ms < 0 ? INFINITE : (DWORD)ms);
    return 0;
  }
  if (n <= FD_SETSIZE && wants_write(p, n)) return poll_by_select(p, n, ms);
  got = WSAPoll(p, (ULONG)n, ms);
  return got == SOCKET_ERROR ? -1 : got;
}

double ds_sys_monotonic(void) {
  LARGE_INTEGER now, freq;
  QueryPerformanceCounter(&now);
  QueryPerformanceFrequency(&freq);
  return (double)now.QuadPart / (double)freq.QuadPart;
}

/* FILETIME counts 100 ns since 1601; the precise clock (Windows 8) is
** looked up, the coarse one (about 15 ms) stands in before it. */
double ds_sys_realtime(void) {
  typedef VOID(WINAPI * now_fn)(LPFILETIME);
  HMODULE k32 = GetModuleHandleA("kernel32.dll");
  FARPROC f = k32 ? GetProcAddress(k32, "GetSystemTimePreciseAsFileTime") : NULL;
  now_fn now = GetSystemTimeAsFileTime;
  FILETIME ft;
  ULARGE_INTEGER t;
  if (f) memcpy(&now, &f, sizeof(now)); /* a function pointer of another type */
  now(&ft);
  t.LowPart = ft.dwLowDateTime;
  t.HighPart = ft.dwHighDateTime;
  return (double)(t.QuadPart - 116444736000000000ULL) * 1e-7;
}

long ds_sys_getpid(void) {
  return (long)GetCurrentProcessId();
}

/* Winsock's gethostname (WSAStartup has run: ds_sys_init) takes an int. */
int ds_sys_gethostname(char *buf, size_t size) {
  if (gethostname(buf, (int)size) != 0) return -1;
  buf[size - 1] = '\0';
  return 0;
}

/* Results name their protocol, as glibc's do, where Winsock leaves 0. */
int ds_sys_getaddrinfo(const char *host, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res) {
  struct addrinfo *ai;
  int rc = getaddrinfo(host, service, hints, res);
  if (rc != 0) return rc;
  for (ai = *res; ai; ai = ai->ai_next)
    if (ai->ai_protocol == 0)
      ai->ai_protocol = ai->ai_socktype == SOCK_STREAM ? IPPROTO_TCP
                      : ai->ai_socktype == SOCK_DGRAM ? IPPROTO_UDP : 0;
  return 0;
}

int ds_sys_getnameinfo(const struct sockaddr *sa, socklen_t len, char *host, size_t hostlen,
                       char *serv, size_t servlen, int flags) {
  return getnameinfo(sa, len, host, (DWORD)hostlen, serv, (DWORD)servlen, flags);
}

int ds_sys_gai_errno(int code) {
  (void)code;
  return 0;
}

/* The adapters, as GetAdaptersAddresses gives them, walked one unicast
** address at a time; an adapter without any is one entry without addr.
** Names are the ones if_nametoindex takes ("loopback_0"), so the list,
** ifindex and ifname agree. */
struct ds_ifaddrs {
  IP_ADAPTER_ADDRESSES *all, *adapter;
  IP_ADAPTER_UNICAST_ADDRESS *unicast; /* the adapter's next address */
  int given;                           /* an entry of the adapter was given */
  char name[IF_NAMESIZE];
};

static void at_adapter(ds_ifaddrs *l, IP_ADAPTER_ADDRESSES *a) {
  l->adapter = a;
  l->unicast = a ? a->FirstUnicastAddress : NULL;
  l->given = 0;
}

int ds_sys_ifaddrs_open(ds_ifaddrs **list) {
  ULONG size = 16384, rc = ERROR_BUFFER_OVERFLOW;
  ULONG flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
  ds_ifaddrs *l = (ds_ifaddrs *)calloc(1, sizeof(*l));
  int tries, err;
  if (!l) return ENOMEM;
  /* The list may grow between the call that sizes it and the next. */
  for (tries = 0; tries < 4 && rc == ERROR_BUFFER_OVERFLOW; tries++) {
    free(l->all);
    if ((l->all = (IP_ADAPTER_ADDRESSES *)malloc(size)) == NULL) break;
    rc = GetAdaptersAddresses(AF_UNSPEC, flags, NULL, l->all, &size);
  }
  if (l->all && rc == ERROR_NO_DATA) { /* no adapters: an empty list */
    free(l->all);
    l->all = NULL;
    rc = NO_ERROR;
  }
  if (rc == NO_ERROR) {
    at_adapter(l, l->all);
    *list = l;
    return 0;
  }
  err = !l->all || rc == ERROR_NOT_ENOUGH_MEMORY || rc == ERROR_BUFFER_OVERFLOW ? ENOMEM : EIO;
  free(l->all);
  free(l);
  return err;
}

static unsigned portable_flags(const IP_ADAPTER_ADDRESSES *a) {
  unsigned f = 0;
  if (a->OperStatus == IfOperStatusUp) f |= DS_IF_UP | DS_IF_RUNNING;
  if (a->IfType == IF_TYPE_SOFTWARE_LOOPBACK) f |= DS_IF_LOOPBACK;
  if (!(a->Flags & IP_ADAPTER_NO_MULTICAST)) f |= DS_IF_MULTICAST;
  if (a->IfType == IF_TYPE_PPP) f |= DS_IF_POINTOPOINT;
  else if (a->IfType != IF_TYPE_SOFTWARE_LOOPBACK) f |= DS_IF_BROADCAST;
  return f;
}

static void adapter_name(const IP_ADAPTER_ADDRESSES *a, char *out) {
  if (ConvertInterfaceLuidToNameA(&a->Luid, out, IF_NAMESIZE) != NO_ERROR)
    snprintf(out, IF_NAMESIZE, "%s", a->AdapterName);
}

int ds_sys_ifaddrs_next(ds_ifaddrs *l, ds_ifaddr *out) {
  for (; l->adapter; at_adapter(l, l->adapter->Next)) {
    IP_ADAPTER_UNICAST_ADDRESS *u = l->unicast;
    if (!u && l->given) continue; /* this adapter is done */
    if (!l->given) adapter_name(l->adapter, l->name);
    l->given = 1;
    if (u) l->unicast = u->Next;
    out->name = l->name;
    out->flags = portable_flags(l->adapter);
    out->addr = u ? u->Address.lpSockaddr : NULL;
    out->prefixlen = u ? u->OnLinkPrefixLength : 0;
    return 1;
  }
  return 0;
}

void ds_sys_ifaddrs_close(ds_ifaddrs *list) {
  if (!list) return;
  free(list->all);
  free(list);
}

/* ---- local sockets (AF_UNIX): Windows has stream sockets on paths only ---- */

int ds_sys_socketpair(int type, ds_fd sv[2]) {
  (void)type;
  sv[0] = sv[1] = DS_FD_NONE;
  return EAFNOSUPPORT;
}

/* A socket file is a reparse point to Windows: no test tells it from
** another file, so none is taken for stale (remove_stale never unlinks). */
int ds_sys_is_socket_file(const char *path) {
  (void)path;
  return 0;
}

int ds_sys_unlink(const char *path) {
  return DeleteFileA(path) ? 0 : ENOENT;
}

/* Credentials: none here (sys.h's absent answers). */

size_t ds_sys_rights_put(void *buf, const ds_fd *fd, unsigned n) {
  (void)buf;
  (void)fd;
  (void)n;
  return 0;
}

ssize_t ds_sys_recvmsg_rights(ds_fd fd, ds_msghdr *mh) {
  return ds_sys_recvmsg(fd, mh);
}

unsigned ds_sys_rights_take(const ds_msghdr *mh, ds_fd *out, unsigned max, int *dropped) {
  *dropped = 0;
  (void)mh;
  (void)out;
  (void)max;
  return 0;
}

long ds_sys_fileno(void *stream) {
  (void)stream;
  return -1; /* a C stream's descriptor is no socket on Windows */
}

#endif
