/*
** Socket operations the bindings share, over the backend, no Lua: family
** probes (can this host make a socket of a family, and can an IPv6 socket
** take IPv4 too?), a new socket set up as dualstack needs it, V6ONLY, the
** IPv4 arrival marker, a pending error, and an interface by address.
*/
#include "core.h"

int ds_set_v6only(ds_fd fd, int on) {
  return ds_sys_setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0 ? ds_sys_error() : 0;
}

/* Only errors that mean the family is not there answer "absent"; others
** (out of descriptors or memory) are DS_PROBE_ERROR with *err. */
int ds_probe(int af, int dual, int *err) {
  int r = DS_PROBE_PRESENT;
  ds_fd fd = ds_sys_socket(af, SOCK_DGRAM);
  if (fd == DS_FD_NONE) {
    *err = ds_sys_error();
    return (*err == EAFNOSUPPORT || *err == EPROTONOSUPPORT) ? DS_PROBE_ABSENT : DS_PROBE_ERROR;
  }
  /* On a fresh socket of ours, a refusal is the stack saying it has no
  ** dual-stack mode (OpenBSD, IPv4 disabled). */
  if (dual && ds_set_v6only(fd, 0) != 0) r = DS_PROBE_ABSENT;
  ds_sys_close(fd);
  return r;
}

/* err, from an IPv4-level option that failed on a dual socket, or 0 when
** the host has IPv4 disabled: it refuses such options (EINVAL) and has no
** IPv4 traffic for them to act on. The reference's test is whether an
** AF_INET socket can be made. */
int ds_ipv4_option_error(int err) {
  int probe_err = 0;
  return ds_probe(AF_INET, 0, &probe_err) == DS_PROBE_ABSENT ? 0 : err;
}

/* Turns the IPv4 arrival marker (DS_IP_GUARD_OPT) on or off: 0, or the
** error. */
int ds_guard_ipv4(ds_fd fd, int on) {
#if defined(DS_IP_GUARD_OPT)
  if (ds_sys_setopt(fd, IPPROTO_IP, DS_IP_GUARD_OPT, &on, sizeof(on)) < 0)
    return ds_ipv4_option_error(ds_sys_error());
#else
  (void)fd;
  (void)on;
#endif
  return 0;
}

/* What every socket of ours that receives datagrams over IPv6 gets before
** it can receive anything: the IPv4 arrival marker. */
static int setup_receive(ds_fd fd, int af, int type) {
  return af == AF_INET6 && type == SOCK_DGRAM ? ds_guard_ipv4(fd, 1) : 0;
}

/* A new socket of af and type, close-on-exec and without SIGPIPE. An IPv6
** one gets V6ONLY set to v6only, never the system's default (bindv6only,
** BSD, Windows), and a datagram one the IPv4 arrival marker before it can
** receive anything, whatever v6only becomes later. DS_FD_NONE with *err
** when any of it fails. */
ds_fd ds_make_socket(int af, int type, int v6only, int *err) {
  ds_fd fd = ds_sys_socket(af, type);
  if (fd == DS_FD_NONE) {
    *err = ds_sys_error();
    return fd;
  }
  *err = 0;
  if (af == AF_INET6) *err = ds_set_v6only(fd, v6only);
  if (*err == 0) *err = setup_receive(fd, af, type);
  if (*err == 0) return fd;
  ds_sys_close(fd);
  return DS_FD_NONE;
}

/* The outcome of a connect that was in progress: SO_ERROR's value. */
int ds_pending_error(ds_fd fd) {
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  if (ds_sys_getopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) return ds_sys_error();
  return soerr;
}

