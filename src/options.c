/*
** Socket options by name. Each name maps to an IPv4 option, an IPv6 option
** or both: a dual socket sets both halves (the IPv4 half governs its mapped
** traffic), an inet or inet6 socket only its own. Socket-level options name
** the same pair twice and are set once.
*/
#include "ds.h"

#include <string.h>

/* OPT_SIZE: bytes (0 up); OPT_HOPS: -1 (the default) to 255; OPT_BYTE: 0-255. */
enum ds_optkind { OPT_BOOL, OPT_SIZE, OPT_HOPS, OPT_BYTE, OPT_LINGER };

typedef struct ds_optdef {
  const char *name;
  int kind;       /* enum ds_optkind */
  int socktype;   /* 0: any; else the only type it applies to */
  int level4, name4; /* IPv4 (or socket-level) option; level4 < 0: none */
  int level6, name6; /* IPv6 (or socket-level) option; level6 < 0: none */
  unsigned recvflag; /* DS_RECV_* bit this option turns on */
} ds_optdef;

#define NONE -1, 0
#define SOCKET_LEVEL(opt) SOL_SOCKET, opt, SOL_SOCKET, opt

static const ds_optdef optdefs[] = {
  {"v6only", OPT_BOOL, 0, NONE, IPPROTO_IPV6, IPV6_V6ONLY, 0},
  {"reuseaddr", OPT_BOOL, 0, SOCKET_LEVEL(SO_REUSEADDR), 0},
#if defined(DS_HAVE_REUSEPORT)
  {"reuseport", OPT_BOOL, 0, SOCKET_LEVEL(SO_REUSEPORT), 0},
#endif
  {"broadcast", OPT_BOOL, SOCK_DGRAM, SOCKET_LEVEL(SO_BROADCAST), 0},
  {"rcvbuf", OPT_SIZE, 0, SOCKET_LEVEL(SO_RCVBUF), 0},
  {"sndbuf", OPT_SIZE, 0, SOCKET_LEVEL(SO_SNDBUF), 0},
  {"keepalive", OPT_BOOL, SOCK_STREAM, SOCKET_LEVEL(SO_KEEPALIVE), 0},
  {"linger", OPT_LINGER, SOCK_STREAM, SOCKET_LEVEL(SO_LINGER), 0},
  {"nodelay", OPT_BOOL, SOCK_STREAM, IPPROTO_TCP, TCP_NODELAY, IPPROTO_TCP, TCP_NODELAY, 0},
  {"dontroute", OPT_BOOL, 0, SOCKET_LEVEL(SO_DONTROUTE), 0},
  {"keepidle", OPT_SIZE, SOCK_STREAM, IPPROTO_TCP, DS_TCP_KEEPIDLE, IPPROTO_TCP, DS_TCP_KEEPIDLE, 0},
  {"keepcnt", OPT_SIZE, SOCK_STREAM, IPPROTO_TCP, DS_TCP_KEEPCNT, IPPROTO_TCP, DS_TCP_KEEPCNT, 0},
  {"keepintvl", OPT_SIZE, SOCK_STREAM, IPPROTO_TCP, DS_TCP_KEEPINTVL,
   IPPROTO_TCP, DS_TCP_KEEPINTVL, 0},
  {"hoplimit", OPT_HOPS, 0, IPPROTO_IP, IP_TTL, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 0},
  {"tclass", OPT_BYTE, 0, IPPROTO_IP, IP_TOS, IPPROTO_IPV6, IPV6_TCLASS, 0},
  {"pktinfo", OPT_BOOL, SOCK_DGRAM, IPPROTO_IP, DS_IP_RECV_DSTOPT,
   IPPROTO_IPV6, DS_IPV6_RECV_PKTINFO, DS_RECV_PKTINFO},
  {"recvhoplimit", OPT_BOOL, SOCK_DGRAM, IPPROTO_IP, IP_RECVTTL,
   IPPROTO_IPV6, DS_IPV6_RECV_HOPLIMIT, DS_RECV_HOPLIMIT},
  {"recvtclass", OPT_BOOL, SOCK_DGRAM, IPPROTO_IP, IP_RECVTOS,
   IPPROTO_IPV6, IPV6_RECVTCLASS, DS_RECV_TCLASS},
#if defined(DS_TIMESTAMP_OPT)
  {"timestamp", OPT_BOOL, SOCK_DGRAM, SOCKET_LEVEL(DS_TIMESTAMP_OPT), DS_RECV_TIMESTAMP},
#endif
  {"multicast_loop", OPT_BOOL, SOCK_DGRAM, IPPROTO_IP, IP_MULTICAST_LOOP,
   IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0},
  {"multicast_hops", OPT_HOPS, SOCK_DGRAM, IPPROTO_IP, IP_MULTICAST_TTL,
   IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 0},
#if defined(DS_HAVE_UDP_GSO)
  {"gro", OPT_BOOL, SOCK_DGRAM, SOL_UDP, UDP_GRO, SOL_UDP, UDP_GRO, DS_RECV_GRO},
#endif
  {NULL, 0, 0, NONE, NONE, 0}};

