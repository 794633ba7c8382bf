/*
** Addresses to and from Lua: the rules that fit an address to a socket's
** family, name resolution (getaddrinfo only when the text is not numeric),
** and the ds.* address functions. The numeric parser and formatter they
** use is core/addr.c.
*/
#include "ds.h"

#include <string.h>

/* ---- Lua-facing helpers used by the socket code ---- */

static void push_ip(lua_State *L, const ds_ip *ip) {
  char text[DS_ADDRSTRLEN];
  lua_pushlstring(L, text, ds_ntop(ip, text));
}

/* Pushes addr, port; returns 2 (nil, nil for a non-IP sockaddr). */
int ds_push_sockaddr(lua_State *L, const struct sockaddr *sa) {
  ds_ip ip;
  int port = ds_sockaddr_to_ip(sa, &ip);
  if (port < 0) {
    lua_pushnil(L);
    lua_pushnil(L);
  } else {
    push_ip(L, &ip);
    lua_pushinteger(L, port);
  }
  return 2;
}

/* Makes ip usable on a socket of the given family: IPv4 is mapped on dual
** sockets and mapped addresses are unmapped on inet ones. What cannot be
** made to fit (the reference's pitfalls) pushes nil, message, code. */
int ds_fit_family(lua_State *L, int sockfamily, ds_ip *ip) {
  char text[DS_ADDRSTRLEN];
  switch (sockfamily) {
    case DS_DUAL:
      ds_ip_map(ip);
      return 0;
    case DS_INET:
      ds_ip_unmap(ip);
      if (ip->af == AF_INET) return 0;
      ds_ntop(ip, text);
      lua_pushnil(L);
      lua_pushfstring(L, "IPv6 address %s on an inet (IPv4-only) socket", text);
      lua_pushstring(L, "EAFNOSUPPORT");
      return 3;
    default:
      if (ip->af == AF_INET6 && !ds_ip_is_mapped(ip)) return 0;
      ds_ntop(ip, text);
      lua_pushnil(L);
      lua_pushfstring(L,
                      "%s %s on an inet6 (v6-only) socket: IPv4 and IPv4-mapped "
                      "addresses work only on a dual-stack socket",
                      ip->af == AF_INET ? "IPv4 address" : "IPv4-mapped address",
                      text);
      lua_pushstring(L, "EAFNOSUPPORT");
      return 3;
  }
}

int ds_check_port(lua_State *L, int arg) {
  lua_Integer port = luaL_checkinteger(L, arg);
  luaL_argcheck(L, port >= 0 && port <= 65535, arg, "port out of range (0-65535)");
  return (int)port;
}

/* ICMP sockets (issue 17) have no port to give: optional there, 0 (on a
** datagram ICMP socket a bound port is the echo identifier). */
int ds_check_socket_port(lua_State *L, const ds_socket *s, int arg) {
  return s->proto && lua_isnoneornil(L, arg) ? 0 : ds_check_port(L, arg);
}

/* A string argument that C will read as text: an embedded NUL would
** silently cut it short, so it raises. */
const char *ds_check_text(lua_State *L, int arg, size_t *lenp) {
  size_t len;
  const char *s = luaL_checklstring(L, arg, &len);
  luaL_argcheck(L, strlen(s) == len, arg, "text contains a NUL byte");
  if (lenp) *lenp = len;
  return s;
}

