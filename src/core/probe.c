/*
** Family probes, no Lua: can this host make a socket of a family, and can
** an IPv6 socket take IPv4 too (V6ONLY off)? The bindings (src/addr.c)
** turn the answer into Lua values.
*/
#include "core.h"

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
