/* Adoption: a descriptor made elsewhere becomes a dualstack socket, as
** its constructor would have made it. One way for fromfd (socket.c) and for
** descriptors received over a local socket (unix.c). */
#include "ds.h"

/* The family of ours a descriptor's info says, or -1 when it is no socket
** dualstack makes: tcp, udp, unix (stream, dgram, seqpacket) or icmp (an
** ICMP or ICMPv6 socket, datagram or raw, never dual). */
int ds_fd_family(const ds_fdinfo *info) {
  if (info->af == AF_UNIX)
    return info->type == SOCK_STREAM || info->type == SOCK_DGRAM || info->type == SOCK_SEQPACKET
               ? DS_UNIX : -1;
  if (info->af != AF_INET && info->af != AF_INET6) return -1;
  if (!info->proto && info->type != SOCK_STREAM && info->type != SOCK_DGRAM) return -1;
  if (info->af == AF_INET) return DS_INET;
  return info->v6only || info->proto ? DS_INET6 : DS_DUAL;
}

/* Makes s own fd, a socket of family (ds_fd_family of info), as its
** constructor would have made it: type, ICMP protocol and raw, the
** receive options found on in either half turned on in both, set up as
** new (ds_adopt; shared: ds_adopt_shared, for a received descriptor whose
** O_NONBLOCK the sender's copy shares), recverr's FIFO when it has
** IP_RECVERR on. 0 with s owning fd; or the error of a set-up step, fd
** then the caller's with what was done before the failure; raises for
** want of memory, fd the caller's. */
int ds_adopt_socket(lua_State *L, ds_socket *s, ds_fd fd, const ds_fdinfo *info, int family,
                    int shared) {
  unsigned on = 0;
  int err;
  s->family = family;
  s->proto = info->proto;
  s->raw = info->proto && info->type == SOCK_RAW;
  s->type = info->proto ? SOCK_DGRAM : info->type; /* an ICMP socket is one of our datagram ones */
  s->bound = info->bound;
  if (family != DS_UNIX) {
    on = ds_read_recvopts(fd, family, s->type);
    /* The changes: receive options on in both halves, then as a new socket. */
    if ((err = ds_fill_recvopts(fd, family, s->type, on)) != 0) return err;
  }
  if ((err = shared ? ds_adopt_shared(fd, info) : ds_adopt(fd, info)) != 0) return err;
  s->recvopts = on;
  if (family != DS_INET && family != DS_UNIX && !s->proto && s->type == SOCK_DGRAM)
    s->recvopts |= DS_RECV_GUARD;
  if (family != DS_UNIX) ds_adopt_recverr(L, s, fd); /* recverr (issue 17): its FIFO too */
  s->fd = fd; /* owned from here: close and __gc close it */
  return 0;
}
