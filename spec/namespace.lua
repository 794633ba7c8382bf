-- Runs a Lua script in a child process inside namespaces the spec makes
-- (unshare -n for a private network, -m for a private /etc/hosts), so specs
-- can set up routes, links and names without touching the host. The child
-- reports with lines "key=value"; the spec parses them and asserts.
local N = {}

-- Every child is killed after this many seconds, so a broken library fails
-- the spec instead of hanging the suite.
N.LIMIT = 30

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function read_command(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

-- The repository root as an absolute path: the child runs from anywhere.
local ROOT = read_command("pwd"):gsub("%s+$", "")

-- Prepended to every child script: the in-tree module paths, absolute, and
-- report(key, value) to write one result line.
local PROLOGUE = string.format([[
package.path = %q .. package.path
package.cpath = %q .. package.cpath
io.stdout:setvbuf("line")
function report(key, value) print(key .. "=" .. tostring(value)) end
]], ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;", ROOT .. "/build/?.so;")

-- Whether unshare with these flags works here; if not, the reason.
function N.available(flags)
  local out, ok = read_command("unshare " .. flags .. " true")
  if ok then return true end
  return false, "cannot make namespaces (unshare " .. flags .. "): " .. out:gsub("%s+$", "")
end

-- Runs script (Lua source) after the shell commands in setup, inside
-- `unshare flags`. Returns the reported keys as a table and the whole output.
function N.run(flags, setup, script)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(PROLOGUE, script)
  f:close()
  local inner = setup .. "\nexec lua5.4 " .. file
  local out = read_command(string.format("timeout %d unshare %s sh -c %s", N.LIMIT, flags,
    shell_quote(inner)))
  os.remove(file)
  local results = {}
  for key, value in ("\n" .. out):gmatch("\n([%w_%.]+)=([^\n]*)") do results[key] = value end
  return results, out
end

return N
