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

/* SO_BINDTODEVICE (Linux): traffic only through the interface named, ""
** for any again. Elsewhere ENOPROTOOPT, as for any option a system lacks. */
static int set_bindtodevice(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  size_t len;
  const char *name = luaL_checklstring(L, 3, &len);
  luaL_argcheck(L, len < IF_NAMESIZE && strlen(name) == len, 3, "not an interface name");
#if defined(DS_HAVE_BINDTODEVICE)
  if (ds_sys_setopt(s->fd, SOL_SOCKET, SO_BINDTODEVICE, name, (socklen_t)len) < 0)
    return ds_push_error(L, ds_sys_error());
  lua_pushinteger(L, 1);
  return 1;
#else
  (void)s;
  return ds_push_error(L, ENOPROTOOPT);
#endif
}

static int get_bindtodevice(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
#if defined(DS_HAVE_BINDTODEVICE)
  char name[IF_NAMESIZE + 1];
  socklen_t len = IF_NAMESIZE;
  if (ds_sys_getopt(s->fd, SOL_SOCKET, SO_BINDTODEVICE, name, &len) < 0)
    return ds_push_error(L, ds_sys_error());
  name[len] = '\0';
  lua_pushstring(L, name); /* up to the NUL the kernel may count */
  return 1;
#else
  (void)s;
  return ds_push_error(L, ENOPROTOOPT);
#endif
}

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
  {"bindtodevice", 0, set_bindtodevice, get_bindtodevice},
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
  int n = option_halves(s->family, d, lv, nm);
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

static int sock_setoption(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  const ds_optfn *f = find_optfn(L, s);
  const ds_optdef *d;
  int lv[2], nm[2], n, i, ival = 0, err;
  struct linger lg;
  const void *val;
  socklen_t len;
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
  const ds_optfn *f = find_optfn(L, s);
  const ds_optdef *d;
  int lv[2], nm[2], ival = 0;
  struct linger lg;
  void *val;
  socklen_t len;
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
