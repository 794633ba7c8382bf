-- Run by build/asan/lua before busted in `make check-asan` (mk/check.mk).
-- Every `require "dualstack.core"` loads the build named by DS_CHECK_CORE,
-- the sanitized one, even when a spec puts build/?.so first on
-- package.cpath: package.preload is consulted before any path.
local path = assert(os.getenv("DS_CHECK_CORE"), "DS_CHECK_CORE is not set")
package.preload["dualstack.core"] = assert(package.loadlib(path, "luaopen_dualstack_core"))

-- lua_close (busted may end with os.exit(code, true)) dlcloses every C library,
-- and LeakSanitizer reports at exit: with core.so unmapped by then its frames
-- would print as "<unknown module>". Open it once more under another spelling
-- of the same path (the dynamic loader matches the file, so the count goes to
-- two) and drop that handle from Lua's list of libraries to close.
local alias = path:gsub("/([^/]+)$", "/./%1")
assert(package.loadlib(alias, "luaopen_dualstack_core"))
local clibs = debug.getregistry()._CLIBS
assert(clibs[alias] and clibs[#clibs] == clibs[alias], "unexpected _CLIBS layout")
table.remove(clibs)
