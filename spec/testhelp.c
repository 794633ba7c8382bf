/*
** Test helpers, not part of dualstack, for what Lua cannot do itself: set
** a socket option behind dualstack's back (as another library or a parent
** process would), make the allocator fail, read the C heap's size, and
** send an IPv6 datagram with any source address. Built by `make
** test-build` as build/spec/testhelp.so and, for Windows, by mk/windows.mk
** as build/windows-test/spec/testhelp.dll: there heap and send_raw6 return
** nil and the reason (no mallinfo2, no raw IPv6 with a header built here).
*/
#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#define _GNU_SOURCE 1 /* mallinfo2, SO_BINDTODEVICE, inet_pton under -std=c99 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lua.h>
#include <lauxlib.h>

/* The descriptor of argument arg and the last socket error's text. */
#ifdef _WIN32
typedef SOCKET sock_t;
#define SOCK_FAILED(r) ((r) == SOCKET_ERROR)
static const char *sock_error(lua_State *L) {
  return lua_pushfstring(L, "winsock error %d", WSAGetLastError());
}
#else
typedef int sock_t;
#define SOCK_FAILED(r) ((r) < 0)
static const char *sock_error(lua_State *L) {
  return lua_pushstring(L, strerror(errno));
}
#endif

static sock_t check_sock(lua_State *L, int arg) {
  return (sock_t)luaL_checkinteger(L, arg);
}

/* ok, err = testhelp.setint(fd, level, name, value) */
static int setint(lua_State *L) {
  sock_t fd = check_sock(L, 1);
  int level = (int)luaL_checkinteger(L, 2);
  int name = (int)luaL_checkinteger(L, 3);
  int value = (int)luaL_checkinteger(L, 4);
  if (SOCK_FAILED(setsockopt(fd, level, name, (const void *)&value, sizeof(value)))) {
    lua_pushnil(L);
    sock_error(L);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* value, err = testhelp.getint(fd, level, name) */
static int getint(lua_State *L) {
  sock_t fd = check_sock(L, 1);
  int level = (int)luaL_checkinteger(L, 2);
  int name = (int)luaL_checkinteger(L, 3);
  int value = 0;
  socklen_t len = sizeof(value);
  if (SOCK_FAILED(getsockopt(fd, level, name, (void *)&value, &len))) {
    lua_pushnil(L);
    sock_error(L);
    return 2;
  }
  lua_pushinteger(L, value);
  return 1;
}

/* fd, err = testhelp.socket(family, type[, v6only]): a raw descriptor
** made behind dualstack's back, as a parent process would: family
** "inet", "inet6" or "unix" (POSIX), type "tcp" or "udp"; v6only (inet6)
** is set explicitly when given. */
static int raw_socket(lua_State *L) {
  static const char *const families[] = {"inet", "inet6", "unix", NULL};
  static const char *const types[] = {"tcp", "udp", NULL};
  int f = luaL_checkoption(L, 1, NULL, families);
  int t = luaL_checkoption(L, 2, NULL, types);
  int af = f == 0 ? AF_INET : f == 1 ? AF_INET6 : -1;
  sock_t fd;
#ifndef _WIN32
  if (f == 2) af = AF_UNIX;
#endif
  if (af < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "no unix sockets here");
    return 2;
  }
  fd = socket(af, t == 0 ? SOCK_STREAM : SOCK_DGRAM, 0);
#ifdef _WIN32
  if (fd == INVALID_SOCKET) {
#else
  if (fd < 0) {
#endif
    lua_pushnil(L);
    sock_error(L);
    return 2;
  }
  if (!lua_isnoneornil(L, 3)) {
    int on = lua_toboolean(L, 3);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, (const void *)&on, sizeof(on));
  }
  lua_pushinteger(L, (lua_Integer)fd);
  return 1;
}

/* testhelp.closefd(fd): closes a raw descriptor (a socket on Windows). */
static int closefd(lua_State *L) {
#ifdef _WIN32
  lua_pushboolean(L, closesocket(check_sock(L, 1)) == 0);
#else
  lua_pushboolean(L, close((int)luaL_checkinteger(L, 1)) == 0);
#endif
  return 1;
}

#ifdef _WIN32
static int dupfd(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "dup is not available on Windows");
  return 2;
}

