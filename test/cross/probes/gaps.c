/* Probes of the emulator's socket gaps, with no dualstack code in them: each
** makes the plain system call a spec relies on and prints one line,
**   gap NAME: what was seen      (the emulator does not do what Linux does)
**   ok NAME                      (it does)
** The cross runner (test/cross/run.sh) runs this under the same qemu as the
** suite and hands the gap names to the specs (DS_EMULATOR_GAPS), so a case
** is skipped only for a gap measured on this very run.
**   timestampns  setsockopt(SO_TIMESTAMPNS) refused
**   mcast_if4    setsockopt(IP_MULTICAST_IF, struct ip_mreqn) refused
**   mcast_if6    setsockopt(IPV6_MULTICAST_IF) refused
**   mcast_join   setsockopt(MCAST_JOIN_GROUP) refused (IPv4 and IPv6 groups)
**   cmsg_in      a received IP_PKTINFO/IPV6_PKTINFO ifindex is not the
**                interface's (its payload is copied without byte-swapping;
**                test/cross/qemu-pktinfo.patch mends it in CI's qemu)
**   cmsg_out     a sent IP_TTL of 64 is refused (EINVAL: the payload reaches
**                the kernel unswapped)
**   ctrunc       control data cut short by a small buffer is not flagged
**                MSG_CTRUNC (qemu gives the kernel a larger buffer of its
**                own and drops what does not fit into the target's)
**   origdstaddr  setsockopt(IP_RECVORIGDSTADDR) refused, or the IP_ORIGDSTADDR
**                a datagram brings is not 127.0.0.1 in a sockaddr_in: the
**                IPv4 arrival marker dualstack sets on every IPv6 datagram
**                socket, so no such socket can be made
**   so_error     getsockopt(SO_ERROR) after a refused non-blocking connect
**                is not ECONNREFUSED (qemu passes the host's errno number on
**                untranslated: mips' ECONNREFUSED is 146, the host's 111) */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

/* A control buffer aligned for its headers (mips traps on a misaligned one). */
union ctlbuf { char buf[256]; struct cmsghdr align; };

/* The errno's name; glibc's strerrorname_np gives NULL for one it lacks. */
static const char *errname(int e)
{
  const char *n = strerrorname_np(e);
  return n ? n : "?";
}

static void ok(const char *name)
{
  printf("ok %s\n", name);
}

static void refused(const char *name, int family, int level, int opt, const void *v, socklen_t len)
{
  int fd = socket(family, SOCK_DGRAM, 0);
  int r = setsockopt(fd, level, opt, v, len);
  int e = errno;
  close(fd);
  if (r == 0) ok(name);
  else printf("gap %s: setsockopt gives %s\n", name, errname(e));
}

/* SO_BINDTODEVICE both ways: qemu-user 7.2 sets it but cannot read it
** back (EINVAL). */
static void bindtodevice(void)
{
  char name[IF_NAMESIZE + 1];
  socklen_t len = sizeof(name);
  int fd = socket(AF_INET, SOCK_DGRAM, 0), e = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3) != 0) e = errno;
  else if (getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, &len) != 0) e = errno;
  close(fd);
  if (e == 0) ok("bindtodevice");
  else printf("gap bindtodevice: setsockopt or getsockopt gives %s\n", errname(e));
}

/* IP_MTU and IPV6_MTU read on an unconnected socket: the kernel says
** ENOTCONN; qemu-user 7.2 does not know the options (ENOPROTOOPT). */
static int ip_mtu_unconnected(int family)
{
  int mtu, fd = socket(family, SOCK_DGRAM, 0), e = 0;
  socklen_t len = sizeof(mtu);
  if (getsockopt(fd, family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
                 family == AF_INET ? IP_MTU : IPV6_MTU, &mtu, &len) != 0) e = errno;
  close(fd);
  return e;
}

/* Binds fd to loopback in its family, sends itself one byte and receives
** it with m, whose buffers the caller set: 1 when the byte came back. */
static int echo_self(int fd, int family, struct msghdr *m)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  memset(&ss, 0, sizeof(ss));
  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*a);
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof(*a);
  }
  return bind(fd, (struct sockaddr *)&ss, len) == 0 &&
         getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
         sendto(fd, "x", 1, 0, (struct sockaddr *)&ss, len) == 1 && recvmsg(fd, m, 0) == 1;
}

