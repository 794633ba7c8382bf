/*
** Interfaces: names and indexes, and the list of interfaces with their
** addresses (the backend's). Multicast and scoped addresses name
** interfaces either way, so ds_check_ifindex accepts both.
*/
#include "ds.h"

#include <string.h>

/* An interface argument: a name or an index. Unknown names raise. */
unsigned ds_check_ifindex(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer idx = luaL_checkinteger(L, arg);
    luaL_argcheck(L, idx >= 0 && idx <= 0xffffffffLL, arg, "interface index out of range");
    return (unsigned)idx;
  } else {
    const char *name = ds_check_text(L, arg, NULL);
    unsigned idx = ds_sys_ifindex(name);
    if (idx == 0) luaL_argerror(L, arg, lua_pushfstring(L, "unknown interface '%s'", name));
    return idx;
  }
}

static int l_ifindex(lua_State *L) {
  const char *name = ds_check_text(L, 1, NULL);
  unsigned idx = ds_sys_ifindex(name);
  if (idx == 0) return ds_push_failure(L, "no such interface", "ENXIO");
  lua_pushinteger(L, idx);
  return 1;
}

static int l_ifname(lua_State *L) {
  lua_Integer idx = luaL_checkinteger(L, 1);
  char name[IF_NAMESIZE];
  if (idx <= 0 || idx > 0xffffffffLL || ds_sys_ifname((unsigned)idx, name) < 0)
    return ds_push_failure(L, "no such interface", "ENXIO");
  lua_pushstring(L, name);
  return 1;
}

static const char *scope_name(const ds_ip *ip) {
  const unsigned char *b = ip->bytes;
  if (ip->af == AF_INET) return b[0] == 127 ? "host" : (b[0] == 169 && b[1] == 254) ? "link" : "global";
  if (memcmp(b, &in6addr_loopback, 16) == 0) return "host";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "site";
  return "global";
}

static void push_flags(lua_State *L, unsigned flags) {
  static const struct { unsigned flag; const char *name; } names[] = {
    {DS_IF_UP, "up"}, {DS_IF_RUNNING, "running"}, {DS_IF_LOOPBACK, "loopback"},
    {DS_IF_MULTICAST, "multicast"}, {DS_IF_BROADCAST, "broadcast"},
    {DS_IF_POINTOPOINT, "pointopoint"}};
  size_t i;
  lua_createtable(L, 0, 6);
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    lua_pushboolean(L, (flags & names[i].flag) != 0);
    lua_setfield(L, -2, names[i].name);
  }
}

static void push_addr(lua_State *L, const ds_ip *ip, int prefixlen) {
  char text[DS_ADDRSTRLEN];
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, text, ds_ntop(ip, text));
  lua_setfield(L, -2, "addr");
  lua_pushstring(L, ip->af == AF_INET ? "inet" : "inet6");
  lua_setfield(L, -2, "family");
  lua_pushinteger(L, prefixlen);
  lua_setfield(L, -2, "prefixlen");
  lua_pushstring(L, scope_name(ip));
  lua_setfield(L, -2, "scope");
}

/* Pushes the entry for ifa's interface from byname (at index byname),
** creating it and appending it to list (at index list) the first time. */
static void interface_entry(lua_State *L, int list, int byname, const ds_ifaddr *ifa) {
  if (lua_getfield(L, byname, ifa->name) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, ifa->name);
  lua_setfield(L, -2, "name");
  lua_pushinteger(L, ds_sys_ifindex(ifa->name));
  lua_setfield(L, -2, "index");
  push_flags(L, ifa->flags);
  lua_setfield(L, -2, "flags");
  lua_newtable(L);
  lua_setfield(L, -2, "addrs");
  lua_pushvalue(L, -1);
  lua_setfield(L, byname, ifa->name);
  lua_pushvalue(L, -1);
  lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
}

static void release_ifaddrs(void *p) {
  ds_sys_ifaddrs_close((ds_ifaddrs *)p);
}

/* ds.interfaces() -> {{name, index, flags, addrs = {{addr, family, prefixlen, scope}}}} */
static int l_interfaces(lua_State *L) {
  ds_box *box = ds_new_box(L, release_ifaddrs); /* stays on the stack below the lists */
  ds_ifaddrs *all;
  ds_ifaddr ifa;
  int list, byname, err;
  if ((err = ds_sys_ifaddrs_open(&all)) != 0) return ds_push_error(L, err);
  box->p = all;
  lua_newtable(L);
  list = lua_gettop(L);
  lua_newtable(L);
  byname = lua_gettop(L);
  while (ds_sys_ifaddrs_next(all, &ifa)) {
    ds_ip ip;
    interface_entry(L, list, byname, &ifa);
    if (ifa.addr && ds_sockaddr_to_ip(ifa.addr, &ip) >= 0) {
      lua_getfield(L, -1, "addrs");
      push_addr(L, &ip, ifa.prefixlen);
      lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  ds_box_release(box);
  lua_settop(L, list);
  return 1;
}

static const luaL_Reg iface_funcs[] = {
  {"ifindex", l_ifindex},
  {"ifname", l_ifname},
  {"interfaces", l_interfaces},
  {NULL, NULL}};

void ds_open_iface(lua_State *L) {
  luaL_setfuncs(L, iface_funcs, 0);
}
