-- Spoofed IPv4 peers: an IPv6 datagram whose source claims to be an
-- IPv4-mapped address (::ffff:a.b.c.d). Linux delivers it to IPv6 sockets,
-- and reported as-is it passes for a real IPv4 peer (ds.same/ds.unmap
-- allow-lists let it in, and answering it sends real IPv4 to the address
-- the attacker chose). Every receive path must drop it, count it in
-- sock:spoofed(), and keep real IPv4 traffic on the same socket working.
-- The spoofed datagrams are real packets from a raw socket (testhelp.c),
-- which needs root: without it the cases are pending with the reason.
local H = require "spec.helpers"
-- Raw IPv6 packets from testhelp.c: Windows refuses a raw IPv6 socket that
-- takes its own header (IPV6_HDRINCL), so each case is pending there.
local WHY = H.WINDOWS and "spoofing ::ffff: sources: Windows has no raw IPv6 socket that takes its own header "
  .. "(IPV6_HDRINCL), testhelp.send_raw6 is unavailable"
local cleanup = require "spec.cleanup"
local N = require "spec.namespace"

local ds, ok = H.ds, H.ok
local keep = cleanup.keep

after_each(cleanup.close_all)

local function is_root()
  local p = assert(io.popen("id -u"))
  local uid = p:read("l")
  p:close()
  return uid == "0"
end

local ROOT = not WHY and is_root()
-- Each case that sends raw packets starts with this: pending, never passed.
local NO_ROOT = "not root: raw IPv6 sockets need CAP_NET_RAW"
local help = require "spec.testhelp"

-- Sends one raw IPv6 UDP datagram claiming source src.
local function spoof(src, dst, port, payload)
  assert(help.send_raw6(src, dst, 4242, port, payload))
end

local function udp(family, host)
  local s, port = H.udp_bound(family, host)
  s:settimeout(H.WAIT)
  return keep(s), port
end

