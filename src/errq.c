/*
** ICMP errors on UDP (Linux IP_RECVERR / IPV6_RECVERR): the "recverr"
** option and sock:recverr(). With recverr on, asynchronous errors are
** reported by recverr() only; the no-spin rule that makes receives and
** sends pass them by is object.c's (ds_retry), under which the FIFO of
** core/errq.c fills.
*/
#include "ds.h"

/* ---- the option ---- */

/* Sets IP_RECVERR and/or IPV6_RECVERR as s's family needs: an IPv4 error
** of a dual socket is queued only while its IPv4 half is on (measured), so
** a dual socket sets both; an inet6 one sets the IPv4 half too, for the day
** v6only goes off, and ignores its refusal. 0, or the error. */
static int set_levels(ds_socket *s, int on) {
  if (s->family != DS_INET &&
      ds_sys_setopt(s->fd, IPPROTO_IPV6, DS_IPV6_RECVERR, &on, sizeof(on)) < 0)
    return ds_sys_error();
  if (ds_sys_setopt(s->fd, IPPROTO_IP, DS_IP_RECVERR, &on, sizeof(on)) < 0) {
    int err = ds_sys_error();
    if (s->family == DS_INET) return err;
    if (s->family == DS_DUAL) return ds_ipv4_option_error(err);
  }
  return 0;
}

/* The FIFO's allocator: the state's allocator of the moment, found
** through its main thread (ud), which lives as long as any socket. One
** taken once would outlive an embedder's lua_setallocf (testhelp's
** failalloc frees its wrapper when it is removed). No collection step. */
static void *state_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  void *aud;
  lua_Alloc f = lua_getallocf((lua_State *)ud, &aud);
  return f(aud, ptr, osize, nsize);
}

static lua_State *main_thread(lua_State *L) {
  lua_State *m;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  m = lua_tothread(L, -1);
  lua_pop(L, 1);
  return m;
}

/* setoption("recverr", bool): the FIFO is made before the kernel queues
** anything, and freed when the option goes off (the kernel then purges its
** own queue, and the pending error it set meanwhile is cleared: off, the
** socket behaves as one that never had recverr). */
int ds_set_recverr(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  int on, err;
  luaL_checktype(L, 3, LUA_TBOOLEAN);
  on = lua_toboolean(L, 3);
  if (DS_IP_RECVERR == DS_OPT_ABSENT) return ds_push_error(L, ENOPROTOOPT);
  if (on && !s->errq) {
    lua_State *m = main_thread(L); /* ds_retry holds no Lua state */
    if ((s->errq = ds_errq_new(state_alloc, m)) == NULL) {
      lua_gc(L, LUA_GCCOLLECT); /* as Lua does when memory runs out, then again */
      if ((s = ds_check_open(L, 1))->errq == NULL &&
          (s->errq = ds_errq_new(state_alloc, m)) == NULL)
        return luaL_error(L, "not enough memory");
    }
  }
  if ((err = set_levels(s, on)) != 0) {
    if (on) (void)set_levels(s, 0); /* nothing half on */
    ds_errq_free(s->errq);
    s->errq = NULL;
    return ds_push_error(L, err);
  }
  if (!on) {
    ds_errq_free(s->errq);
    s->errq = NULL;
    (void)ds_pending_error(s->fd); /* sk_err of an error the purge dropped */
  }
  lua_pushinteger(L, 1);
  return 1;
}

/* fromfd: a descriptor that comes with IP_RECVERR or IPV6_RECVERR on
** (detach and fromfd again, a parent's socket) gets its FIFO, or the
** kernel's queue would never be read and keep POLLERR up: every wait of a
** socket with a timeout would return at once, and the call spin past its
** deadline. Raises for want of memory (the descriptor is not yet s's). */
void ds_adopt_recverr(lua_State *L, ds_socket *s, ds_fd fd) {
  int v4 = 0, v6 = 0;
  socklen_t len = sizeof(v4);
  if (DS_IP_RECVERR == DS_OPT_ABSENT || s->type != SOCK_DGRAM || s->errq) return;
  if (ds_sys_getopt(fd, IPPROTO_IP, DS_IP_RECVERR, &v4, &len) < 0) v4 = 0;
  len = sizeof(v6);
  if (s->family != DS_INET && ds_sys_getopt(fd, IPPROTO_IPV6, DS_IPV6_RECVERR, &v6, &len) < 0)
    v6 = 0;
  if (!v4 && !v6) return;
  if ((s->errq = ds_errq_new(state_alloc, main_thread(L))) == NULL)
    luaL_error(L, "not enough memory");
}

