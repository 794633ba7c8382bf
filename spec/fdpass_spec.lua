-- Descriptor passing over local sockets (issue 17 D): sendmsg{fds =} and
-- recvmsg's msg.fds, real sockets and pipes, the descriptor count of this
-- process (/proc/self/fd) checked around every case that could leak.
local H = require "helpers"
local ds = H.ds
local th = require "spec.testhelp"

local cleanup = require "cleanup"
local keep = cleanup.keep
after_each(cleanup.close_all)

local function pair(kind)
  local a, b = ds.socketpair(kind or "dgram")
  keep(a); keep(b)
  a:settimeout(H.WAIT)
  b:settimeout(H.WAIT)
  return a, b
end

describe("descriptor passing", function()
  it("passes a UDP socket that keeps working on both sides", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a, b = pair()
    local u = keep(H.udp_bound("inet", "127.0.0.1"))
    local _, port = u:getsockname()
    assert.equal(4, a:sendmsg({ data = "take", fds = { u } }))
    local m = H.ok(b:recvmsg())
    assert.equal("take", m.data)
    assert.is_false(m.ctruncated)
    assert.equal(1, #m.fds)
    local got = keep(m.fds[1])
    assert.equal("inet", got:getfamily())
    assert.equal(port, select(2, got:getsockname()))
    assert.matches("^udp{inet, fd %d+, 127%.0%.0%.1:" .. port .. "}$", tostring(got))
    local c = keep(H.udp_bound("inet", "127.0.0.1"))
    got:settimeout(H.WAIT)
    assert.equal(6, c:sendto("passed", "127.0.0.1", port))
    assert.equal("passed", (got:recvfrom()))
    assert.equal(8, c:sendto("original", "127.0.0.1", port))
    u:settimeout(H.WAIT)
    assert.equal("original", (u:recvfrom()))
  end)

  it("gives a pipe end as a close-on-exec dualstack.fd; takes a Lua file and an integer", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a, b = pair()
    local r, w = assert(th.pipe())
    local f = assert(io.open("/dev/null"))
    assert.equal(1, a:sendmsg({ data = "p", fds = { r, f } }))
    th.closefd(r)
    f:close()
    local m = H.ok(b:recvmsg())
    assert.equal(2, #m.fds)
    local fd = m.fds[1]
    assert.matches("^fd: %d+$", tostring(fd))
    assert.is_true(th.cloexec(fd:getfd()))
    local n = fd:release()
    assert.equal("fd: closed", tostring(fd))
    H.raises("attempt to use a closed descriptor", function() fd:release() end)
    th.closefd(n)
    th.closefd(w)
    assert.equal(1, m.fds[2]:close())
  end)

  it("closes every descriptor of a truncated control message", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a, b = pair()
    local before = H.open_fds()
    local many = {}
    for i = 1, 20 do many[i] = 0 end
    assert.equal(1, a:sendmsg({ data = "x", fds = many }))
    local m = H.ok(b:recvmsg())
    assert.is_true(m.ctruncated)
    assert.is_nil(m.fds)
    assert.equal(before, H.open_fds())
  end)

  it("never leaks through recv, recvfrom and receive", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a, b = pair()
    local s, t = pair("stream")
    local before = H.open_fds()
    a:sendmsg({ data = "one", fds = { 0, 1 } })
    assert.equal("one", b:recv())
    a:sendmsg({ data = "two", fds = { 0 } })
    assert.same({ "two", "" }, { b:recvfrom() })
    s:sendmsg({ data = "line\n", fds = { 0 } })
    assert.equal("line", t:receive())
    assert.equal(before, H.open_fds())
  end)

  it("refuses more than 253, a closed one, and what is no descriptor", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a = pair()
    local many = {}
    for i = 1, 254 do many[i] = 0 end
    H.raises("bad field 'fds' in message (more than 253 descriptors)",
             function() a:sendmsg({ data = "x", fds = many }) end)
    local u = ds.udp()
    u:close()
    H.raises("bad field 'fds' in message (descriptor 2 is closed)",
             function() a:sendmsg({ data = "x", fds = { 0, u } }) end)
    H.raises("bad field 'fds' in message (descriptor 1: socket, fd, file or integer expected, got string)",
             function() a:sendmsg({ data = "x", fds = { "0" } }) end)
    H.raises("udp socket expected, got unix socket", function() a:recvmmsg(2) end)
  end)

  it("reads the descriptors after the message's fields: a closing __index is seen", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a = pair()
    local victim = ds.udp()
    local msg = setmetatable({ fds = { victim } }, { __index = function(_, k)
      if k == "data" then
        victim:close()
        keep(ds.udp()) -- likely takes the number the victim had
        return "x"
      end
    end })
    H.raises("bad field 'fds' in message (descriptor 1 is closed)", function() a:sendmsg(msg) end)
  end)

  it("closes what arrived when memory runs out at any allocation of recvmsg (rule 2)", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a, b = pair()
    finally(function() th.failalloc(nil) end)
    local u = keep(ds.udp())
    collectgarbage() -- garbage of earlier cases closes its descriptors now, not in the loop
    collectgarbage()
    local before = H.open_fds()
    local failed = 0
    for n = 0, 40 do
      a:sendmsg({ data = "x", fds = { u, 0, 1, u } })
      local ok, m
      pcall(pcall, type, 1) -- call records and stack first: the error is raised inside recvmsg
      th.failalloc(n)
      ok, m = pcall(b.recvmsg, b)
      th.failalloc(nil)
      if ok then
        for _, o in ipairs(m.fds) do o:close() end
      else
        failed = failed + 1
        assert.matches("not enough memory", tostring(m))
      end
      m = nil
      collectgarbage()
      collectgarbage()
      b:settimeout(0) -- a receive that failed before it read leaves the message queued
      local r = b:recvmsg()
      if r and r.fds then for _, o in ipairs(r.fds) do o:close() end end
      b:settimeout(H.WAIT)
    end
    collectgarbage()
    assert.is_true(failed > 0)
    assert.equal(before, H.open_fds())
  end)

  it("leaves the descriptor count unchanged after 10,000 passes", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a, b = pair()
    collectgarbage()
    collectgarbage()
    local before = H.open_fds()
    local t0 = H.now()
    for i = 1, 10000 do
      a:sendmsg({ data = "p", fds = { 1 } })
      local m = b:recvmsg()
      if i % 2 == 0 then m.fds[1]:close() end
      if i % 1000 == 0 then collectgarbage() end
    end
    collectgarbage()
    collectgarbage()
    assert.equal(before, H.open_fds())
    assert.is_true(H.now() - t0 < 10)
  end)
end)

-- ---- between two processes ----------------------------------------------

-- Starts a child lua5.4 (the Lua under test: flavour runs put theirs first
-- on PATH, as for the peercred child of unix_spec) that connects a local
-- stream socket c to path and runs body; returns its pipe (stdout and
-- stderr), which the case reads to the end for its failure messages.
local function child(dir, path, body)
  local file = dir .. "/child.lua"
  local f = assert(io.open(file, "w"))
  f:write(([[
package.path = "lua/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"
local c = assert(ds.unix())
c:settimeout(10)
assert(c:connect(%q))
]]):format(path), body)
  f:close()
  return assert(io.popen("exec timeout 30 lua5.4 " .. file .. " 2>&1"))
end

-- How long the parent waits for the child: its start, under an emulator too.
local CHILD_WAIT = 10

-- A private directory with a listening local stream socket in it.
local function rendezvous()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
  local srv = keep(H.ok(ds.unix()))
  srv:settimeout(CHILD_WAIT)
  assert.equal(1, srv:bind(dir .. "/pass.sock"))
  assert.equal(1, srv:listen())
  return dir, srv
end

describe("descriptor passing between two processes", function()
  it("gives a child a UDP socket the parent bound and closed: the child answers from its port", function()
    local why = H.needs_unix("descriptor passing to a child lua5.4", true); if why then return pending(why) end
    local dir, srv = rendezvous()
    finally(function() os.execute("rm -rf " .. dir) end)
    local p = child(dir, dir .. "/pass.sock", [[
local m = assert(c:recvmsg())
local u = assert(m.fds and m.fds[1], "no descriptor came with " .. tostring(m.data))
u:settimeout(10)
assert(c:send(tostring(u) .. "\n"))
local data, addr, port = assert(u:recvfrom())
assert(u:sendto(data:upper(), addr, port))
print("answered " .. data)
]])
    local a = keep(H.ok(srv:accept()))
    a:settimeout(CHILD_WAIT)
    local u, port = H.udp_bound("inet", "127.0.0.1")
    assert.equal(4, a:sendmsg({ data = "take", fds = { u } }))
    u:close() -- from here only the child's copy holds the port
    local seen = a:receive()
    local c = keep(H.udp_bound("inet", "127.0.0.1"))
    local sent = c:sendto("question", "127.0.0.1", port)
    local data, addr, from = c:recvfrom()
    local out = p:read("a")
    p:close()
    assert(tostring(seen):match("^udp{inet, fd %d+, 127%.0%.0%.1:" .. port .. "}$"), tostring(seen) .. "\n" .. out)
    assert.equal(8, sent, out)
    assert.equal("QUESTION", data, out)
    assert.equal("127.0.0.1", addr, out)
    assert.equal(port, from, out)
    assert.equal("answered question\n", out)
  end)

  it("takes from a child a UDP socket it bound, which answers from its port after the child exits", function()
    local why = H.needs_unix("descriptor passing from a child lua5.4", true); if why then return pending(why) end
    local dir, srv = rendezvous()
    finally(function() os.execute("rm -rf " .. dir) end)
    local p = child(dir, dir .. "/pass.sock", [[
local u = assert(ds.udp { family = "inet" })
assert(u:bind("127.0.0.1", 0))
local _, port = u:getsockname()
assert(c:sendmsg { data = tostring(port), fds = { u } })
u:close()
print("passed " .. port)
]])
    local a = keep(H.ok(srv:accept()))
    a:settimeout(CHILD_WAIT)
    local m = a:recvmsg()
    local out = p:read("a")
    p:close() -- the child has exited: its copy is closed
    assert.truthy(m, out)
    assert.truthy(m.fds, "no descriptor came: " .. out)
    local port = math.tointeger(tonumber(m.data))
    assert.equal("passed " .. m.data .. "\n", out)
    local got = keep(m.fds[1])
    got:settimeout(H.WAIT)
    assert.matches("^udp{inet, fd %d+, 127%.0%.0%.1:" .. port .. "}$", tostring(got))
    local c = keep(H.udp_bound("inet", "127.0.0.1"))
    assert.equal(8, c:sendto("question", "127.0.0.1", port))
    local data, addr, from = got:recvfrom()
    assert.equal("question", data)
    assert.equal(4, got:sendto("ANSW", addr, from))
    assert.same({ "ANSW", "127.0.0.1", port }, { c:recvfrom() })
  end)
end)

-- ---- ICMP sockets ---------------------------------------------------------

-- In a namespace of its own whose ping_group_range admits root's group:
-- an ICMP socket of each kind and family passed over a socketpair, then
-- detached and adopted by fromfd; each object, and an echo round trip on
-- it to loopback, reported as "KIND_FAMILY_STEP".
local ICMP_PASS = [[
local ds = require "dualstack"
local a, b = ds.socketpair("dgram")
b:settimeout(2)
local function echo(key, s, family, dst)
  report(key, tostring(s) .. " " .. s:gettype())
  s:settimeout(2)
  assert(s:sendto(ds.icmp_echo { family = family, id = 77, seq = 5, data = "passed" }, dst))
  local p = assert(ds.icmp_parse(assert(s:recvfrom()), family))
  report(key .. "_reply", p.type .. " " .. p.seq .. " " .. p.data)
end
for _, kind in ipairs { "dgram", "raw" } do
  for family, dst in pairs { inet = "127.0.0.1", inet6 = "::1" } do
    local key = kind .. "_" .. family
    local s = assert(ds.icmp { family = family, raw = kind == "raw" })
    assert(a:sendmsg { data = key, fds = { s } })
    s:close()
    local got = assert(b:recvmsg()).fds[1]
    echo(key .. "_passed", got, family, dst)
    echo(key .. "_fromfd", assert(ds.fromfd(got:detach())), family, dst)
  end
end
]]

describe("descriptor passing of ICMP sockets", function()
  it("gives icmp sockets (datagram and raw, inet and inet6) that answer echoes, as fromfd does", function()
    local why = H.needs_icmp_netns("passing ICMP sockets"); if why then return pending(why) end
    local N = require "namespace"
    local r, out = N.run("-n", "ip link set lo up\n" .. N.ping_range(0, 2147483647), ICMP_PASS)
    for _, kind in ipairs { "dgram", "raw" } do
      for family, reply in pairs { inet = "0 5 passed", inet6 = "129 5 passed" } do
        for _, step in ipairs { "passed", "fromfd" } do
          local key = kind .. "_" .. family .. "_" .. step
          local want = "^icmp{" .. family .. ", " .. kind .. ", fd %d+[^}]*} " .. kind .. "$"
          assert(tostring(r[key]):match(want), key .. " is " .. tostring(r[key]) .. ":\n" .. out)
          assert.equal(reply, r[key .. "_reply"], key .. ":\n" .. out)
        end
      end
    end
  end)
end)
