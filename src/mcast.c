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

/* Joins (or leaves) group on interface iface (0: the system's choice),
** from source only when source is not NULL. Pushes the results. */
static int change_membership(lua_State *L, ds_socket *s, int join, const ds_ip *group,
                             unsigned iface, const ds_ip *source) {
  int level, opt, rc;
  if (!family_fits(s, group))
    return ds_push_failure(L, group->af == AF_INET ? "IPv4 group on an inet6 (v6-only) socket"
                                                   : "IPv6 group on an inet socket",
                           "EAFNOSUPPORT");
  level = group->af == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
  if (!source) {
    struct group_req gr;
    memset(&gr, 0, sizeof(gr));
    gr.gr_interface = iface;
    to_storage(group, &gr.gr_group);
    opt = join ? MCAST_JOIN_GROUP : MCAST_LEAVE_GROUP;
    rc = ds_sys_setopt(s->fd, level, opt, &gr, sizeof(gr));
  } else {
    struct group_source_req gsr;
    memset(&gsr, 0, sizeof(gsr));
    gsr.gsr_interface = iface;
    to_storage(group, &gsr.gsr_group);
    to_storage(source, &gsr.gsr_source);
    opt = join ? MCAST_JOIN_SOURCE_GROUP : MCAST_LEAVE_SOURCE_GROUP;
    rc = ds_sys_setopt(s->fd, level, opt, &gsr, sizeof(gsr));
  }
  if (rc < 0) return ds_push_error(L, ds_sys_error());
  lua_pushinteger(L, 1);
  return 1;
}

static int membership(lua_State *L, int join) {
  ds_socket *s = ds_check_open(L, 1);
  ds_ip group, source;
  unsigned iface;
  ds_need_type(L, s, SOCK_DGRAM, 1, " for multicast");
  check_ip_arg(L, 2, &group);
  luaL_argcheck(L, is_multicast(&group), 2, "not a multicast group address");
  iface = lua_isnoneornil(L, 3) ? 0 : ds_check_ifindex(L, 3);
  if (lua_isnoneornil(L, 4)) return change_membership(L, s, join, &group, iface, NULL);
  check_ip_arg(L, 4, &source);
  luaL_argcheck(L, source.af == group.af, 4, "source and group families differ");
  return change_membership(L, s, join, &group, iface, &source);
}

static int sock_join(lua_State *L) { return membership(L, 1); }
static int sock_leave(lua_State *L) { return membership(L, 0); }

static int is_unspecified(const ds_ip *ip) {
  static const unsigned char zero[16] = {0};
  return memcmp(ip->bytes, zero, ip->af == AF_INET ? 4 : 16) == 0;
}

/* Raises against argument arg: field (a table field's name and ": ", or
** "") names where in it the bad interface value is. */
static void bad_interface(lua_State *L, int arg, const char *field, const char *why) {
  luaL_argerror(L, arg, lua_pushfstring(L, "%s%s", field, why));
}

/* The interface value at idx: an index, an interface name, one of the
** interface's addresses, or "*", "0.0.0.0" or "::" (0: the system's
** choice, as LuaSocket's INADDR_ANY). Everything becomes an index. A bad
** one raises against argument arg, the one the user gave (idx may hold a
** field of it). The text is used before any allocation: anchored at idx. */
static unsigned check_interface(lua_State *L, int idx, int arg, const char *field) {
  ds_ip ip;
  size_t len;
  const char *text;
  unsigned index;
  int isint;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Integer v = lua_tointegerx(L, idx, &isint);
    if (!isint) bad_interface(L, arg, field, "number has no integer representation");
    if (v < 0 || v > 0xffffffffLL) bad_interface(L, arg, field, "interface index out of range");
    return (unsigned)v;
  }
  if (lua_type(L, idx) != LUA_TSTRING)
    bad_interface(L, arg, field, lua_pushfstring(L, "interface expected, got %s", luaL_typename(L, idx)));
  text = lua_tolstring(L, idx, &len);
  if (len == 1 && text[0] == '*') return 0;
  if (ds_pton(text, len, &ip) == NULL) {
    ds_ip_unmap(&ip);
    if (is_unspecified(&ip)) return 0;
    if ((index = ds_ifindex_of_addr(&ip)) == 0)
      bad_interface(L, arg, field, lua_pushfstring(L, "no interface has address '%s'", text));
    return index;
  }
  if (strlen(text) != len) bad_interface(L, arg, field, "text contains a NUL byte");
  if ((index = ds_sys_ifindex(text)) == 0)
    bad_interface(L, arg, field, lua_pushfstring(L, "unknown interface '%s'", text));
  return index;
}

/* setoption(name, {multiaddr = group, interface = iface}): LuaSocket's
** ip-add-membership (af AF_INET) and ipv6-add-membership (AF_INET6),
** and their drop forms. interface is as multicast_if's value; nil, "*"
** or the unspecified address let the system choose. The table's fields
** are copied (group, interface) before any call that may run Lua. */
int ds_membership_option(lua_State *L, int join, int af) {
  ds_socket *s = ds_check_open(L, 1);
  ds_ip group;
  size_t len;
  const char *text, *why;
  unsigned iface = 0;
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  luaL_argcheck(L, lua_getfield(L, 3, "multiaddr") == LUA_TSTRING, 3,
                "string 'multiaddr' field expected");
  text = lua_tolstring(L, 4, &len); /* anchored at 4 */
  if ((why = ds_pton(text, len, &group)) != NULL)
    luaL_argerror(L, 3, lua_pushfstring(L, "'multiaddr': %s: '%s'", why, text));
  ds_ip_unmap(&group);
  luaL_argcheck(L, group.af == af && is_multicast(&group), 3,
                af == AF_INET ? "'multiaddr' must be an IPv4 multicast group"
                              : "'multiaddr' must be an IPv6 multicast group");
  if (lua_getfield(L, 3, "interface") != LUA_TNIL) iface = check_interface(L, 5, 3, "'interface': ");
  return change_membership(L, s, join, &group, iface, NULL);
}

int ds_set_multicast_if(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  unsigned idx = check_interface(L, 3, 3, "");
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