/* recvmsg's control buffer in bytes, at least what the enabled options
** need (0: just that). Room for messages enabled outside dualstack (an
** inherited descriptor). */
static int set_cmsgspace(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  lua_Integer v = luaL_checkinteger(L, 3);
  luaL_argcheck(L, v >= 0 && v <= DS_CMSG_MAX, 3, "cmsgspace out of range");
  s->cmsgspace = (size_t)v;
  lua_pushinteger(L, 1);
  return 1;
}

static int get_cmsgspace(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ds_check_open(L, 1)->cmsgspace);
  return 1;
}

/* The longest line receive("*l") returns, in bytes (0: no limit), so a
** server bounds what a peer's endless line costs. */
static int set_maxline(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  lua_Integer v = luaL_checkinteger(L, 3);
  luaL_argcheck(L, v >= 0 && (lua_Unsigned)v <= SIZE_MAX, 3, "maxline out of range");
  s->maxline = (size_t)v;
  lua_pushinteger(L, 1);
  return 1;
}

static int get_maxline(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)ds_check_open(L, 1)->maxline);
  return 1;
}

/* The error a socket holds (SO_ERROR: a background connect's outcome),
** which reading clears: its message and code, or nil when there is none.
** LuaSocket's test_socket_error.lua reads it after a refused connect. */
static int get_error(lua_State *L) {
  int err = ds_pending_error(ds_check_open(L, 1)->fd);
  if (err == 0) {
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, ds_errmessage(err));
  ds_push_errname(L, err);
  return 2;
}

/* The interface argument 3 names: an interface name, an index, or "", 0
** or false for none (index 0, name ""). 0, or ENODEV for one that does
** not exist. Raises for a value that cannot name one. */
static int check_device(lua_State *L, unsigned *index, char name[IF_NAMESIZE]) {
  *index = 0;
  name[0] = '\0';
  if (lua_isboolean(L, 3) && !lua_toboolean(L, 3)) return 0;
  if (lua_type(L, 3) == LUA_TNUMBER) {
    lua_Integer v = luaL_checkinteger(L, 3);
    luaL_argcheck(L, v >= 0 && v <= 0xffffffffLL, 3, "interface index out of range");
    if (v == 0) return 0;
    if (ds_sys_ifname((unsigned)v, name) < 0) return ENODEV;
    *index = (unsigned)v;
  } else {
    size_t len;
    const char *text = luaL_checklstring(L, 3, &len);
    luaL_argcheck(L, len < IF_NAMESIZE && strlen(text) == len, 3, "not an interface name");
    if (len == 0) return 0;
    memcpy(name, text, len + 1);
    if ((*index = ds_sys_ifindex(name)) == 0) return ENODEV;
  }
  return 0;
}

/* The address family the backend's device options are set for. */
static int device_af(const ds_socket *s) {
  return s->family == DS_INET ? AF_INET : AF_INET6;
}

