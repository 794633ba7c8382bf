-- Every README snippet runs as it is, so the README cannot rot: each
-- ```lua block that requires "dualstack" (or a module of it) is run in a fresh lua5.4 process
-- on the in-tree build (lua/ and build/, absolute paths), with a time
-- limit, and must exit 0. Where a block gives its output in `--> text`
-- comments (after the call or on a line of their own), what it prints must
-- be those lines, in order, compared with runs of white space made one
-- space. In an expected line PORT matches any number (ports, counts that
-- vary) and ... matches any text; a line that is only ... matches any
-- number of lines. A block without --> lines is checked for its exit
-- status alone.

local H = require "spec.helpers"

-- Windows has no shell to run the lua5.4 children with: the snippets are
-- pending there (the matcher's own case runs everywhere).
local WHY = H.needs_source_tree("running the README snippets in lua5.4 children")
local ROOT = not WHY and H.repo_root()
local README = ROOT and ROOT .. "/README.md"
local TIMEOUT = 20

-- The blocks of README: {line = first code line, heading = the section
-- above it, code = text with the block's indentation removed}.
local function lua_blocks(path)
  local blocks, heading, cur, indent, other = {}, "(top)", nil, nil, false
  local n = 0
  for read in io.lines(path) do
    local line = read -- edited below; Lua 5.5's loop variables are read-only
    n = n + 1
    if cur then
      if line:match("^%s*```%s*$") then
        blocks[#blocks + 1] = cur
        cur = nil
      else
        -- Strip the fence's indentation (blocks inside list items).
        if line:sub(1, #indent) == indent then line = line:sub(#indent + 1) end
        cur.lines[#cur.lines + 1] = line
      end
    elseif other then
      if line:match("^%s*```%s*$") then other = false end
    else
      local h = line:match("^#+%s+(.*)$")
      if h then heading = h end
      local ind = line:match("^(%s*)```lua%s*$")
      if ind then
        cur, indent = { line = n + 1, heading = heading, lines = {} }, ind
      elseif line:match("^%s*```") then
        other = true               -- a block in another language: skipped
      end
    end
  end
  assert(cur == nil, "README.md: a ```lua block is not closed")
  local out = {}
  for _, b in ipairs(blocks) do
    b.code = table.concat(b.lines, "\n") .. "\n"
    if b.code:match("require%s*%(?%s*[\"']dualstack[%.%w]*[\"']") then out[#out + 1] = b end
  end
  return out
end

local function normalize(s)
  return (s:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

-- The expected output of a block: the text after each `-->`, in order.
local function expected_lines(code)
  local want = {}
  for line in code:gmatch("[^\n]*") do
    local e = line:match("%-%->(.*)$")
    if e then want[#want + 1] = normalize(e) end
  end
  return want
end

-- An expected line as an anchored Lua pattern: the word PORT any number,
-- ... any text.
local function line_pattern(e)
  local p = e:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")
  p = p:gsub("%f[%w]PORT%f[%W]", "%%d+"):gsub("%%%.%%%.%%%.", ".-")
  return "^" .. p .. "$"
end

-- Does got (normalized lines) match want from positions i, j on?
local function lines_match(want, got, i, j)
  i, j = i or 1, j or 1
  if i > #want then return j > #got end
  if want[i] == "..." then
    for k = j, #got + 1 do
      if lines_match(want, got, i + 1, k) then return true end
    end
    return false
  end
  if j > #got or not got[j]:match(line_pattern(want[i])) then return false end
  return lines_match(want, got, i + 1, j + 1)
end

local function read_all(path)
  local f = io.open(path, "r")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Runs code in a fresh lua5.4 on the in-tree build; returns the exit
-- status, stdout and stderr.
local function run(code)
  local script, err = os.tmpname(), os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  -- The variables named for this Lua's version (LUA_PATH_5_4 on 5.4), which
  -- it reads before LUA_PATH (the child runs the same Lua).
  local v = _VERSION:match("%d+%.%d+"):gsub("%.", "_")
  local cmd = ("cd '%s' && LUA_PATH_%s='%s/lua/?.lua;%s/lua/?/init.lua;;' "
    .. "LUA_CPATH_%s='%s/build/?.so;;' timeout %d lua5.4 '%s' 2>'%s' </dev/null")
    :format(ROOT, v, ROOT, ROOT, v, ROOT, TIMEOUT, script, err)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, status = p:close()
  local stderr = read_all(err)
  os.remove(script)
  os.remove(err)
  return status, out, stderr
end

describe("README snippets: the output matcher", function()
  it("matches exact lines, PORT and ..., and refuses what differs", function()
    assert.is_true(lines_match({ "hi 127.0.0.2 PORT" }, { "hi 127.0.0.2 40123" }))
    assert.is_false(lines_match({ "hi 127.0.0.2 PORT" }, { "hi 127.0.0.1 40123" }))
    assert.is_false(lines_match({ "hi 127.0.0.2 PORT" }, { "hi 127.0.0.2 port" }))
    assert.is_true(lines_match({ "nil x EAFNOSUPPORT" }, { "nil x EAFNOSUPPORT" }))
    assert.is_false(lines_match({ "nil x EAFNOSUPPORT" }, { "nil x EAFNOSUP1" }))
    assert.is_true(lines_match({ "nil a: ... EINVAL" }, { "nil a: b (c) EINVAL" }))
    assert.is_true(lines_match({ "1 lo up", "..." }, { "1 lo up", "2 eth0", "3 x" }))
    assert.is_true(lines_match({ "1 lo up", "..." }, { "1 lo up" }))
    assert.is_false(lines_match({ "a", "b" }, { "a" }))
    assert.is_false(lines_match({ "a" }, { "a", "b" }))
    assert.equal("nil timeout ETIMEDOUT", normalize("  nil\ttimeout   ETIMEDOUT "))
  end)
end)

describe("README snippets", function()
  local blocks = WHY and {} or lua_blocks(README)

  it("are found", function()
    if WHY then return pending(WHY) end
    assert.is_true(#blocks >= 8, "only " .. #blocks .. " lua blocks require dualstack")
  end)

  -- Why a library the snippet requires (cqueues, luv...) does not load in
  -- this Lua, where that is so (musl has no cqueues: mk/lua.mk), or nil.
  local function missing_library(code)
    for name in code:gmatch("require%s*%(?%s*[\"']([%w_%.]+)[\"']") do
      if not name:match("^dualstack") then
        local ok, err = pcall(require, name)
        if not ok then
          return ("the snippet needs %s, which does not load here: %s"):format(name, tostring(err):match("[^\n]*"))
        end
      end
    end
  end

  for _, b in ipairs(blocks) do
    it(("README.md:%d (%s) runs as shown"):format(b.line, b.heading), function()
      local why = missing_library(b.code)
        or b.heading == "Replying from the right address" and H.needs_cmsg("this snippet's ifindex")
        or b.heading:match("^Out of that interface") and H.needs_bindtodevice("this snippet's device read back")
      if why then return pending(why) end
      local status, out, stderr = run(b.code)
      assert(status == 0, ("exit status %s\nstdout:\n%s\nstderr:\n%s"):format(
        tostring(status), out, stderr))
      local want = expected_lines(b.code)
      if #want == 0 then return end
      local got = {}
      for line in out:gmatch("([^\n]*)\n") do got[#got + 1] = normalize(line) end
      assert(lines_match(want, got), ("output differs\nexpected (-->):\n%s\ngot:\n%s"):format(
        table.concat(want, "\n"), table.concat(got, "\n")))
    end)
  end
end)
