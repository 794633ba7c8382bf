-- `make install` puts the module where Lua looks, under DESTDIR, PREFIX,
-- LUA_LIBDIR and LUA_SHAREDIR, and the installed module loads from there
-- alone (a child lua5.4 whose paths name only the installed tree).
local H = require "spec.helpers"

local ROOT = not H.WINDOWS and H.repo_root() or nil

-- The version the installed module must report: src/version.h's.
local function version()
  local f = assert(io.open(ROOT .. "/src/version.h"))
  local v = f:read("a"):match('#define DS_VERSION "([^"]+)"')
  f:close()
  return v
end

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("a")
  p:close()
  return out:match("exit=(%d+)%s*$") == "0", out
end

describe("make install", function()
  for _, layout in ipairs {
    { name = "Debian's", vars = "PREFIX=/usr LUA_LIBDIR=/usr/lib/x86_64-linux-gnu/lua/5.4",
      lib = "/usr/lib/x86_64-linux-gnu/lua/5.4", share = "/usr/share/lua/5.4" },
    -- OpenWrt's lua5.4 looks under /usr (LUA_ROOT), where luasocket5.4
    -- puts its C modules in /usr/lib/lua/5.4 and its Lua ones in
    -- /usr/share/lua/5.4 (openwrt/lang/lua-dualstack/Makefile does the same).
    { name = "OpenWrt's", vars = "PREFIX=/usr LUA_LIBDIR=/usr/lib/lua/5.4",
      lib = "/usr/lib/lua/5.4", share = "/usr/share/lua/5.4" },
  } do
    it("installs in " .. layout.name .. " layout, and the installed module loads", function()
      local why = H.needs_source_tree("make install"); if why then return pending(why) end
      local dest = os.tmpname()
      os.remove(dest)
      local ok, out = run(("make -s -C '%s' install DESTDIR='%s' %s"):format(ROOT, dest, layout.vars))
      assert(ok, out)
      for _, f in ipairs { layout.lib .. "/dualstack/core.so", layout.share .. "/dualstack.lua",
                           layout.share .. "/dualstack/listen.lua", layout.share .. "/dualstack/connect.lua",
                           layout.share .. "/dualstack/select.lua" } do
        assert(io.open(dest .. f), "missing " .. f):close()
      end
      local lua = ("package.path = '%s/?.lua' package.cpath = '%s/?.so' "
        .. "local ds = require 'dualstack' local s = assert(ds.udp()) assert(s:bind('127.0.0.1', 0)) "
        .. "print(ds._VERSION, package.searchpath('dualstack.core', package.cpath))")
        :format(dest .. layout.share, dest .. layout.lib)
      ok, out = run(("lua5.4 -e \"%s\""):format(lua))
      assert(ok, out)
      assert.equal(version() .. "\t" .. dest .. layout.lib .. "/dualstack/core.so\n", out:gsub("exit=0%s*$", ""))
      run(("rm -rf '%s'"):format(dest))
    end)
  end
end)
