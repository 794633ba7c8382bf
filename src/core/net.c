/*
** Socket operations the bindings share, over the backend: a new socket
** set up as dualstack needs it, V6ONLY, the IPv4 arrival marker, whether
** IPv4 is there at all, a pending error, and an interface by address.
*/
#include "core.h"

int ds_set_v6only(ds_fd fd, int on) {
  return ds_sys_setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0 ? ds_sys_error() : 0;
}

/* A dual socket on a host with IPv4 disabled rejects IPv4-level options
** (EINVAL); the reference's test is whether an AF_INET socket can be made. */
int ds_ipv4_disabled(void) {
  ds_fd fd = ds_sys_socket(AF_INET, SOCK_DGRAM);
  if (fd != DS_FD_NONE) {
    ds_sys_close(fd);
    return 0;
  }
  return ds_sys_error() == EAFNOSUPPORT;
}

/* The error of an IPv4-level option that failed on a dual socket: 0 when
** the host has IPv4 disabled, which refuses such options and has no IPv4
** traffic for them to act on. Read before the probe, which makes a socket. */
int ds_ipv4_option_error(void) {
  int err = ds_sys_error();
  return ds_ipv4_disabled() ? 0 : err;
}

/* Turns the IPv4 arrival marker (DS_IP_GUARD_OPT) on or off: 0, or the
** error. */
int ds_guard_ipv4(ds_fd fd, int on) {
#if defined(DS_IP_GUARD_OPT)
  if (ds_sys_setopt(fd, IPPROTO_IP, DS_IP_GUARD_OPT, &on, sizeof(on)) < 0)
    return ds_ipv4_option_error();
#else
  (void)fd;
  (void)on;
#endif
  return 0;
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
  if (*err == 0 && af == AF_INET6 && type == SOCK_DGRAM) *err = ds_guard_ipv4(fd, 1);
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
      idx = ifa.index;
  }
  ds_sys_ifaddrs_close(all);
  return idx;
}