/* device (LuaSocket's bindtodevice): traffic only through one interface
** (Linux SO_BINDTODEVICE; Windows: sends only), by name or index; none
** again for "", 0 or false. ENOPROTOOPT where the system has no way. */
static int set_device(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  char name[IF_NAMESIZE];
  unsigned index;
  int err = check_device(L, &index, name);
  if (err) return ds_push_error(L, err);
  if (ds_sys_bind_device(s->fd, device_af(s), index, name) < 0) {
    err = ds_sys_error();
    /* Linux (5.7 on) lets anyone bind an unbound socket, once. */
    if (err == EPERM)
      return ds_push_failure(L, "changing or removing a device binding needs CAP_NET_RAW "
                                "(binding at all does before Linux 5.7)", "EPERM");
    return ds_push_error(L, err);
  }
  lua_pushinteger(L, 1);
  return 1;
}

/* The name of the interface the socket is bound to, "" for none. */
static int get_device(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  char name[IF_NAMESIZE];
  if (ds_sys_get_device(s->fd, device_af(s), name) < 0) return ds_push_error(L, ds_sys_error());
  lua_pushstring(L, name);
  return 1;
}

/* Path MTU options, defined below (they set optdef-like halves). */
static int set_mtu_discover(lua_State *L);
static int get_mtu_discover(lua_State *L);
static int set_dontfrag(lua_State *L);
static int get_dontfrag(lua_State *L);
static int get_mtu(lua_State *L);

/* LuaSocket's membership options, {multiaddr = group, interface = ...}:
** joined and left by mcast.c, as join and leave are. */
static int set_ip_add(lua_State *L) { return ds_membership_option(L, 1, AF_INET); }
static int set_ip_drop(lua_State *L) { return ds_membership_option(L, 0, AF_INET); }
static int set_ip6_add(lua_State *L) { return ds_membership_option(L, 1, AF_INET6); }
static int set_ip6_drop(lua_State *L) { return ds_membership_option(L, 0, AF_INET6); }

/* Options whose value is not one setsockopt argument for both halves. */
typedef struct ds_optfn {
  const char *name;
  int socktype;
  lua_CFunction set, get;
} ds_optfn;

static const ds_optfn optfns[] = {
  {"cmsgspace", SOCK_DGRAM, set_cmsgspace, get_cmsgspace},
  {"maxline", SOCK_STREAM, set_maxline, get_maxline},
  {"multicast_if", SOCK_DGRAM, ds_set_multicast_if, ds_get_multicast_if},
  {"error", 0, NULL, get_error},
  {"device", 0, set_device, get_device},
  {"mtu_discover", 0, set_mtu_discover, get_mtu_discover},
  {"dontfrag", 0, set_dontfrag, get_dontfrag},
  {"mtu", 0, NULL, get_mtu},
  {"recverr", SOCK_DGRAM, ds_set_recverr, ds_get_recverr}, /* errq.c (issue 17) */
  {"ip-add-membership", SOCK_DGRAM, set_ip_add, NULL},
  {"ip-drop-membership", SOCK_DGRAM, set_ip_drop, NULL},
  {"ipv6-add-membership", SOCK_DGRAM, set_ip6_add, NULL},
  {"ipv6-drop-membership", SOCK_DGRAM, set_ip6_drop, NULL},
  {NULL, 0, NULL, NULL}};

/* LuaSocket's option names, each the dualstack option that reaches the
** same kernel option. Looked up first, so both names share one value
** check, and on a dual socket an option with two halves sets both. */
static const struct ds_optalias {
  const char *luasocket, *dualstack;
} aliases[] = {
  {"tcp-nodelay", "nodelay"},
  {"tcp-keepidle", "keepidle"},
  {"tcp-keepcnt", "keepcnt"},
  {"tcp-keepintvl", "keepintvl"},
  {"ipv6-v6only", "v6only"},
  {"recv-buffer-size", "rcvbuf"},
  {"send-buffer-size", "sndbuf"},
  {"ip-multicast-ttl", "multicast_hops"},
  {"ipv6-multicast-hops", "multicast_hops"},
  {"ipv6-unicast-hops", "hoplimit"},
  {"ip-multicast-loop", "multicast_loop"},
  {"ipv6-multicast-loop", "multicast_loop"},
  {"ip-multicast-if", "multicast_if"},
  {"bindtodevice", "device"},
  {NULL, NULL}};

