-- One version number: src/version.h's DS_VERSION. The module reports it,
-- and every other place that must name it (the release rockspec, the
-- Debian changelog, the OpenWrt package) names the same one. A release
-- edits src/version.h, runs `make release-rockspec`, and adds a changelog
-- entry; anything forgotten fails here.

local H = require "spec.helpers"

local WHY = H.needs_source_tree("the version check")
local ROOT = not WHY and H.repo_root()

local function read(path)
  local f = assert(io.open(ROOT .. "/" .. path), "missing " .. path)
  local s = f:read("a")
  f:close()
  return s
end

local function version()
  return assert(read("src/version.h"):match('\n#define DS_VERSION "([^"]+)"\n'),
                "no DS_VERSION in src/version.h")
end

local function rockspec(name)
  local env = {}
  assert(loadfile(ROOT .. "/" .. name, "t", env))()
  return env
end

describe("the version", function()
  it("is the module's _VERSION", function()
    if WHY then return pending(WHY) end
    assert.equal(version(), H.ds._VERSION)
    assert.equal(version(), require("dualstack.core")._VERSION)
  end)

  it("is the Makefile's (make version)", function()
    if WHY then return pending(WHY) end
    local p = assert(io.popen("make -s --no-print-directory -C '" .. ROOT .. "' version"))
    local out = p:read("a")
    p:close()
    assert.equal(version() .. "\n", out)
  end)

  it("names the release rockspec, the only one, which is the scm one with a tag", function()
    if WHY then return pending(WHY) end
    local v = version()
    local p = assert(io.popen("cd '" .. ROOT .. "' && ls *.rockspec"))
    local names = {}
    for l in p:lines() do names[#names + 1] = l end
    p:close()
    table.sort(names)
    assert.same({ "dualstack-" .. v .. "-1.rockspec", "dualstack-scm-1.rockspec" }, names)
    local rel, scm = rockspec(names[1]), rockspec(names[2])
    assert.equal(v .. "-1", rel.version)
    assert.equal("v" .. v, rel.source.tag)
    assert.matches("^git%+", rel.source.url)
    -- Everything else is the scm rockspec's (`make release-rockspec` writes it).
    for _, field in ipairs { "package", "rockspec_format", "description", "dependencies", "build", "test" } do
      assert.same(scm[field], rel[field], field .. " differs from the scm rockspec's: run make release-rockspec")
    end
  end)

  it("is the Debian package's upstream version", function()
    if WHY then return pending(WHY) end
    local first = read("debian/changelog"):match("^[^\n]*")
    assert.matches("^lua%-dualstack %(" .. version():gsub("%p", "%%%0") .. "%-%d+%) ", first)
  end)

  it("is the OpenWrt package's PKG_VERSION", function()
    if WHY then return pending(WHY) end
    local mk = read("openwrt/lang/lua-dualstack/Makefile")
    assert.equal(version(), mk:match("\nPKG_VERSION:=([^\n]*)\n"))
  end)
end)
