-- The rockspec builds what the Makefile builds: its C sources are every
-- .c file under src/ (binding, core and backend), and its Lua modules
-- every file under lua/. A file added to one and not the other fails here.

local H = require "spec.helpers"

local ROOT = H.repo_root()

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
  local spec = rockspec()

  it("compiles every C file under src/", function()
    local sources = {}
    for _, f in ipairs(spec.build.modules["dualstack.core"].sources) do sources[#sources + 1] = f end
    table.sort(sources)
    assert.same(lines("cd '" .. ROOT .. "' && find src -name '*.c'"), sources)
  end)

  it("installs every Lua module under lua/", function()
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