/* The dualstack name of option name (itself when it has no alias). */
static const char *canonical(const char *name) {
  const struct ds_optalias *a;
  for (a = aliases; a->luasocket; a++)
    if (strcmp(a->luasocket, name) == 0) return a->dualstack;
  return name;
}

static void check_socktype(lua_State *L, const ds_socket *s, const char *name, int socktype) {
  if (socktype && socktype != s->type)
    ds_need_type(L, s, socktype, 2, lua_pushfstring(L, " for option '%s'", name));
}

static const ds_optfn *find_optfn(lua_State *L, const ds_socket *s) {
  const char *name = luaL_checkstring(L, 2), *want = canonical(name);
  const ds_optfn *f;
  for (f = optfns; f->name; f++)
    if (strcmp(f->name, want) == 0) {
      check_socktype(L, s, name, f->socktype);
      return f;
    }
  return NULL;
}

static const ds_optdef *check_optdef(lua_State *L, ds_socket *s) {
  const char *name = luaL_checkstring(L, 2), *want = canonical(name);
  const ds_optdef *d;
  for (d = optdefs; d->name; d++)
    if (strcmp(d->name, want) == 0) break;
  if (!d->name) luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s'", name));
  check_socktype(L, s, name, d->socktype);
  return d;
}

/* Do both halves name one option (socket level, TCP level, UDP level)?
** Then a dual socket sets it once. */
static int same_halves(const ds_optdef *d) {
  return d->level4 == d->level6 && d->name4 == d->name6;
}

/* The (level, name) pairs a socket of family uses for d: n of them (0:
** none applies), the IPv6 one first. Raises nothing. */
static int option_halves(int family, const ds_optdef *d, int lv[2], int nm[2]) {
  int n = 0;
  int want6 = family != DS_INET && d->level6 >= 0;
  int want4 = (family != DS_INET6 || same_halves(d)) && d->level4 >= 0;
  if (want6) { lv[n] = d->level6; nm[n++] = d->name6; }
  if (want4 && !(want6 && same_halves(d))) { lv[n] = d->level4; nm[n++] = d->name4; }
  return n;
}

/* option_halves for s, raising when d does not apply to it. */
static int halves(lua_State *L, const ds_socket *s, const ds_optdef *d, int lv[2], int nm[2]) {
  int n;
  /* local sockets: only the socket-level options apply */
  if (s->family == DS_UNIX && d->level6 != SOL_SOCKET && d->level4 != SOL_SOCKET)
    luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' does not apply to a unix socket", d->name));
  n = option_halves(s->family, d, lv, nm);
  if (n == 0)
    luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' does not apply to an %s socket",
                                        d->name, s->family == DS_INET ? "inet" : "inet6"));
  return n;
}

/* Gives s the marker exactly when recvopts (the receive options about to
** be on) has no IPv4-level one: each of those makes IPv4 traffic carry an
** IPv4-level message already, and the marker costs a message per IPv4
** datagram. An inet6 socket keeps it: its options have no IPv4 half, and
** v6only may still be cleared. Called before an option goes off and after
** one comes on, so no datagram is read while neither is on. 0, or the error. */
/* Is (level, name) the IPv4 arrival marker this socket keeps on? Where the
** marker is pktinfo's own IPv4 option (DS_GUARD_SHARED), turning pktinfo
** off must leave it on, or no IPv4 datagram could prove where it came
** from; the destinations it still delivers are not reported (recv.c). */
static int holds_marker(const ds_socket *s, int level, int name) {
#if defined(DS_GUARD_SHARED)
  return (s->recvopts & DS_RECV_GUARD) && level == IPPROTO_IP && name == DS_IP_GUARD_OPT;
#else
  (void)s;
  (void)level;
  (void)name;
  return 0;
#endif
}

