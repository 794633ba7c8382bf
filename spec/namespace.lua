-- Runs a Lua script in a child process inside namespaces the spec makes
-- (unshare -n for a private network, -m for a private /etc/hosts), so specs
-- can set up routes, links and names without touching the host. The child
-- reports with lines "key=value"; the spec parses them and asserts.
local N = {}

-- Every child is killed after this many seconds, so a broken library fails
-- the spec instead of hanging the suite.
N.LIMIT = 30

-- s quoted for sh.
local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
N.shell_quote = shell_quote

-- A command's output (stderr too), whether it succeeded, and its exit code.
local function read_command(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code
end
N.read_command = read_command

-- The repository root as an absolute path: the child runs from anywhere.
local ROOT = read_command("pwd"):gsub("%s+$", "")

-- The in-tree module paths, absolute (spec.testhelp included).
local PATHS = string.format([[
package.path = %q .. package.path
package.cpath = %q .. package.cpath
]], ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;", ROOT .. "/build/?.so;")

-- Prepended to every child script: the paths, report(key, value) to write
-- one result line, and in_peer(code, ...), which starts code (with the
-- same paths, its arguments as ...) in N.PAIR's peer namespace and returns
-- io.popen's handle of its output.
local PROLOGUE = PATHS .. string.format([[
io.stdout:setvbuf("line")
function report(key, value) print(key .. "=" .. tostring(value)) end
local peer_paths = %q
function in_peer(code, ...)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(peer_paths, code)
  f:close()
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = ("%%q"):format(tostring(a)) end
  return assert(io.popen(("nsenter -t %%s -n lua5.4 %%s %%s; rm -f %%s"):format(
    assert(os.getenv("PEER"), "no peer: use N.PAIR"), file, table.concat(args, " "), file)))
end
]], PATHS)

-- Two hosts joined by a veth pair, for N.run("-n", N.PAIR, script): the
-- child's namespace has va (2001:db8::1/64, 192.0.2.1/24) and a second
-- namespace, the peer, has vb (2001:db8::2/64, 192.0.2.2/24). PEER is the
-- pid that holds the peer's namespace; in_peer (below) runs code there.
N.PAIR = [[
set -e
ip link set lo up
unshare -n sleep 30 &
PEER=$!
sleep 0.2
ip link add va type veth peer name vb netns $PEER
ip addr add 2001:db8::1/64 dev va nodad
ip addr add 192.0.2.1/24 dev va
ip link set va up
nsenter -t $PEER -n sh -c 'ip link set lo up; ip addr add 2001:db8::2/64 dev vb nodad; ip addr add 192.0.2.2/24 dev vb; ip link set vb up'
export PEER
]]

-- Whether unshare with these flags works here; if not, the reason.
function N.available(flags)
  if package.config:sub(1, 1) == "\\" then
    return false, "namespaces (unshare " .. flags .. ") are Linux's: Windows has none"
  end
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