-- The next datagram's data and sender through each receive path.
local PATHS = {
  recvfrom = function(s)
    return s:recvfrom()
  end,
  receive = function(s) -- no sender: the data alone tells which came
    return s:receive()
  end,
  recvmsg = function(s)
    local m, err, code = s:recvmsg()
    if not m then return nil, err, code end
    return m.data, m.addr
  end,
  recvmmsg = function(s)
    local batch, err, code = s:recvmmsg(8)
    if not batch then return nil, err, code end
    assert.equal(1, #batch, "the spoofed datagram came in the batch")
    return batch[1].data, batch[1].addr
  end,
}

-- Where the real traffic of each socket family comes from.
local REAL = {
  dual = { family = "inet", from = "127.0.0.1", to = "127.0.0.1", addr = "::ffff:127.0.0.1" },
  inet6 = { family = "inet6", from = "::1", to = "::1", addr = "::1" },
}

describe("spoofed IPv4-mapped sources", function()
  for _, family in ipairs { "dual", "inet6" } do
    for name, recv in pairs(PATHS) do
      it(family .. " socket: " .. name .. " drops the spoof and gets the real datagram after it", function()
        if WHY then return pending(WHY) end
        if not ROOT then return pending(NO_ROOT) end
        local server, port = udp(family, "*")
        local real = REAL[family]
        local client = udp(real.family, real.from)
        spoof("::ffff:127.0.0.1", "::1", port, "spoof")
        ok(client:sendto("real", real.to, port))
        local data, addr = recv(server)
        assert.equal("real", data)
        if name ~= "receive" then assert.equal(real.addr, addr) end
        assert.equal(1, server:spoofed())
      end)
    end

    it(family .. " socket: a spoof alone is a timeout, counted", function()
      if WHY then return pending(WHY) end
      if not ROOT then return pending(NO_ROOT) end
      local server, port = udp(family, "*")
      server:settimeout(0.2)
      spoof("::ffff:127.0.0.1", "::1", port, "alone")
      assert.same({ nil, "timeout", "ETIMEDOUT" }, { server:recvfrom() })
      assert.equal(1, server:spoofed())
    end)
  end

  it("recvmsg with packet info drops the spoof; real IPv4 keeps its dst", function()
    if WHY then return pending(WHY) end
    if not ROOT then return pending(NO_ROOT) end
    local server, port = udp("dual", "*")
    ok(server:setoption("pktinfo", true))
    local client = udp("inet", "127.0.0.1")
    spoof("::ffff:127.0.0.2", "::1", port, "spoof")
    ok(client:sendto("real", "127.0.0.2", port))
    local m = ok(server:recvmsg())
    assert.same({ "real", "::ffff:127.0.0.1", "::ffff:127.0.0.2" }, { m.data, m.addr, m.dst })
    assert.equal(1, server:spoofed())
  end)

  -- The IPv4 arrival marker is on only while no IPv4-level receive option
  -- of the user's is (each marks IPv4 arrival itself): whatever is on,
  -- spoofs drop and real IPv4 passes.
  local function marker(s)
    return assert(help.getint(s:getfd(), help.IPPROTO_IP, help.IP_RECVORIGDSTADDR)) ~= 0
  end

  local function spoof_then_real(server, port, client, n)
    spoof("::ffff:127.0.0.1", "::1", port, "spoof")
    ok(client:sendto("real" .. n, "127.0.0.1", port))
    local data, addr = ok(server:recvfrom())
    assert.same({ "real" .. n, "::ffff:127.0.0.1", n }, { data, addr, server:spoofed() })
  end

  it("drops spoofs whichever receive options are on, and marks IPv4 only when needed", function()
    if WHY then return pending(WHY) end
    if not ROOT then return pending(NO_ROOT) end
    local server, port = udp("dual", "*")
    local client = udp("inet", "127.0.0.1")
    local steps = {
      { nil, true }, { "pktinfo", false }, { "recvhoplimit", false }, { "-pktinfo", false },
      { "-recvhoplimit", true }, { "recvtclass", false }, { "-recvtclass", true },
    }
    for n, step in ipairs(steps) do
      local opt, want = step[1], step[2]
      if opt then ok(server:setoption(opt:gsub("^%-", ""), opt:sub(1, 1) ~= "-")) end
      assert.equal(want, marker(server), "marker after " .. tostring(opt))
      spoof_then_real(server, port, client, n)
    end
  end)

  it("an inet6 socket keeps the marker, so clearing v6only later still tells IPv4 apart", function()
    if WHY then return pending(WHY) end
    if not ROOT then return pending(NO_ROOT) end
    local s = keep(ok(H.ds.udp { family = "inet6" }))
    s:settimeout(H.WAIT)
    ok(s:setoption("pktinfo", true))
    assert.is_true(marker(s))
    ok(s:setoption("v6only", false))
    ok(s:bind("*", 0))
    local _, port = s:getsockname()
    spoof_then_real(s, port, udp("inet", "127.0.0.1"), 1)
  end)

  it("a batch keeps its real datagrams in order around spoofs", function()
    if WHY then return pending(WHY) end
    if not ROOT then return pending(NO_ROOT) end
    local server, port = udp("dual", "*")
    local v4, v6 = udp("inet", "127.0.0.1"), udp("inet6", "::1")
    spoof("::ffff:127.0.0.1", "::1", port, "s1")
    ok(v4:sendto("a", "127.0.0.1", port))
    spoof("::ffff:10.0.0.1", "::1", port, "s2")
    ok(v6:sendto("b", "::1", port))
    spoof("::ffff:127.0.0.1", "::1", port, "s3")
    local batch = ok(server:recvmmsg(16))
    assert.equal(2, #batch)
    assert.same({ "a", "::ffff:127.0.0.1" }, { batch[1].data, batch[1].addr })
    assert.same({ "b", "::1" }, { batch[2].data, batch[2].addr })
    assert.equal(3, server:spoofed())
  end)

  for _, model in ipairs { "dual", "per-family" } do
    it("udp_listen (" .. model .. " model) drops spoofs on recvfrom and recvmsg", function()
      if WHY then return pending(WHY) end
      if not ROOT then return pending(NO_ROOT) end
      local l = keep(ok(ds.udp_listen("*", 0, { dualstack = model == "dual" })))
      assert.equal(model == "dual" and 1 or 2, #l:sockets())
      l:settimeout(H.WAIT)
      local _, port = l:getsockname()
      local client = udp("inet", "127.0.0.1")
      spoof("::ffff:127.0.0.1", "::1", port, "spoof1")
      ok(client:sendto("real1", "127.0.0.1", port))
      local data, addr = l:recvfrom()
      assert.same({ "real1" }, { data })
      assert.is_true(ds.same(addr, "127.0.0.1"))
      spoof("::ffff:127.0.0.1", "::1", port, "spoof2")
      ok(client:sendto("real2", "127.0.0.1", port))
      local m = ok(l:recvmsg())
      assert.equal("real2", m.data)
      assert.equal(2, l:spoofed())
    end)
  end
end)

-- Across a veth pair: the peer namespace (the attacker's host) sends the
-- spoof over the wire to the receiver's global IPv6 address, between real
-- IPv4 and IPv6 datagrams. The receiver must report only the real ones.
local VETH_CHILD = [[
local ds = require "dualstack"
local server = assert(ds.udp())
assert(server:bind("*", 0))
server:settimeout(2)
local _, port = server:getsockname()
local SEND = [=[
local kind, src, dst, port, data = ...
if kind == "raw" then
  assert(require("spec.testhelp").send_raw6(src, dst, 4242, tonumber(port), data, "vb"))
else
  local s = assert(require("dualstack").udp { family = kind })
  assert(s:sendto(data, dst, tonumber(port)))
end
]=]
local function from_peer(kind, src, dst, data)
  local p = in_peer(SEND, kind, src, dst, port, data)
  p:read("a")
  assert(p:close(), "the peer failed to send " .. data)
end
-- Real traffic first, so neighbour discovery is done before the spoofs.
from_peer("inet6", "-", "2001:db8::1", "first6")
from_peer("inet", "-", "192.0.2.1", "first4")
from_peer("raw", "::ffff:127.0.0.1", "2001:db8::1", "spoof")
from_peer("inet", "-", "192.0.2.1", "real4")
from_peer("raw", "::ffff:192.0.2.2", "2001:db8::1", "spoof")
from_peer("inet6", "-", "2001:db8::1", "real6")
for i = 1, 4 do
  local data, addr = server:recvfrom()
  report("data" .. i, data)
  report("addr" .. i, addr)
end
report("spoofed", server:spoofed())
report("after", select(3, server:recvfrom()) or "ready")
os.execute("kill " .. os.getenv("PEER"))
]]

describe("spoofed IPv4-mapped sources across a veth pair", function()
  it("are dropped while real IPv4 and IPv6 from the same host arrive", function()
    if WHY then return pending(WHY) end
    local usable, reason = N.available("-n")
    if not usable then return pending(reason) end
    if WHY then return pending(WHY) end
    if not ROOT then return pending(NO_ROOT) end
    local r, out = N.run("-n", N.PAIR, VETH_CHILD)
    assert.same({ "first6", "2001:db8::2", "first4", "::ffff:192.0.2.2", "real4",
      "::ffff:192.0.2.2", "real6", "2001:db8::2", "2", "ETIMEDOUT" },
      { r.data1, r.addr1, r.data2, r.addr2, r.data3, r.addr3, r.data4, r.addr4, r.spoofed,
        r.after }, out)
  end)
end)