static int fit_marker(ds_socket *s, unsigned recvopts) {
  int want = s->type == SOCK_DGRAM && s->proto == 0 && /* ICMP sockets are never dual */
             (s->family == DS_INET6 || (s->family == DS_DUAL && !(recvopts & DS_RECV_IPV4)));
  int err;
#if defined(DS_GUARD_SHARED)
  want = want || (s->recvopts & DS_RECV_GUARD); /* it is pktinfo's own option there */
#endif
  if (want == ((s->recvopts & DS_RECV_GUARD) != 0)) return 0;
  if ((err = ds_guard_ipv4(s->fd, want)) != 0) return err;
  if (want) s->recvopts |= DS_RECV_GUARD;
  else s->recvopts &= ~(unsigned)DS_RECV_GUARD;
  return 0;
}

/* {on = boolean, timeout = seconds (default 0)} at argument 3. */
static void check_linger_table(lua_State *L, struct linger *lg) {
  lua_Integer t;
  int isnum;
  luaL_argcheck(L, lua_getfield(L, 3, "on") == LUA_TBOOLEAN, 3, "boolean 'on' field expected");
  lg->l_onoff = lua_toboolean(L, -1);
  if (lua_getfield(L, 3, "timeout") == LUA_TNIL) {
    t = 0;
  } else {
    t = lua_tointegerx(L, -1, &isnum);
    luaL_argcheck(L, isnum, 3, "integer 'timeout' field expected");
  }
  luaL_argcheck(L, t >= 0 && t <= 0xffff, 3, "linger seconds out of range");
  lg->l_linger = (int)t;
  lua_pop(L, 2);
}

static void check_value(lua_State *L, const ds_optdef *d, int *ival, struct linger *lg,
                        const void **val, socklen_t *len) {
  switch (d->kind) {
    case OPT_BOOL:
      luaL_checktype(L, 3, LUA_TBOOLEAN);
      *ival = lua_toboolean(L, 3);
      break;
    case OPT_SIZE:
    case OPT_HOPS:
    case OPT_BYTE: {
      static const lua_Integer lo[] = {0, 0, -1, 0}, hi[] = {0, 0x7fffffff, 255, 255};
      lua_Integer v = luaL_checkinteger(L, 3);
      luaL_argcheck(L, v >= lo[d->kind] && v <= hi[d->kind], 3,
                    lua_pushfstring(L, "value out of range (%I-%I)", lo[d->kind], hi[d->kind]));
      *ival = (int)v;
      break;
    }
    default: /* linger: seconds, false for off, or LuaSocket's {on =, timeout =} */
      if (lua_isboolean(L, 3) && !lua_toboolean(L, 3)) {
        lg->l_onoff = 0;
        lg->l_linger = 0;
      } else if (lua_istable(L, 3)) {
        check_linger_table(L, lg);
      } else {
        lua_Integer v = luaL_checkinteger(L, 3);
        luaL_argcheck(L, v >= 0 && v <= 0xffff, 3, "linger seconds out of range");
        lg->l_onoff = 1;
        lg->l_linger = (int)v;
      }
      *val = lg;
      *len = sizeof(*lg);
      return;
  }
  *val = ival;
  *len = sizeof(*ival);
}

/* err, from setting half (level) of d on a socket of family: on a dual
** socket of a host with IPv4 disabled, the IPv4 half of a two-family
** option fails and has nothing to act on (0). An option with one half for
** both (same_halves) is the socket's own: its error is always real. */
static int half_error(int family, const ds_optdef *d, int level, int err) {
  if (family == DS_DUAL && level == d->level4 && !same_halves(d)) return ds_ipv4_option_error(err);
  return err;
}

/* Path MTU (issue 17): options with a half per family whose values are
** not one setsockopt argument for both, set and read through the optdef
** halves so a dual socket sets both. */
static const ds_optdef pmtu_def = {"mtu_discover", OPT_SIZE, 0, IPPROTO_IP, DS_IP_MTU_DISCOVER,
                                   IPPROTO_IPV6, DS_IPV6_MTU_DISCOVER, 0};