int ds_get_recverr(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  if (DS_IP_RECVERR == DS_OPT_ABSENT) return ds_push_error(L, ENOPROTOOPT);
  lua_pushboolean(L, s->errq != NULL);
  return 1;
}

/* ---- sock:recverr([timeout]) ---- */

static const char *const origin_names[] = {"none", "local", "icmp", "icmp6"};

/* ip as text in the form of a socket of family: mapped on a dual socket. */
static void form_text(int family, ds_ip ip, char *out) {
  if (family == DS_DUAL && ip.af == AF_INET) ds_ip_map(&ip);
  else if (family == DS_INET && ds_ip_is_mapped(&ip)) ds_ip_unmap(&ip);
  ds_ntop(&ip, out);
}

/* The oldest error into *e: from the FIFO, else from the kernel's queue,
** waiting (poll events 0: only POLLERR wakes) within timeout. 0, or the
** error (ETIMEDOUT). No Lua call runs meanwhile. */
static int next_error(ds_socket *s, double timeout, ds_errq_entry *e) {
  double deadline = DS_DEADLINE_UNSET;
  int woke = 0;
  for (;;) {
    short rev;
    int err;
    if (ds_errq_pop(s->errq, e)) return 0;
    if (ds_errq_drain(s->fd, s->errq)) continue;
    if (woke && !ds_errq_keep_pending(s->fd, s->errq)) return ETIMEDOUT; /* woken, nothing */
    if (woke) continue;
    if ((err = ds_wait_ready_ev(s->fd, 0, timeout, &deadline, &rev)) != 0) return err;
    woke = 1;
  }
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void set_text(lua_State *L, const char *k, const char *v) {
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

/* err, msg, code = sock:recverr([timeout]): the oldest asynchronous error
** as a table, timeout (default 0: never waits) bounding the whole call. The
** entry is a C local and its addresses text in C arrays before the first
** allocation (rule 1): Lua code run by a GC step may close the socket. */
static int sock_recverr(lua_State *L) {
  ds_socket *s = ds_check_open(L, 1);
  double timeout;
  ds_errq_entry e;
  char offender[DS_ADDRSTRLEN], addr[DS_ADDRSTRLEN];
  int err;
  ds_need_type(L, s, SOCK_DGRAM, 1, "");
  timeout = luaL_optnumber(L, 2, 0);
  luaL_argcheck(L, timeout == timeout, 2, "timeout is NaN");
  luaL_argcheck(L, s->errq != NULL, 1, "option 'recverr' is off");
  if ((err = next_error(s, timeout < 0 ? -1 : timeout, &e)) != 0) return ds_push_error(L, err);
  if (e.has_offender) form_text(s->family, e.offender, offender);
  if (e.has_addr) form_text(s->family, e.addr, addr);
  lua_createtable(L, 0, 12);
  ds_push_errname(L, e.err);
  lua_setfield(L, -2, "code");
  set_text(L, "message", ds_errmessage(e.err));
  set_text(L, "origin", origin_names[e.origin]);
  set_int(L, "type", e.type);
  set_int(L, "icmpcode", e.code);
  set_int(L, "info", (lua_Integer)e.info);
  if (e.has_offender) set_text(L, "offender", offender);
  if (e.has_addr) {
    set_text(L, "addr", addr);
    set_int(L, "port", e.port);
  }
  lua_pushlstring(L, (const char *)e.data, e.len);
  lua_setfield(L, -2, "data");
  set_int(L, "lost", (lua_Integer)e.lost);
  return 1;
}

static const luaL_Reg errq_methods[] = {
  {"recverr", sock_recverr},
  {NULL, NULL}};

void ds_open_errq(lua_State *L) {
  ds_add_methods(L, errq_methods, 0);
}