static int pipefds(lua_State *L) {
  lua_pushnil(L);
  lua_pushliteral(L, "pipe is not available on Windows");
  return 2;
}

static int cloexec(lua_State *L) {
  DWORD flags = 0;
  lua_pushboolean(L, GetHandleInformation((HANDLE)check_sock(L, 1), &flags) &&
                         !(flags & HANDLE_FLAG_INHERIT));
  return 1;
}

static int isopen(lua_State *L) {
  int type = 0, len = sizeof(type);
  lua_pushboolean(L, getsockopt(check_sock(L, 1), SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0);
  return 1;
}
#else
/* fd2, err = testhelp.dup(fd) */
static int dupfd(lua_State *L) {
  int fd = dup((int)luaL_checkinteger(L, 1));
  if (fd < 0) {
    lua_pushnil(L);
    sock_error(L);
    return 2;
  }
  lua_pushinteger(L, fd);
  return 1;
}

/* r, w = testhelp.pipe() */
static int pipefds(lua_State *L) {
  int p[2];
  if (pipe(p) < 0) {
    lua_pushnil(L);
    sock_error(L);
    return 2;
  }
  lua_pushinteger(L, p[0]);
  lua_pushinteger(L, p[1]);
  return 2;
}

/* testhelp.cloexec(fd): is fd close-on-exec? */
static int cloexec(lua_State *L) {
  int flags = fcntl((int)luaL_checkinteger(L, 1), F_GETFD);
  lua_pushboolean(L, flags >= 0 && (flags & FD_CLOEXEC));
  return 1;
}

/* testhelp.isopen(fd): is fd an open descriptor? */
static int isopen(lua_State *L) {
  lua_pushboolean(L, fcntl((int)luaL_checkinteger(L, 1), F_GETFD) >= 0);
  return 1;
}
#endif

/* The allocator failalloc puts in front of the state's own. */
typedef struct failing_alloc {
  lua_Alloc f;
  void *ud;
  long countdown; /* allocations that succeed before one fails */
} failing_alloc;

static void *fail_after(void *ud, void *ptr, size_t osize, size_t nsize) {
  failing_alloc *a = (failing_alloc *)ud;
  int grows = nsize > 0 && (ptr == NULL || nsize > osize);
  if (grows && a->countdown-- <= 0) return NULL;
  return a->f(a->ud, ptr, osize, nsize);
}

static failing_alloc *installed(lua_State *L) {
  void *ud;
  return lua_getallocf(L, &ud) == fail_after ? (failing_alloc *)ud : NULL;
}

/* The state's own allocator again. */
static void restore(lua_State *L) {
  failing_alloc *a = installed(L);
  if (!a) return;
  lua_setallocf(L, a->f, a->ud);
  free(a);
}

/* From now on, n allocations succeed and the rest fail. The wrapper lives
** in C memory, as the state frees its own memory through it. */
static void install(lua_State *L, long n) {
  failing_alloc *a = installed(L);
  if (!a) {
    if (!(a = (failing_alloc *)malloc(sizeof(*a)))) luaL_error(L, "out of memory");
    a->f = lua_getallocf(L, &a->ud);
    lua_setallocf(L, fail_after, a);
  }
  a->countdown = n;
}

/* failalloc(n): n allocations succeed, the rest fail; failalloc(nil):
** the state's own allocator again. */
static int failalloc(lua_State *L) {
  if (lua_isnoneornil(L, 1))
    restore(L);
  else
    install(L, (long)luaL_checkinteger(L, 1));
  return 0;
}

/* failcall(n, f, ...) -> pcall(f, ...) with n allocations allowed. The
** allocator is swapped in C around the call: after a failed pcall, Lua
** code calling failalloc(nil) may itself need memory (a shrunk stack
** grows again) and die outside any pcall. The collector is stopped for
** the call (an emergency collection still runs, without finalizers): a
** finalizer of an earlier call run now would fail for want of memory and
** be lost, and what it owned would look leaked by the call under test. */
static int failcall(lua_State *L) {
  long n = (long)luaL_checkinteger(L, 1);
  int status;
  luaL_checkany(L, 2);
  lua_gc(L, LUA_GCSTOP);
  install(L, n);
  status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
  restore(L);
  lua_gc(L, LUA_GCRESTART);
  lua_pushboolean(L, status == LUA_OK);
  lua_replace(L, 1);
  return lua_gettop(L);
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define HAVE_MALLINFO2 1
#endif

#if defined(_WIN32) || !defined(HAVE_MALLINFO2)
/* What this system cannot count or send: nil and the reason, as a failure. */
static int unavailable(lua_State *L, const char *what, const char *where) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s is not available %s", what, where);
  return 2;
}
#endif

/* heap() -> bytes of the C heap in use (glibc's mallinfo2().uordblks, from
** glibc 2.33), for specs that check a call leaks nothing. */
static int heap(lua_State *L) {
#if defined(HAVE_MALLINFO2)
  struct mallinfo2 mi = mallinfo2();
  lua_pushinteger(L, (lua_Integer)mi.uordblks);
  return 1;
#elif defined(_WIN32)
  return unavailable(L, "heap (glibc's mallinfo2)", "on Windows");
#else
  return unavailable(L, "heap (glibc's mallinfo2)", "with this C library");
#endif
}

#ifdef _WIN32
/* Windows has no raw IPv6 socket that takes the header built here
** (IPV6_HDRINCL is refused). */
static int send_raw6(lua_State *L) {
  return unavailable(L, "send_raw6 (a raw IPv6 socket with its own header)", "on Windows");
}
#else
/* ---- send_raw6: an IPv6 UDP datagram built by hand ---- */

#define IP6_HDR 40
#define UDP_HDR 8
#define RAW6_MAX 65000 /* payload bound: the UDP length field has 16 bits */

static void put16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

/* One's complement sum of len bytes as big-endian 16-bit words. */
static uint32_t sum16(uint32_t sum, const unsigned char *p, size_t len) {
  size_t i;
  for (i = 0; i + 1 < len; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
  if (len & 1) sum += (uint32_t)p[len - 1] << 8;
  return sum;
}

/* RFC 8200 section 8.1: the pseudo-header (src, dst, UDP length, next
** header 17) and the UDP header and payload; 0 is sent as 0xffff. */
static unsigned udp6_checksum(const unsigned char *pkt, size_t udplen) {
  unsigned char tail[8] = {0};
  uint32_t sum = sum16(0, pkt + 8, 32); /* source and destination */
  tail[0] = (unsigned char)(udplen >> 24);
  tail[1] = (unsigned char)(udplen >> 16);
  tail[2] = (unsigned char)(udplen >> 8);
  tail[3] = (unsigned char)udplen;
  tail[7] = 17;
  sum = sum16(sum, tail, sizeof(tail));
  sum = sum16(sum, pkt + IP6_HDR, udplen);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  sum = ~sum & 0xffff;
  return sum ? sum : 0xffff;
}

static void check_ip6(lua_State *L, int arg, unsigned char *out) {
  const char *text = luaL_checkstring(L, arg);
  if (inet_pton(AF_INET6, text, out) != 1)
    luaL_argerror(L, arg, lua_pushfstring(L, "not an IPv6 address: '%s'", text));
}

static unsigned check_port(lua_State *L, int arg) {
  lua_Integer port = luaL_checkinteger(L, arg);
  luaL_argcheck(L, port >= 0 && port <= 65535, arg, "port out of range");
  return (unsigned)port;
}

static int fail_errno(lua_State *L, const char *what) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", what, strerror(errno));
  return 2;
}

/* Opens the raw socket (bound to device ifname when given) and sends the
** len bytes of pkt to dst; returns the count of values pushed. */
static int send_packet(lua_State *L, const char *ifname, const unsigned char *pkt,
                       size_t len, const unsigned char *dst) {
  struct sockaddr_in6 to;
  ssize_t sent;
  int fd = socket(AF_INET6, SOCK_RAW, IPPROTO_RAW); /* Linux: header included */
  if (fd < 0) return fail_errno(L, "socket");
  if (ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
                           (socklen_t)strlen(ifname)) < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return fail_errno(L, "SO_BINDTODEVICE");
  }
  memset(&to, 0, sizeof(to));
  to.sin6_family = AF_INET6;
  memcpy(&to.sin6_addr, dst, 16);
  sent = sendto(fd, pkt, len, 0, (const struct sockaddr *)&to, sizeof(to));
  if (sent < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return fail_errno(L, "sendto");
  }
  close(fd);
  lua_pushboolean(L, 1);
  return 1;
}