static const ds_optdef dontfrag_def = {"dontfrag", OPT_BOOL, 0, IPPROTO_IP, DS_IP_DONTFRAG,
                                       IPPROTO_IPV6, DS_IPV6_DONTFRAG, 0};
static const ds_optdef mtu_def = {"mtu", OPT_SIZE, 0, IPPROTO_IP, DS_IP_MTU,
                                  IPPROTO_IPV6, DS_IPV6_MTU, 0};
static const char *const pmtu_names[] = {"dont", "want", "do", "probe", NULL};
static const int pmtu_modes[] = {DS_PMTU_DONT, DS_PMTU_WANT, DS_PMTU_DO, DS_PMTU_PROBE};

/* Sets each half of d that applies to s: v6 at the IPv6 level, v4 at the
** IPv4 one. None is set when one of them is absent here (ENOPROTOOPT).
** Pushes 1, or the error. */
static int set_halves(lua_State *L, const ds_socket *s, const ds_optdef *d, int v6, int v4) {
  int lv[2], nm[2], n = halves(L, s, d, lv, nm), i, err;
  for (i = 0; i < n; i++)
    if (nm[i] == DS_OPT_ABSENT) return ds_push_error(L, ENOPROTOOPT);
  for (i = 0; i < n; i++) {
    const int *v = lv[i] == d->level6 ? &v6 : &v4;
    if (ds_sys_setopt(s->fd, lv[i], nm[i], v, sizeof(*v)) == 0) continue;
    if ((err = half_error(s->family, d, lv[i], ds_sys_error())) != 0) return ds_push_error(L, err);
  }
  lua_pushinteger(L, 1);
  return 1;
}

/* Reads d's first half for s (the IPv6 one on an inet6 or dual socket)
** into *v; *v6 says which it was. 0, or the error. */
static int get_half(lua_State *L, const ds_socket *s, const ds_optdef *d, int *v, int *v6) {
  int lv[2], nm[2];
  socklen_t len = sizeof(*v);
  halves(L, s, d, lv, nm);
  *v = 0;
  *v6 = lv[0] == d->level6;
  if (nm[0] == DS_OPT_ABSENT) return ENOPROTOOPT;
  return ds_sys_getopt(s->fd, lv[0], nm[0], v, &len) < 0 ? ds_sys_error() : 0;
}

/* mtu_discover: "dont" (fragment), "want" (the default: discover, fragment
** beyond the known path MTU), "do" (set DF; larger sends fail EMSGSIZE),
** "probe" (set DF, ignore the path MTU). */
static int set_mtu_discover(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  int mode = pmtu_modes[luaL_checkoption(L, 3, NULL, pmtu_names)];
  return set_halves(L, s, &pmtu_def, mode, mode);
}

static int get_mtu_discover(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  int v, v6, i, err = get_half(L, s, &pmtu_def, &v, &v6);
  if (err) return ds_push_error(L, err);
  for (i = 0; pmtu_names[i]; i++)
    if (pmtu_modes[i] == v) {
      lua_pushstring(L, pmtu_names[i]);
      return 1;
    }
  lua_pushinteger(L, v); /* a mode this table does not name */
  return 1;
}

/* dontfrag: the DF bit (IPv6: never fragment locally). On Linux the IPv4
** half is IP_MTU_DISCOVER "do" for true and "want" (the default) for false. */
static int set_dontfrag(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  int on;
  luaL_checktype(L, 3, LUA_TBOOLEAN);
  on = lua_toboolean(L, 3);
  return set_halves(L, s, &dontfrag_def, on, on ? DS_DONTFRAG4_ON : DS_DONTFRAG4_OFF);
}

static int get_dontfrag(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  int v, v6, err = get_half(L, s, &dontfrag_def, &v, &v6);
  if (err) return ds_push_error(L, err);
  lua_pushboolean(L, v6 ? v != 0 : v == DS_DONTFRAG4_ON);
  return 1;
}

