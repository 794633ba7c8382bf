/*
** dualstack.core: the C module. It only assembles the table; each concern
** adds its own functions.
*/
#include "ds.h"
#include "version.h"

/* The one symbol the module shows: on Windows, a DLL that marks one
** export exports nothing else. */
#if defined(_WIN32)
__declspec(dllexport)
#elif defined(__GNUC__)
__attribute__((visibility("default")))
#endif
LUAMOD_API int luaopen_dualstack_core(lua_State *L);

int luaopen_dualstack_core(lua_State *L) {
  int err = ds_sys_init();
  if (err) return luaL_error(L, "dualstack: the socket system failed to start: %s", ds_errmessage(err));
  lua_newtable(L);
  ds_open_object(L); /* first: the others add methods to its metatable */
  ds_open_socket(L);
  ds_open_options(L);
  ds_open_addr(L);
  ds_open_recv(L);
  ds_open_msg(L);
  ds_open_mcast(L);
  ds_open_iface(L);
  ds_open_poll(L);
  ds_open_errq(L); /* recverr (issue 17) */
  ds_open_unix(L); /* local sockets */
  ds_open_icmp(L); /* ICMP sockets (issue 17) */
  lua_pushliteral(L, DS_VERSION);
  lua_setfield(L, -2, "_VERSION");
  lua_pushstring(L, ds_sys_platform());
  lua_setfield(L, -2, "PLATFORM");
  lua_pushstring(L, ds_sys_wine_version()); /* nil off Wine */
  lua_setfield(L, -2, "WINE");
  return 1;
}
