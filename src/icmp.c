/*
** ICMP sockets (issue 17): core.icmp{family = "inet"|"inet6"[, raw = bool]}.
** The socket is a datagram socket of ours in every method (sendto,
** recvfrom, recvmsg and the receive options); what differs lives in the
** core (core/icmp.c: which socket, the raw IPv4 header) and in ds_resolve
** (no port needed) and recv.c (the header stripped).
*/
#include "ds.h"

/* What a caller is told when neither kind of ICMP socket is allowed:
** the two ways to get one, with this process's group. */
static int push_denied(lua_State *L) {
  return ds_push_failure(
      L,
      lua_pushfstring(L,
                      "ICMP sockets are not permitted: add a group of this process to "
                      "net.ipv4.ping_group_range (sysctl -w net.ipv4.ping_group_range='%d %d') "
                      "or run with CAP_NET_RAW for raw sockets",
                      (int)ds_sys_getegid(), (int)ds_sys_getegid()),
      "EACCES");
}

static int check_family(lua_State *L) {
  static const char *const names[] = {"inet", "inet6", NULL};
  const char *name = lua_getfield(L, 1, "family") == LUA_TSTRING ? lua_tostring(L, -1) : "";
  int i;
  for (i = 0; names[i]; i++)
    if (strcmp(name, names[i]) == 0) break;
  if (!names[i])
    luaL_argerror(L, 1, "family 'inet' or 'inet6' expected: ICMP and ICMPv6 are different protocols");
  lua_pop(L, 1);
  return i == 0 ? DS_INET : DS_INET6;
}

static int check_mode(lua_State *L) {
  int t = lua_getfield(L, 1, "raw"), mode;
  luaL_argcheck(L, t == LUA_TNIL || t == LUA_TBOOLEAN, 1, "boolean 'raw' field expected");
  mode = t == LUA_TNIL ? DS_ICMP_ANY : lua_toboolean(L, -1) ? DS_ICMP_RAW : DS_ICMP_DGRAM;
  lua_pop(L, 1);
  return mode;
}

/* The userdata comes first, then the socket (liolib's order). */
static int l_icmp(lua_State *L) {
  int family, mode, raw, err;
  ds_socket *s;
  luaL_checktype(L, 1, LUA_TTABLE);
  family = check_family(L);
  mode = check_mode(L);
  s = ds_new_socket(L, family, SOCK_DGRAM);
  s->proto = family == DS_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  s->fd = ds_make_icmp(family == DS_INET ? AF_INET : AF_INET6, mode, &raw, &err);
  if (s->fd == DS_FD_NONE) return ds_icmp_denied(err) ? push_denied(L) : ds_push_error(L, err);
  s->raw = raw;
  return 1;
}

void ds_open_icmp(lua_State *L) {
  lua_pushcfunction(L, l_icmp);
  lua_setfield(L, -2, "icmp");
}