/* The path MTU of a connected socket (IPV6_MTU on an inet6 or dual one,
** which also holds for a mapped peer); ENOTCONN when unconnected. */
static int get_mtu(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  int v, v6, err = get_half(L, s, &mtu_def, &v, &v6);
  if (err) return ds_push_error(L, err);
  lua_pushinteger(L, v);
  return 1;
}

/* Is the receive option (level, name) on in fd? */
static int half_on(ds_fd fd, int level, int name) {
  int v = 0;
  socklen_t len = sizeof(v);
  return name != DS_OPT_ABSENT && ds_sys_getopt(fd, level, name, &v, &len) == 0 && v;
}

/* The DS_RECV_* options on in fd, a descriptor made elsewhere that a socket
** of family and type is to own (fromfd): on in either half. Reads only. */
unsigned ds_read_recvopts(ds_fd fd, int family, int type) {
  const ds_optdef *d;
  unsigned on = 0;
  for (d = optdefs; d->name; d++) {
    int lv[2], nm[2], n, i;
    if (!d->recvflag || (d->socktype && d->socktype != type)) continue;
    n = option_halves(family, d, lv, nm);
    for (i = 0; i < n; i++)
      if (half_on(fd, lv[i], nm[i])) on |= d->recvflag;
  }
  return on;
}

/* Turns on, in fd, both halves of each receive option in on, as setoption
** leaves them on a socket of family: an option on in one half only (an
** inherited descriptor; an inet6 socket turning dual) would have recvopts
** claim an IPv4-level message that never comes, so fit_marker would turn
** the IPv4 arrival marker off and every IPv4 datagram look spoofed. The
** control buffer (ds_cmsg_space) counts both halves' messages. 0, or the
** error; the halves turned on before it stay on. */
int ds_fill_recvopts(ds_fd fd, int family, int type, unsigned on) {
  const ds_optdef *d;
  const int one = 1;
  for (d = optdefs; d->name; d++) {
    int lv[2], nm[2], n, i, err;
    if (!(d->recvflag & on) || (d->socktype && d->socktype != type)) continue;
    n = option_halves(family, d, lv, nm);
    for (i = 0; i < n; i++) {
      if (nm[i] == DS_OPT_ABSENT || half_on(fd, lv[i], nm[i])) continue;
      if (ds_sys_setopt(fd, lv[i], nm[i], &one, sizeof(one)) == 0) continue;
      if ((err = half_error(family, d, lv[i], ds_sys_error())) != 0) return err;
    }
  }
  return 0;
}

static int is_v6only(const ds_optdef *d) {
  return d->level6 == IPPROTO_IPV6 && d->name6 == IPV6_V6ONLY;
}

/* Pushes {pid =, uid =, gid =}. */
void ds_push_cred(lua_State *L, const ds_cred *c) {
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, c->pid);
  lua_setfield(L, -2, "pid");
  lua_pushinteger(L, c->uid);
  lua_setfield(L, -2, "uid");
  lua_pushinteger(L, c->gid);
  lua_setfield(L, -2, "gid");
}

/* ---- local sockets (AF_UNIX): credentials ---- */

/* peercred (get: {pid, uid, gid}) and passcred (a boolean); -1 for any
** other name, looked up as for IP sockets. */
static int unix_option(lua_State *L, ds_socket *s, int set) {
  const char *name = luaL_checkstring(L, 2);
  int err, on = 0;
  ds_cred c;
  if (strcmp(name, "peercred") == 0) {
    if (set) return luaL_argerror(L, 2, "option 'peercred' is read only");
    if ((err = ds_sys_peercred(s->fd, &c)) != 0) return ds_push_error(L, err);
    ds_push_cred(L, &c);
    return 1;
  }
  if (strcmp(name, "passcred") != 0) return -1;
  if (set) {
    luaL_checktype(L, 3, LUA_TBOOLEAN);
    if ((err = ds_sys_set_passcred(s->fd, lua_toboolean(L, 3))) != 0) return ds_push_error(L, err);
    lua_pushinteger(L, 1);
    return 1;
  }
  if ((err = ds_sys_get_passcred(s->fd, &on)) != 0) return ds_push_error(L, err);
  lua_pushboolean(L, on);
  return 1;
}