/* ok, err = testhelp.send_raw6(src, dst, sport, dport, payload[, ifname]):
** a UDP datagram from any source (an IPv4-mapped one too) over a raw
** socket. Needs root (CAP_NET_RAW). */
static int send_raw6(lua_State *L) {
  unsigned char src[16], dst[16], *pkt;
  unsigned sport = check_port(L, 3), dport = check_port(L, 4);
  size_t len, udplen;
  const char *payload = luaL_checklstring(L, 5, &len); /* anchored: argument 5 */
  const char *ifname = luaL_optstring(L, 6, NULL);
  check_ip6(L, 1, src);
  check_ip6(L, 2, dst);
  luaL_argcheck(L, len <= RAW6_MAX, 5, "payload too long");
  udplen = UDP_HDR + len;
  pkt = (unsigned char *)lua_newuserdatauv(L, IP6_HDR + udplen, 0);
  memset(pkt, 0, IP6_HDR + UDP_HDR);
  pkt[0] = 0x60;                     /* version 6, traffic class 0, no flow label */
  put16(pkt + 4, (unsigned)udplen);  /* payload length */
  pkt[6] = 17;                       /* next header: UDP */
  pkt[7] = 64;                       /* hop limit */
  memcpy(pkt + 8, src, 16);
  memcpy(pkt + 24, dst, 16);
  put16(pkt + IP6_HDR, sport);
  put16(pkt + IP6_HDR + 2, dport);
  put16(pkt + IP6_HDR + 4, (unsigned)udplen);
  memcpy(pkt + IP6_HDR + UDP_HDR, payload, len);
  put16(pkt + IP6_HDR + 6, udp6_checksum(pkt, udplen));
  return send_packet(L, ifname, pkt, IP6_HDR + udplen, dst);
}
#endif /* _WIN32 */