/* m receives into iov's one buffer, its control data into ctl. */
static void receive_into(struct msghdr *m, struct iovec *iov, void *ctl, size_t ctlsize)
{
  memset(m, 0, sizeof(*m));
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  m->msg_control = ctl;
  m->msg_controllen = ctlsize;
}

/* Sends one datagram to itself on loopback and returns the ifindex of its
** PKTINFO, or -1. */
static long pktinfo_ifindex(int family)
{
  int one = 1;
  char buf[16];
  union ctlbuf ctl;
  struct iovec iov = { buf, sizeof(buf) };
  struct msghdr m;
  struct cmsghdr *c;
  long idx = -1;
  int fd = socket(family, SOCK_DGRAM, 0);
  if (family == AF_INET) setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
  else setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
  receive_into(&m, &iov, ctl.buf, sizeof(ctl.buf));
  if (echo_self(fd, family, &m))
    for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        struct in_pktinfo pi;
        memcpy(&pi, CMSG_DATA(c), sizeof(pi));
        idx = pi.ipi_ifindex;
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        struct in6_pktinfo pi;
        memcpy(&pi, CMSG_DATA(c), sizeof(pi));
        idx = pi.ipi6_ifindex;
      }
    }
  close(fd);
  return idx;
}

/* sendmsg to itself with an IP_TTL of 64 in the control data: 0 or errno. */
static int send_ttl(void)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctl;
  struct iovec iov = { "x", 1 };
  struct msghdr m = { 0 };
  struct cmsghdr *c;
  int ttl = 64, e = 0;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  memset(&a, 0, sizeof(a));
  memset(&ctl, 0, sizeof(ctl));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  getsockname(fd, (struct sockaddr *)&a, &len);
  m.msg_name = &a;
  m.msg_namelen = len;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl.buf;
  m.msg_controllen = sizeof(ctl.buf);
  c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = IPPROTO_IP;
  c->cmsg_type = IP_TTL;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &ttl, sizeof(ttl));
  if (sendmsg(fd, &m, 0) < 0) e = errno;
  close(fd);
  return e;
}

/* IP_RECVORIGDSTADDR on a socket bound to 127.0.0.1, one datagram to
** itself: NULL when the option is taken and its message is right, else
** what was seen (in seen). */
static const char *origdstaddr(char *seen, size_t size)
{
  char data[4];
  union ctlbuf ctl;
  struct iovec iov = { data, sizeof(data) };
  struct msghdr m;
  struct cmsghdr *c;
  int one = 1, fd = socket(AF_INET, SOCK_DGRAM, 0);
  const char *r = "no IP_ORIGDSTADDR arrived";
  if (setsockopt(fd, IPPROTO_IP, IP_RECVORIGDSTADDR, &one, sizeof(one)) < 0) {
    snprintf(seen, size, "setsockopt(IP_RECVORIGDSTADDR) gives %s", errname(errno));
    close(fd);
    return seen;
  }
  receive_into(&m, &iov, ctl.buf, sizeof(ctl.buf));
  if (echo_self(fd, AF_INET, &m))
    for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_ORIGDSTADDR) {
        struct sockaddr_in d;
        memcpy(&d, CMSG_DATA(c), sizeof(d));
        r = NULL;
        if (d.sin_family != AF_INET || d.sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
          snprintf(seen, size, "IP_ORIGDSTADDR reads family %d, address %#x", d.sin_family,
                   (unsigned)ntohl(d.sin_addr.s_addr));
          r = seen;
        }
      }
  close(fd);
  return r;
}

/* IPV6_RECVPKTINFO and IPV6_RECVHOPLIMIT on, a control buffer with room
** for the first message only: MSG_CTRUNC must be set. 1 when it is not. */
static int ctrunc_missing(void)
{
  char data[4];
  union { char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))]; struct cmsghdr align; } ctl;
  struct iovec iov = { data, sizeof(data) };
  struct msghdr m;
  int one = 1, missing = 1, fd = socket(AF_INET6, SOCK_DGRAM, 0);
  setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
  setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one));
  receive_into(&m, &iov, ctl.buf, sizeof(ctl.buf));
  if (echo_self(fd, AF_INET6, &m))
    missing = !(m.msg_flags & MSG_CTRUNC);
  close(fd);
  return missing;
}