static int sock_setoption(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  const ds_optfn *f;
  const ds_optdef *d;
  int lv[2], nm[2], n, i, ival = 0, err;
  struct linger lg;
  const void *val;
  socklen_t len;
  if (s->family == DS_UNIX && (n = unix_option(L, s, 1)) >= 0) return n; /* local sockets */
  f = find_optfn(L, s);
  if (f && !f->set) return luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' is read only",
                                                                  lua_tostring(L, 2)));
  if (f) return f->set(L);
  d = check_optdef(L, s);
  n = halves(L, s, d, lv, nm);
  check_value(L, d, &ival, &lg, &val, &len);
  if (nm[0] == DS_OPT_ABSENT) return ds_push_error(L, ENOPROTOOPT);
  if (is_v6only(d) && s->bound)
    return luaL_error(L, "option 'v6only' must be set before bind, connect or listen");
  /* Turning dual: the receive options on so far have their IPv6 half only. */
  if (is_v6only(d) && !ival && s->family == DS_INET6 &&
      (err = ds_fill_recvopts(s->fd, DS_DUAL, s->type, s->recvopts)) != 0)
    return ds_push_error(L, err);
  /* Room for a receive option's messages comes first: should one half be
  ** set and the other fail, the control buffer still fits what arrives.
  ** The IPv4 arrival marker goes on before the last IPv4-level option goes
  ** off, and off only after one came on (fit_marker). */
  if (ival) s->recvopts |= d->recvflag;
  else if (d->recvflag && (err = fit_marker(s, s->recvopts & ~d->recvflag)) != 0)
    return ds_push_error(L, err);
  for (i = 0; i < n; i++) {
    if (!ival && holds_marker(s, lv[i], nm[i])) continue;
    if (ds_sys_setopt(s->fd, lv[i], nm[i], val, len) == 0) continue;
    if ((err = half_error(s->family, d, lv[i], ds_sys_error())) != 0) return ds_push_error(L, err);
  }
  if (!ival) s->recvopts &= ~d->recvflag;
  else if (d->recvflag) (void)fit_marker(s, s->recvopts); /* kept on if it fails */
  if (is_v6only(d)) s->family = ival ? DS_INET6 : DS_DUAL;
  lua_pushinteger(L, 1);
  return 1;
}

static int sock_getoption(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  const ds_optfn *f;
  const ds_optdef *d;
  int lv[2], nm[2], ival = 0;
  struct linger lg;
  void *val;
  socklen_t len;
  if (s->family == DS_UNIX && (ival = unix_option(L, s, 0)) >= 0) return ival; /* local sockets */
  f = find_optfn(L, s);
  if (f && !f->get) return luaL_argerror(L, 2, lua_pushfstring(L, "option '%s' is write only",
                                                                  lua_tostring(L, 2)));
  if (f) return f->get(L);
  d = check_optdef(L, s);
  val = d->kind == OPT_LINGER ? (void *)&lg : (void *)&ival;
  len = d->kind == OPT_LINGER ? sizeof(lg) : sizeof(ival);
  halves(L, s, d, lv, nm);
  if (nm[0] == DS_OPT_ABSENT) return ds_push_error(L, ENOPROTOOPT);
  if (ds_sys_getopt(s->fd, lv[0], nm[0], val, &len) < 0) return ds_push_error(L, ds_sys_error());
  if (d->kind == OPT_BOOL) lua_pushboolean(L, ival);
  else if (d->kind != OPT_LINGER) lua_pushinteger(L, ival);
  else if (lg.l_onoff) lua_pushinteger(L, lg.l_linger);
  else lua_pushboolean(L, 0);
  return 1;
}

static const luaL_Reg option_methods[] = {
  {"setoption", sock_setoption},
  {"getoption", sock_getoption},
  {NULL, NULL}};

void ds_open_options(lua_State *L) {
  ds_add_methods(L, option_methods, 0);
}