int luaopen_spec_testhelp(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, setint);
  lua_setfield(L, -2, "setint");
  lua_pushcfunction(L, getint);
  lua_setfield(L, -2, "getint");
  lua_pushcfunction(L, failalloc);
  lua_setfield(L, -2, "failalloc");
  lua_pushcfunction(L, failcall);
  lua_setfield(L, -2, "failcall");
  lua_pushcfunction(L, heap);
  lua_setfield(L, -2, "heap");
  lua_pushcfunction(L, send_raw6);
  lua_setfield(L, -2, "send_raw6");
  lua_pushcfunction(L, raw_socket);
  lua_setfield(L, -2, "socket");
  lua_pushcfunction(L, closefd);
  lua_setfield(L, -2, "closefd");
  lua_pushcfunction(L, dupfd);
  lua_setfield(L, -2, "dup");
  lua_pushcfunction(L, pipefds);
  lua_setfield(L, -2, "pipe");
  lua_pushcfunction(L, isopen);
  lua_setfield(L, -2, "isopen");
  lua_pushcfunction(L, cloexec);
  lua_setfield(L, -2, "cloexec");
#define CONSTANT(c) (lua_pushinteger(L, c), lua_setfield(L, -2, #c))
  CONSTANT(IPPROTO_IP);
  CONSTANT(IPPROTO_IPV6);
  CONSTANT(IP_RECVTTL);
  CONSTANT(IP_TOS);
  CONSTANT(IPV6_TCLASS);
  CONSTANT(IP_TTL);
  CONSTANT(IP_MULTICAST_TTL);
  CONSTANT(IP_MULTICAST_LOOP);
  CONSTANT(IPV6_UNICAST_HOPS);
  CONSTANT(IPV6_MULTICAST_HOPS);
  CONSTANT(IPV6_MULTICAST_LOOP);
  CONSTANT(IPV6_V6ONLY);
#ifdef _WIN32
  /* Windows turns the control messages on by options named after the
  ** messages, and has no IP_RECVORIGDSTADDR. */
  lua_pushinteger(L, IPV6_HOPLIMIT), lua_setfield(L, -2, "IPV6_RECVHOPLIMIT");
  lua_pushinteger(L, IPV6_PKTINFO), lua_setfield(L, -2, "IPV6_RECVPKTINFO");
#else
  CONSTANT(IPV6_RECVHOPLIMIT);
  CONSTANT(IPV6_RECVPKTINFO);
  CONSTANT(IP_RECVORIGDSTADDR);
#endif
#undef CONSTANT
  return 1;
}
