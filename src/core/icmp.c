/*
** ICMP sockets, no Lua: a datagram ICMP socket where the system lets this
** process have one (Linux's ping sockets, net.ipv4.ping_group_range), else
** a raw one (CAP_NET_RAW, administrators) filtered to echo replies and
** errors; and the IPv4 header a raw ICMPv4 socket receives before the
** ICMP message.
*/
#include "core.h"

/* A refusal for want of permission, not of support. */
int ds_icmp_denied(int err) {
  return err == EACCES || err == EPERM;
}

/* The system has no datagram ICMP socket (Windows, older kernels): raw is
** then the only way, as it is when permission is refused. */
static int dgram_unavailable(int err) {
  return ds_icmp_denied(err) || err == EPROTONOSUPPORT || err == EPROTOTYPE || err == EINVAL
#if defined(ESOCKTNOSUPPORT)
         || err == ESOCKTNOSUPPORT
#endif
      ;
}

static ds_fd make_raw(int af, int proto, int *err) {
  ds_fd fd = ds_sys_socket_proto(af, SOCK_RAW, proto);
  if (fd == DS_FD_NONE) {
    *err = ds_sys_error();
    return fd;
  }
  if ((*err = ds_sys_icmp_filter(fd, af)) == 0) return fd;
  ds_sys_close(fd);
  return DS_FD_NONE;
}

/* An ICMP (af AF_INET) or ICMPv6 socket: datagram first unless mode is
** DS_ICMP_RAW, raw when that is refused unless mode is DS_ICMP_DGRAM.
** Never dual: ICMP and ICMPv6 are different protocols, so no V6ONLY and
** no IPv4 arrival marker. *raw tells which it is; DS_FD_NONE with *err
** (the datagram socket's refusal when raw was not tried). */
ds_fd ds_make_icmp(int af, int mode, int *raw, int *err) {
  int proto = af == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  ds_fd fd = DS_FD_NONE;
  *raw = 0;
  *err = 0;
  if (mode != DS_ICMP_RAW) {
    if ((fd = ds_sys_socket_proto(af, SOCK_DGRAM, proto)) != DS_FD_NONE) return fd;
    *err = ds_sys_error();
    if (mode == DS_ICMP_DGRAM || !dgram_unavailable(*err)) return fd;
  }
  *raw = 1;
  return make_raw(af, proto, err);
}

/* The length of the IPv4 header at p[0..n) (a raw ICMPv4 socket's
** datagram), or -1 when it is no IPv4 header or longer than the packet:
** such a packet is dropped. */
long ds_icmp_ipv4_header(const unsigned char *p, size_t n) {
  size_t ihl;
  if (n < 20 || (p[0] >> 4) != 4) return -1;
  ihl = (size_t)(p[0] & 0x0f) * 4;
  return ihl < 20 || ihl > n ? -1 : (long)ihl;
}