/* The ICMP protocol of an IP socket of af and type (ds_fdinfo's proto),
** or 0: another protocol, or a system that cannot tell (no SO_PROTOCOL). */
static int icmp_proto(ds_fd fd, int af, int type) {
  int proto = 0, want = af == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
#if defined(DS_HAVE_SO_PROTOCOL)
  socklen_t len = sizeof(proto);
  if ((type != SOCK_DGRAM && type != SOCK_RAW) ||
      ds_sys_getopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
    proto = 0;
#else
  (void)fd;
  (void)type;
#endif
  return proto == want ? want : 0;
}

/* Reads what fd is: 0, or ENOTSOCK (or EBADF) for what is no socket, and
** EAFNOSUPPORT for a socket of another family (AF_UNIX). Changes nothing. */
int ds_inspect(ds_fd fd, ds_fdinfo *info) {
  ds_sockaddr sa;
  socklen_t len = sizeof(info->type);
  int port;
  ds_ip ip;
  memset(info, 0, sizeof(*info));
  if (ds_sys_getopt(fd, SOL_SOCKET, SO_TYPE, &info->type, &len) < 0) return ds_sys_error();
  memset(&sa, 0, sizeof(sa)); /* a system that writes no family leaves AF_UNSPEC: refused */
  sa.len = sizeof(sa.u);
  if (ds_sys_sockname(fd, &sa.u.sa, &sa.len) < 0) return ds_sys_error();
  if (sa.u.sa.sa_family == AF_UNIX) { /* local sockets: bound when named or connected */
    char name[DS_UNIX_PATH_MAX + 2];
    info->af = AF_UNIX;
    port = (int)ds_sockaddr_to_unix(&sa, name);
    sa.len = sizeof(sa.u);
    info->bound = port != 0 || ds_sys_peername(fd, &sa.u.sa, &sa.len) == 0;
    return 0;
  }
  if ((port = ds_sockaddr_to_ip(&sa.u.sa, &ip)) < 0) return EAFNOSUPPORT;
  info->af = sa.u.sa.sa_family;
  info->proto = icmp_proto(fd, info->af, info->type);
  if (info->af == AF_INET6) {
    len = sizeof(info->v6only);
    if (ds_sys_getopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &info->v6only, &len) < 0)
      return ds_sys_error();
    info->v6only = info->v6only != 0;
  }
  sa.len = sizeof(sa.u);
  info->bound = port != 0 || ds_sys_peername(fd, &sa.u.sa, &sa.len) == 0;
  return 0;
}

/* Sets fd up as a socket of ours is (ds_make_socket), and blocking, as a
** new socket object expects (its timeout is none): 0, or the error. The
** call most likely to fail (an IPv4-level option) goes first; what was
** done before a failure stays done (the marker on, close-on-exec). */
int ds_adopt(ds_fd fd, const ds_fdinfo *info) {
  int err = ds_adopt_shared(fd, info);
  return err ? err : ds_sys_set_nonblocking(fd, 0);
}

/* Descriptor passing: a descriptor received from another process set up
** as ds_adopt does, except that O_NONBLOCK stays as found, since the
** sender's copy shares it (a blocking call then waits in poll). */
int ds_adopt_shared(ds_fd fd, const ds_fdinfo *info) {
  int err = info->proto ? 0 : setup_receive(fd, info->af, info->type); /* ICMP: as ds_make_icmp */
  return err ? err : ds_sys_adopt(fd);
}

/* The index of the interface that has address ip, or 0. */
unsigned ds_ifindex_of_addr(const ds_ip *ip) {
  ds_ifaddrs *all;
  ds_ifaddr ifa;
  unsigned idx = 0;
  if (ds_sys_ifaddrs_open(&all) != 0) return 0;
  while (!idx && ds_sys_ifaddrs_next(all, &ifa)) {
    ds_ip have;
    if (ifa.addr && ds_sockaddr_to_ip(ifa.addr, &have) >= 0 && have.af == ip->af &&
        memcmp(have.bytes, ip->bytes, ip->af == AF_INET ? 4 : 16) == 0)
      idx = ds_sys_ifindex(ifa.name);
  }
  ds_sys_ifaddrs_close(all);
  return idx;
}