/* t[field] as the index of one of names (def when nil); anything else
** raises naming the field. */
int ds_check_field_option(lua_State *L, int t, const char *field, const char *const names[],
                          int def) {
  const char *v;
  int i;
  if (lua_getfield(L, t, field) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  for (i = 0; v && names[i]; i++)
    if (strcmp(names[i], v) == 0) {
      lua_pop(L, 1);
      return i;
    }
  luaL_where(L, 1);
  lua_pushfstring(L, "bad field '%s' (one of", field);
  for (i = 0; names[i]; i++) lua_pushfstring(L, " '%s'", names[i]);
  lua_pushliteral(L, " expected)");
  lua_concat(L, i + 3);
  return lua_error(L);
}

/* Text that can only be meant as a numeric address: it has ':' or '%', or
** it is all digits and dots. Anything else is a name to look up. */
static int looks_numeric(const char *s, size_t len) {
  size_t i;
  if (memchr(s, ':', len) || memchr(s, '%', len)) return 1;
  for (i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) return 0;
  return 1;
}

static int push_gai_error(lua_State *L, int rc) {
  int err = ds_sys_gai_errno(rc);
  if (err) return ds_push_error(L, err);
  return ds_push_failure(L, ds_gai_message(rc), ds_gai_errname(rc));
}

static int lookup_name(lua_State *L, const char *name, const ds_socket *s,
                       ds_ip *ip) {
  struct addrinfo hints, *res;
  int rc;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = s->family == DS_INET ? AF_INET
                  : s->family == DS_INET6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = s->type;
  rc = ds_sys_getaddrinfo(name, NULL, &hints, &res);
  if (rc != 0) return push_gai_error(L, rc);
  ds_sockaddr_to_ip(res->ai_addr, ip);
  ds_sys_freeaddrinfo(res);
  return 0;
}

static void wildcard(int sockfamily, ds_ip *ip) {
  memset(ip, 0, sizeof(*ip));
  ip->af = sockfamily == DS_INET ? AF_INET : AF_INET6;
}

/* Host text to an address that fits socket s: "*", numeric, or a name.
** Returns 0; or -1 when numeric text is malformed (*why says how, for the
** caller to raise naming its argument); or the count of nil, message,
** code values pushed when a lookup fails or the family cannot fit. */
int ds_parse_host(lua_State *L, const ds_socket *s, const char *host, size_t len,
                  ds_ip *ip, const char **why) {
  int n;
  if (memchr(host, '\0', len)) {
    *why = "address contains a NUL byte";
    return -1;
  }
  if (len == 1 && host[0] == '*') {
    wildcard(s->family, ip);
  } else if (looks_numeric(host, len)) {
    if ((*why = ds_pton(host, len, ip)) != NULL) return -1;
  } else if ((n = lookup_name(L, host, s, ip)) != 0) {
    return n;
  }
  return ds_fit_family(L, s->family, ip);
}

/* Host and port arguments to a sockaddr for socket s: 0, or the count of
** failure values pushed. Malformed numeric text raises. */
int ds_resolve(lua_State *L, const ds_socket *s, int hostarg, int portarg,
               ds_sockaddr *sa) {
  size_t len;
  const char *host = luaL_checklstring(L, hostarg, &len), *why;
  int port = ds_check_socket_port(L, s, portarg);
  ds_ip ip;
  int n = ds_parse_host(L, s, host, len, &ip, &why);
  if (n < 0) return luaL_argerror(L, hostarg, lua_pushfstring(L, "%s: '%s'", why, host));
  if (n > 0) return n;
  ds_ip_to_sockaddr(&ip, port, sa);
  return 0;
}

/* ---- the address helpers exported to Lua ---- */

/* Parses argument arg; on failure pushes nil, message, "EINVAL" (text
** that is no address is data, not a programming error) and returns 3. */
static int check_ip(lua_State *L, int arg, ds_ip *ip) {
  size_t len;
  const char *text = luaL_checklstring(L, arg, &len);
  const char *why = ds_pton(text, len, ip);
  if (!why) return 0;
  return ds_push_failure(L, lua_pushfstring(L, "%s: '%s'", why, text), "EINVAL");
}

static int l_is_mapped(lua_State *L) {
  ds_ip ip;
  lua_pushboolean(L, check_ip(L, 1, &ip) == 0 && ds_ip_is_mapped(&ip));
  return 1;
}

static int l_map(lua_State *L) {
  ds_ip ip;
  int n = check_ip(L, 1, &ip);
  if (n) return n;
  if (ip.af != AF_INET && !ds_ip_is_mapped(&ip))
    return ds_push_failure(L, lua_pushfstring(L, "not an IPv4 address: '%s'", lua_tostring(L, 1)),
                           "EINVAL");
  ds_ip_map(&ip);
  push_ip(L, &ip);
  return 1;
}

static int l_unmap(lua_State *L) {
  ds_ip ip;
  int n = check_ip(L, 1, &ip);
  if (n) return n;
  if (!ds_ip_is_mapped(&ip)) {
    lua_settop(L, 1);
    return 1;
  }
  ds_ip_unmap(&ip);
  push_ip(L, &ip);
  return 1;
}

static int l_same(lua_State *L) {
  ds_ip a, b;
  int n;
  if ((n = check_ip(L, 1, &a)) != 0 || (n = check_ip(L, 2, &b)) != 0) return n;
  ds_ip_unmap(&a);
  ds_ip_unmap(&b);
  lua_pushboolean(L, ds_ip_equal(&a, &b));
  return 1;
}

static int l_normalize(lua_State *L) {
  ds_ip ip;
  int n = check_ip(L, 1, &ip);
  if (n) return n;
  push_ip(L, &ip);
  return 1;
}

static int l_family(lua_State *L) {
  ds_ip ip;
  int n = check_ip(L, 1, &ip);
  if (n) return n;
  lua_pushstring(L, ip.af == AF_INET ? "inet" : "inet6");
  return 1;
}

static int l_pton(lua_State *L) {
  ds_ip ip;
  int n = check_ip(L, 1, &ip);
  if (n) return n;
  lua_pushlstring(L, (const char *)ip.bytes, ip.af == AF_INET ? 4 : 16);
  return 1;
}

static int l_ntop(lua_State *L) {
  size_t len;
  const char *bytes = luaL_checklstring(L, 1, &len);
  ds_ip ip;
  if (len != 4 && len != 16)
    return ds_push_failure(
        L, lua_pushfstring(L, "binary address must be 4 or 16 bytes, got %d", (int)len), "EINVAL");
  ip.af = len == 4 ? AF_INET : AF_INET6;
  ip.scope = 0;
  memcpy(ip.bytes, bytes, len);
  push_ip(L, &ip);
  return 1;
}

static const char *family_name(int af) {
  return af == AF_INET ? "inet" : af == AF_INET6 ? "inet6" : "unspec";
}

static int check_family_opt(lua_State *L, int opts) {
  static const char *const names[] = {"unspec", "inet", "inet6", NULL};
  static const int values[] = {AF_UNSPEC, AF_INET, AF_INET6};
  return values[ds_check_field_option(L, opts, "family", names, 0)];
}

static int check_socktype_opt(lua_State *L, int opts) {
  static const char *const names[] = {"any", "stream", "dgram", NULL};
  static const int values[] = {0, SOCK_STREAM, SOCK_DGRAM};
  return values[ds_check_field_option(L, opts, "socktype", names, 0)];
}

typedef struct ds_flagname {
  const char *name;
  int flag;
} ds_flagname;

static int check_flags(lua_State *L, int opts, const ds_flagname *f) {
  int flags = 0;
  for (; f->name; f++) {
    lua_getfield(L, opts, f->name);
    if (lua_toboolean(L, -1)) flags |= f->flag;
    lua_pop(L, 1);
  }
  return flags;
}

static const ds_flagname ai_flags[] = {
  {"passive", AI_PASSIVE},         {"v4mapped", AI_V4MAPPED},
  {"all", AI_ALL},                 {"addrconfig", AI_ADDRCONFIG},
  {"numerichost", AI_NUMERICHOST}, {"numericserv", AI_NUMERICSERV},
  {"canonname", AI_CANONNAME},     {NULL, 0}};

static const char *socktype_name(int t) {
  return t == SOCK_STREAM ? "stream" : t == SOCK_DGRAM ? "dgram" : "raw";
}

/* canonname only when asked for (AI_CANONNAME): musl fills it anyway. */
static void push_addrinfo(lua_State *L, const struct addrinfo *ai, int canonname) {
  int port;
  lua_createtable(L, 0, 6);
  lua_pushstring(L, family_name(ai->ai_family));
  lua_setfield(L, -2, "family");
  ds_push_sockaddr(L, ai->ai_addr);
  port = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_setfield(L, -2, "addr");
  lua_pushinteger(L, port);
  lua_setfield(L, -2, "port");
  lua_pushstring(L, socktype_name(ai->ai_socktype));
  lua_setfield(L, -2, "socktype");
  lua_pushinteger(L, ai->ai_protocol);
  lua_setfield(L, -2, "protocol");
  if (canonname && ai->ai_canonname) {
    lua_pushstring(L, ai->ai_canonname);
    lua_setfield(L, -2, "canonname");
  }
}

/* Port argument to getaddrinfo's service text. */
static const char *service_arg(lua_State *L, int arg, char *buf) {
  if (lua_isnoneornil(L, arg)) return NULL;
  if (lua_type(L, arg) == LUA_TNUMBER) {
    int port = ds_check_port(L, arg);
    char *p = buf + 6;
    *p = '\0';
    do *--p = (char)('0' + port % 10); while ((port /= 10) != 0);
    return p;
  }
  return ds_check_text(L, arg, NULL);
}

static void release_addrinfo(void *p) {
  ds_sys_freeaddrinfo((struct addrinfo *)p);
}

static int l_getaddrinfo(lua_State *L) {
  const char *host = lua_isnoneornil(L, 1) ? NULL : ds_check_text(L, 1, NULL);
  char portbuf[8];
  const char *service = service_arg(L, 2, portbuf);
  struct addrinfo hints, *res, *ai;
  ds_box *box;
  int rc, i = 0;
  memset(&hints, 0, sizeof(hints));
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    hints.ai_family = check_family_opt(L, 3);
    hints.ai_socktype = check_socktype_opt(L, 3);
    hints.ai_flags = check_flags(L, 3, ai_flags);
  }
  luaL_argcheck(L, host || service, 1, "host or port required");
  /* An empty name names nothing (Windows would take it for this host). */
  if (host && *host == '\0') return ds_push_failure(L, ds_gai_message(EAI_NONAME), ds_gai_errname(EAI_NONAME));
  box = ds_new_box(L, release_addrinfo); /* stays on the stack below the list */
  rc = ds_sys_getaddrinfo(host, service, &hints, &res);
  if (rc != 0) return push_gai_error(L, rc);
  box->p = res;
  lua_newtable(L);
  for (ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    push_addrinfo(L, ai, hints.ai_flags & AI_CANONNAME);
    lua_rawseti(L, -2, ++i);
  }
  ds_box_release(box);
  return 1;
}

