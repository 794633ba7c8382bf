-- A multi-homed IPv6 host, made for real in a network namespace: lo carries
-- 2001:db8::1 and 2001:db8::2, a dual server on "*" answers queries to
-- each, and every reply must leave from the address that was queried. The
-- namespace needs root, unshare(1) and ip(8); without them the spec is
-- pending with the reason, never silently passed.

local H = require "spec.helpers"
local ADDRS = { "2001:db8::1", "2001:db8::2" }

-- Runs a shell command quietly; returns whether it exited 0.
local function succeeds(cmd)
  local okc, how, code = os.execute(cmd .. " >/dev/null 2>&1")
  return okc == true and how == "exit" and code == 0
end

-- Why no namespace can be made here, or nil when one can.
local function namespace_unavailable()
  if not succeeds("command -v unshare") then return "unshare(1) not installed" end
  if not succeeds("command -v ip") then return "ip(8) not installed (iproute2)" end
  if not succeeds("command -v timeout") then return "timeout(1) not installed" end
  if not succeeds("test \"$(id -u)\" = 0") then return "not root: unshare -n needs CAP_SYS_ADMIN" end
  if not succeeds("unshare -n true") then return "unshare -n failed (no network namespaces here)" end
  return nil
end

local function repo_root()
  local p = assert(io.popen("pwd"))
  local dir = p:read("l")
  p:close()
  return dir
end

-- The script the namespace runs. Every client is bound to 2001:db8::1, so
-- the route-chosen source of an answer is always 2001:db8::1; only a reply
-- from the queried address can come from 2001:db8::2. Prints key=value.
local CHILD = [==[
package.path = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. package.path
package.cpath = ROOT .. "/build/?.so;" .. package.cpath
local ds = require "dualstack"
local function ok(v, ...)
  local msg, code = ...
  if v == nil then error(("failure: %s (%s)"):format(tostring(msg), tostring(code)), 2) end
  return v, ...
end
local function udp(family, host)
  local s = ok(ds.udp({ family = family }))
  s:settimeout(2)
  ok(s:bind(host, 0))
  local _, port = s:getsockname()
  return s, port
end
local server, sport = udp("dual", "*")
ok(server:setoption("pktinfo", true))
print("lo=" .. tostring(ds.ifindex("lo")))
for i, target in ipairs(ADDRS) do
  local client = udp("inet6", ADDRS[1])
  ok(client:sendto("q" .. i, target, sport))
  local m = ok(server:recvmsg())
  print(("dst%d=%s"):format(i, m.dst))
  print(("ifindex%d=%s"):format(i, m.ifindex))
  ok(server:reply(m, "r" .. i))
  local data, addr, port = ok(client:recvfrom())
  print(("reply%d=%s %s %s"):format(i, data, addr, port == sport and "port-ok" or "port-bad"))
  ok(server:sendto("p" .. i, m.addr, m.port))
  data, addr = ok(client:recvfrom())
  print(("plain%d=%s %s"):format(i, data, addr))
  client:close()
end
server:close()
print("done=yes")
]==]

-- Writes the child script with the repo root and addresses filled in.
local function write_child()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(("local ROOT = %q\nlocal ADDRS = { %q, %q }\n"):format(repo_root(), ADDRS[1], ADDRS[2]))
  f:write(CHILD)
  f:close()
  return path
end

-- Runs the child in a fresh namespace (bounded by timeout(1)); returns
-- its key=value lines as a table, its whole output, and its exit code.
local function run_in_namespace(script)
  local setup = { "ip link set lo up" }
  for _, a in ipairs(ADDRS) do
    setup[#setup + 1] = ("ip -6 addr add %s/128 dev lo nodad"):format(a)
  end
  setup[#setup + 1] = "exec lua5.4 " .. script
  local cmd = ("timeout 20 unshare -n sh -c '%s' 2>&1"):format(table.concat(setup, " && "))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local _, _, code = p:close()
  local kv = {}
  for k, v in out:gmatch("([%w]+)=([^\n]*)") do kv[k] = v end
  return kv, out, code
end

describe("multi-homed IPv6 host in a network namespace", function()
  local kv, out, code

  setup(function()
    if namespace_unavailable() then return end
    local script = write_child()
    kv, out, code = run_in_namespace(script)
    os.remove(script)
  end)

  -- Skips with the reason when no namespace can be made; otherwise checks
  -- the child ran to its end.
  local function need_namespace()
    local why = namespace_unavailable()
    if why then
      pending("no network namespace: " .. why)
      return false
    end
    assert.equal(0, code, "namespace child failed:\n" .. out)
    assert.equal("yes", kv.done, "namespace child did not finish:\n" .. out)
    return true
  end

  it("the server sees which address each query was sent to, on lo", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    if not need_namespace() then return end
    for i, a in ipairs(ADDRS) do
      assert.equal(a, kv["dst" .. i])
      assert.equal(kv.lo, kv["ifindex" .. i])
    end
  end)

  it("each reply leaves from the address that was queried", function()
    if not need_namespace() then return end
    for i, a in ipairs(ADDRS) do
      assert.equal(("r%d %s port-ok"):format(i, a), kv["reply" .. i])
    end
  end)

  it("control: a plain sendto answer leaves from the same address for both", function()
    if not need_namespace() then return end
    assert.equal("p1 " .. ADDRS[1], kv.plain1)
    assert.equal("p2 " .. ADDRS[1], kv.plain2)
  end)
end)
