/*
** Multicast: group membership with the protocol-independent calls of RFC
** 3678 (MCAST_JOIN_GROUP and the source-specific forms), and the sending
** interface. An IPv4 group on a dual socket is joined at the IPv4 level,
** because its traffic arrives as IPv4.
*/
#include "ds.h"

#include <string.h>

static int is_multicast(const ds_ip *ip) {
  return ip->af == AF_INET ? (ip->bytes[0] & 0xf0) == 0xe0 : ip->bytes[0] == 0xff;
}

/* A group or source argument as a plain IPv4 or native IPv6 address. */
static void check_ip_arg(lua_State *L, int arg, ds_ip *ip) {
  size_t len;
  const char *text = luaL_checklstring(L, arg, &len);
  const char *why = ds_pton(text, len, ip);
  if (why) luaL_argerror(L, arg, lua_pushfstring(L, "%s: '%s'", why, text));
  ds_ip_unmap(ip);
}

static void to_storage(const ds_ip *ip, struct sockaddr_storage *ss) {
  ds_sockaddr sa;
  ds_ip_to_sockaddr(ip, 0, &sa);
  memset(ss, 0, sizeof(*ss));
  memcpy(ss, &sa.u, sa.len);
}

/* Can a socket of this family take part in traffic of ip's family? */
static int family_fits(const ds_socket *s, const ds_ip *ip) {
  if (ip->af == AF_INET) return s->family != DS_INET6;
  return s->family != DS_INET;
}

static int membership(lua_State *L, int join) {
  ds_socket *s = ds_check_open(L, 1);
  ds_ip group, source;
  unsigned iface;
  int level, opt, rc;
  ds_need_type(L, s, SOCK_DGRAM, 1, " for multicast");
  check_ip_arg(L, 2, &group);
  luaL_argcheck(L, is_multicast(&group), 2, "not a multicast group address");
  iface = lua_isnoneornil(L, 3) ? 0 : ds_check_ifindex(L, 3);
  if (!family_fits(s, &group))
    return ds_push_failure(L, group.af == AF_INET ? "IPv4 group on an inet6 (v6-only) socket"
                                                  : "IPv6 group on an inet socket",
                           "EAFNOSUPPORT");
  level = group.af == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
  if (lua_isnoneornil(L, 4)) {
    struct group_req gr;
    memset(&gr, 0, sizeof(gr));
    gr.gr_interface = iface;
    to_storage(&group, &gr.gr_group);
    opt = join ? MCAST_JOIN_GROUP : MCAST_LEAVE_GROUP;
    rc = ds_sys_setopt(s->fd, level, opt, &gr, sizeof(gr));
  } else {
    struct group_source_req gsr;
    check_ip_arg(L, 4, &source);
    luaL_argcheck(L, source.af == group.af, 4, "source and group families differ");
    memset(&gsr, 0, sizeof(gsr));
    gsr.gsr_interface = iface;
    to_storage(&group, &gsr.gsr_group);
    to_storage(&source, &gsr.gsr_source);
    opt = join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP;
    rc = ds_sys_setopt(s->fd, level, opt, &gsr, sizeof(gsr));
  }
  if (rc < 0) return ds_push_error(L, ds_sys_error());
  lua_pushinteger(L, 1);
  return 1;
}

static int sock_join(lua_State *L) { return membership(L, 1); }
static int sock_leave(lua_State *L) { return membership(L, 0); }

/* The multicast_if value: an index, an interface name, or one of the
** interface's addresses. Everything becomes an index. */
static unsigned check_mcast_if(lua_State *L) {
  ds_ip ip;
  size_t len;
  const char *text;
  unsigned idx;
  if (lua_type(L, 3) == LUA_TNUMBER) return ds_check_ifindex(L, 3);
  text = luaL_checklstring(L, 3, &len);
  if (ds_pton(text, len, &ip) != NULL) return ds_check_ifindex(L, 3);
  ds_ip_unmap(&ip);
  idx = ds_ifindex_of_addr(&ip);
  if (idx == 0) luaL_argerror(L, 3, lua_pushfstring(L, "no interface has address '%s'", text));
  return idx;
}

int ds_set_multicast_if(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  unsigned idx = check_mcast_if(L);
  int v6 = (int)idx, err;
  if (s->family != DS_INET &&
      ds_sys_setopt(s->fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &v6, sizeof(v6)) < 0)
    return ds_push_error(L, ds_sys_error());
  if (s->family != DS_INET6 && ds_sys_set_mcast_if4(s->fd, idx) < 0) {
    err = ds_sys_error(); /* none on a dual socket of a host with IPv4 disabled */
    if (s->family == DS_DUAL) err = ds_ipv4_option_error(err);
    if (err) return ds_push_error(L, err);
  }
  lua_pushinteger(L, 1);
  return 1;
}

/* Reads back the interface index (IPv6 half); an inet socket answers
** with the interface's IPv4 address, which is what its kernel keeps. */
int ds_get_multicast_if(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  if (s->family != DS_INET) {
    int idx = 0;
    socklen_t len = sizeof(idx);
    if (ds_sys_getopt(s->fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, &len) < 0)
      return ds_push_error(L, ds_sys_error());
    lua_pushinteger(L, idx);
  } else {
    ds_ip ip;
    socklen_t len = 4;
    char text[DS_ADDRSTRLEN];
    memset(&ip, 0, sizeof(ip));
    ip.af = AF_INET;
    if (ds_sys_getopt(s->fd, IPPROTO_IP, IP_MULTICAST_IF, ip.bytes, &len) < 0)
      return ds_push_error(L, ds_sys_error());
    lua_pushlstring(L, text, ds_ntop(&ip, text));
  }
  return 1;
}

static const luaL_Reg mcast_methods[] = {
  {"join", sock_join},
  {"leave", sock_leave},
  {NULL, NULL}};

void ds_open_mcast(lua_State *L) {
  ds_add_methods(L, mcast_methods, 0);
}