/* A non-blocking TCP connect to a port of 127.0.0.1 nobody listens on (one
** bound and closed just before): the SO_ERROR it leaves, or -1 when the
** connect did not go as a refused one goes. */
static int refused_so_error(void)
{
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  struct pollfd p;
  int err = -1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int closed = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(closed, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(closed, (struct sockaddr *)&a, &len) == 0) {
    close(closed);
    closed = -1;
    if (connect(fd, (struct sockaddr *)&a, len) < 0 && (errno == EINPROGRESS || errno == ECONNREFUSED)) {
      p.fd = fd;
      p.events = POLLOUT;
      len = sizeof(err);
      if (errno == ECONNREFUSED) err = ECONNREFUSED; /* refused at once: nothing to read back */
      else if (poll(&p, 1, 2000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = -1;
    }
  }
  if (closed >= 0) close(closed);
  close(fd);
  return err;
}

int main(void)
{
  char seen[128];
  const char *o;
  int one = 1, e;
  long lo = (long)if_nametoindex("lo"), i4, i6;
  struct ip_mreqn mr;
  struct group_req g4, g6;
  int idx = (int)lo;

  refused("timestampns", AF_INET, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
  bindtodevice();

  memset(&mr, 0, sizeof(mr));
  mr.imr_ifindex = idx;
  refused("mcast_if4", AF_INET, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr));
  refused("mcast_if6", AF_INET6, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof(idx));

  /* Both families must join for the case to be "ok". */
  memset(&g4, 0, sizeof(g4));
  memset(&g6, 0, sizeof(g6));
  g4.gr_interface = g6.gr_interface = (unsigned)idx;
  ((struct sockaddr_in *)&g4.gr_group)->sin_family = AF_INET;
  inet_pton(AF_INET, "239.255.0.1", &((struct sockaddr_in *)&g4.gr_group)->sin_addr);
  ((struct sockaddr_in6 *)&g6.gr_group)->sin6_family = AF_INET6;
  inet_pton(AF_INET6, "ff12::1", &((struct sockaddr_in6 *)&g6.gr_group)->sin6_addr);
  {
    int f4 = socket(AF_INET, SOCK_DGRAM, 0), f6 = socket(AF_INET6, SOCK_DGRAM, 0);
    int r4 = setsockopt(f4, IPPROTO_IP, MCAST_JOIN_GROUP, &g4, sizeof(g4));
    int e4 = errno;
    int r6 = setsockopt(f6, IPPROTO_IPV6, MCAST_JOIN_GROUP, &g6, sizeof(g6));
    int e6 = errno;
    close(f4);
    close(f6);
    if (r4 == 0 && r6 == 0) ok("mcast_join");
    else printf("gap mcast_join: IPv4 gives %s, IPv6 gives %s\n",
                r4 == 0 ? "0" : errname(e4), r6 == 0 ? "0" : errname(e6));
  }

  i4 = pktinfo_ifindex(AF_INET);
  i6 = pktinfo_ifindex(AF_INET6);
  if (i4 == lo && i6 == lo) ok("cmsg_in");
  else printf("gap cmsg_in: lo is %ld, IP_PKTINFO ifindex reads %ld, IPV6_PKTINFO %ld\n", lo, i4, i6);

  e = send_ttl();
  if (e == 0) ok("cmsg_out");
  else printf("gap cmsg_out: sendmsg with an IP_TTL of 64 gives %s\n", errname(e));

  if (ctrunc_missing()) printf("gap ctrunc: two control messages into room for one, no MSG_CTRUNC\n");
  else ok("ctrunc");

  o = origdstaddr(seen, sizeof(seen));
  if (o) printf("gap origdstaddr: %s\n", o);
  else ok("origdstaddr");

  {
    int m4 = ip_mtu_unconnected(AF_INET), m6 = ip_mtu_unconnected(AF_INET6);
    if (m4 == ENOTCONN && m6 == ENOTCONN) ok("ip_mtu");
    else printf("gap ip_mtu: an unconnected socket's IP_MTU gives %s, IPV6_MTU %s\n",
                m4 ? errname(m4) : "0", m6 ? errname(m6) : "0");
  }

  e = refused_so_error();
  if (e == ECONNREFUSED) ok("so_error");
  else printf("gap so_error: a refused connect's SO_ERROR reads %d, ECONNREFUSED is %d\n", e, ECONNREFUSED);
  return 0;
}