static const ds_flagname ni_flags[] = {
  {"numerichost", NI_NUMERICHOST}, {"numericserv", NI_NUMERICSERV},
  {"namereqd", NI_NAMEREQD},       {"nofqdn", NI_NOFQDN},
  {"dgram", NI_DGRAM},             {NULL, 0}};

static int l_getnameinfo(lua_State *L) {
  ds_ip ip;
  ds_sockaddr sa;
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  int port = lua_isnoneornil(L, 2) ? 0 : ds_check_port(L, 2), flags = 0, rc, n;
  if ((n = check_ip(L, 1, &ip)) != 0) return n;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    flags = check_flags(L, 3, ni_flags);
  }
  ds_ip_to_sockaddr(&ip, port, &sa);
  rc = ds_sys_getnameinfo(&sa.u.sa, sa.len, host, sizeof(host), serv, sizeof(serv), flags);
  if (rc != 0) return push_gai_error(L, rc);
  lua_pushstring(L, host);
  lua_pushstring(L, serv);
  return 2;
}

/* The host's name, as LuaSocket's dns.gethostname gives it. NI_MAXHOST
** is room for any name the resolver can answer for. */
static int l_gethostname(lua_State *L) {
  char name[NI_MAXHOST];
  if (ds_sys_gethostname(name, sizeof(name)) < 0) return ds_push_error(L, ds_sys_error());
  lua_pushstring(L, name);
  return 1;
}

