-- The rockspec builds what the Makefile builds: on each platform its C
-- sources are every .c file under src/ (binding, core and that platform's
-- backend), and its Lua modules every file under lua/. A file added to one
-- and not the other fails here.

local H = require "spec.helpers"

-- Windows has no shell to list the tree with: every case is pending there.
local WHY = H.needs_source_tree("the rockspec check")
local ROOT = not WHY and H.repo_root()

local function lines(cmd)
  local p = assert(io.popen(cmd))
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  table.sort(out)
  return out
end

local function rockspec()
  local env = {}
  assert(loadfile(ROOT .. "/dualstack-scm-1.rockspec", "t", env))()
  return env
end

describe("the rockspec", function()
  local spec = not WHY and rockspec()

  -- The C sources of the module on platform plat, sorted.
  local function sources(plat)
    local list = {}
    for _, f in ipairs(spec.build.platforms[plat].modules["dualstack.core"].sources) do
      list[#list + 1] = f
    end
    table.sort(list)
    return list
  end

  it("compiles every C file under src/ but the other platforms' backends", function()
    if WHY then return pending(WHY) end
    local all = lines("cd '" .. ROOT .. "' && find src -name '*.c'")
    local function all_but(other)
      local list = {}
      for _, f in ipairs(all) do
        if f ~= other then list[#list + 1] = f end
      end
      return list
    end
    assert.same(all_but("src/sys/win32.c"), sources("unix"))
    assert.same(all_but("src/sys/posix.c"), sources("win32"))
    assert.same(sources("win32"), sources("mingw32"))
    assert.same({"ws2_32", "iphlpapi"},
                spec.build.platforms.win32.modules["dualstack.core"].libraries)
  end)

  it("installs every Lua module under lua/", function()
    if WHY then return pending(WHY) end
    local files = {}
    for name, file in pairs(spec.build.modules) do
      if type(file) == "string" then
        assert.equal("lua/" .. name:gsub("%.", "/") .. ".lua", file)
        files[#files + 1] = file
      end
    end
    table.sort(files)
    assert.same(lines("cd '" .. ROOT .. "' && find lua -name '*.lua'"), files)
  end)
end)