/* Pushes true or false, or nil, message, code when the probe failed. */
static int push_probe(lua_State *L, int r, int err) {
  if (r == DS_PROBE_ERROR) return ds_push_error(L, err);
  lua_pushboolean(L, r == DS_PROBE_PRESENT);
  return 1;
}

static int l_has_ipv4(lua_State *L) {
  int err = 0, r = ds_probe(AF_INET, 0, &err);
  return push_probe(L, r, err);
}

static int l_has_ipv6(lua_State *L) {
  int err = 0, r = ds_probe(AF_INET6, 0, &err);
  return push_probe(L, r, err);
}

static int l_has_dualstack(lua_State *L) {
  int err = 0, r = ds_probe(AF_INET6, 1, &err);
  if (r == DS_PROBE_PRESENT) r = ds_probe(AF_INET, 0, &err);
  return push_probe(L, r, err);
}

static const luaL_Reg addr_funcs[] = {
  {"is_mapped", l_is_mapped},     {"map", l_map},
  {"unmap", l_unmap},             {"same", l_same},
  {"normalize", l_normalize},     {"family", l_family},
  {"pton", l_pton},               {"ntop", l_ntop},
  {"getaddrinfo", l_getaddrinfo}, {"getnameinfo", l_getnameinfo},
  {"gethostname", l_gethostname},
  {"has_ipv4", l_has_ipv4},       {"has_ipv6", l_has_ipv6},
  {"has_dualstack", l_has_dualstack}, {NULL, NULL}};

/* Adds the helpers to the module table on top of the stack. */
void ds_open_addr(lua_State *L) {
  luaL_setfuncs(L, addr_funcs, 0);
}
