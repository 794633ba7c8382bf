-- Packet-info messaging (issue 3) over real loopback traffic: recvmsg's
-- control data, sendmsg's per-packet source and header fields, reply, and
-- the batch calls. Traffic stays on 127.0.0.1, 127.0.0.2 and ::1.
local ds = require "dualstack"

local WAIT = 2    -- bound on every wait that should succeed
local IDLE = 0.2  -- bound on waits that must time out

local open = {}   -- sockets made by the current test, closed after it

-- Fails with the library's own message when a call returned nil, msg, code.
local function ok(value, msg, code)
  assert(value ~= nil, ("unexpected failure: %s (%s)"):format(tostring(msg), tostring(code)))
  return value
end

-- A UDP socket of family, bound to host port 0, with a bounded timeout.
-- opts are options to set before use. Returns the socket and its port.
local function udp(family, host, opts)
  local s = ok(ds.udp({ family = family }))
  open[#open + 1] = s
  s:settimeout(WAIT)
  for name, value in pairs(opts or {}) do ok(s:setoption(name, value)) end
  ok(s:bind(host, 0))
  local _, port = s:getsockname()
  return s, port
end

-- The usual server: dual, on the wildcard, with packet info.
local function dual_server(extra)
  local opts = { pktinfo = true }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return udp("dual", "*", opts)
end

-- Asserts that nothing arrives on s within IDLE seconds.
local function assert_idle(s, call, ...)
  s:settimeout(IDLE)
  local r, err, code = s[call](s, ...)
  s:settimeout(WAIT)
  assert.is_nil(r)
  assert.equal("timeout", err)
  assert.equal("ETIMEDOUT", code)
end

after_each(function()
  for _, s in ipairs(open) do s:close() end
  open = {}
end)

local H = require "spec.helpers"
local LO = H.LO -- the loopback by its flag ("lo" on Linux)

-- Queries a dual "*" server answers; client family, its bind address, the
-- address it queries, the dst the server must see, the reply source the
-- client must see.
local queries = {
  { "inet", "127.0.0.1", "127.0.0.1", "::ffff:127.0.0.1", "127.0.0.1" },
  { "inet", "127.0.0.1", "127.0.0.2", "::ffff:127.0.0.2", "127.0.0.2" },
  { "inet6", "::1", "::1", "::1", "::1" },
}

describe("recvmsg and reply on a dual server bound to *", function()
  it("finds the loopback interface index", function()
    assert.is_true(math.type(LO) == "integer" and LO > 0)
  end)

  -- A query from a client of family, bound to bind, sent to `to`: the
  -- server, its port, the client, its port and the received table.
  local function query(family, bind, to)
    local server, sport = dual_server()
    local client, cport = udp(family, bind)
    ok(client:sendto("query", to, sport))
    return server, sport, client, cport, ok(server:recvmsg())
  end

  for _, q in ipairs(queries) do
    local family, bind, to, dst, from = table.unpack(q)
    it(("sees dst %s (%s client)"):format(dst, family), function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local _, _, _, cport, m = query(family, bind, to)
      assert.same({ "query", dst, LO, cport }, { m.data, m.dst, m.ifindex, m.port })
    end)

    it(("answers %s from %s (%s client)"):format(dst, from, family), function()
      local why = to == "127.0.0.2" and H.needs_send_source("reply from 127.0.0.2"); if why then return pending(why) end
      local server, sport, client, _, m = query(family, bind, to)
      assert.equal(6, ok(server:reply(m, "answer")))
      local data, addr, port = client:recvfrom()
      assert.same({ "answer", from, sport }, { data, addr, port })
    end)
  end

  it("control: a plain sendto answer to 127.0.0.2 leaves from 127.0.0.1", function()
    -- The bug reply exists to fix: the kernel picks the source by route.
    local server, sport = dual_server()
    local client = udp("inet", "127.0.0.1")
    ok(client:sendto("query", "127.0.0.2", sport))
    local m = ok(server:recvmsg())
    assert.equal("::ffff:127.0.0.2", m.dst)
    ok(server:sendto("answer", m.addr, m.port))
    local data, addr = client:recvfrom()
    assert.equal("answer", data)
    assert.equal("127.0.0.1", addr)
  end)

  it("gives no dst or ifindex while pktinfo is off", function()
    local server, sport = udp("dual", "*")
    local client = udp("inet", "127.0.0.1")
    ok(client:sendto("query", "127.0.0.2", sport))
    local m = ok(server:recvmsg())
    assert.equal("query", m.data)
    assert.equal("::ffff:127.0.0.1", m.addr)
    assert.is_nil(m.dst)
    assert.is_nil(m.ifindex)
  end)
end)

describe("recvmsg and reply on single-family sockets", function()
  it("inet: dst in plain IPv4 form and reply from 127.0.0.2", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local why = H.needs_send_source("reply from 127.0.0.2"); if why then return pending(why) end
    local server, sport = udp("inet", "*", { pktinfo = true })
    local client, cport = udp("inet", "127.0.0.1")
    ok(client:sendto("query", "127.0.0.2", sport))
    local m = ok(server:recvmsg())
    assert.equal("127.0.0.2", m.dst)
    assert.equal("127.0.0.1", m.addr)
    assert.equal(cport, m.port)
    assert.equal(LO, m.ifindex)
    ok(server:reply(m, "answer"))
    local data, addr, port = client:recvfrom()
    assert.equal("answer", data)
    assert.equal("127.0.0.2", addr)
    assert.equal(sport, port)
  end)

  it("inet: repeated queries compare the cached addresses by their 4 bytes", function()
    -- make check-valgrind: an IPv4 address sets 4 of its 16 bytes, and the
    -- cache of the last dst and peer texts must not read the other 12.
    local server, sport = udp("inet", "*", { pktinfo = true })
    local client = udp("inet", "127.0.0.1")
    local dsts = {}
    for i, to in ipairs { "127.0.0.2", "127.0.0.2", "127.0.0.1", "127.0.0.1" } do
      ok(client:sendto("q", to, sport))
      local m = ok(server:recvmsg())
      dsts[i] = m.dst .. " " .. m.addr
    end
    assert.same({ "127.0.0.2 127.0.0.1", "127.0.0.2 127.0.0.1", "127.0.0.1 127.0.0.1",
      "127.0.0.1 127.0.0.1" }, dsts)
  end)

  it("inet6: dst ::1 and reply from ::1", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local server, sport = udp("inet6", "*", { pktinfo = true })
    local client, cport = udp("inet6", "::1")
    ok(client:sendto("query", "::1", sport))
    local m = ok(server:recvmsg())
    assert.equal("::1", m.dst)
    assert.equal("::1", m.addr)
    assert.equal(cport, m.port)
    assert.equal(LO, m.ifindex)
    ok(server:reply(m, "answer"))
    local data, addr, port = client:recvfrom()
    assert.equal("answer", data)
    assert.equal("::1", addr)
    assert.equal(sport, port)
  end)
end)

describe("sendmsg source address", function()
  it("sends from an explicit IPv4 src on a wildcard dual socket", function()
    local why = H.needs_send_source("sendmsg src"); if why then return pending(why) end
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    local n = ok(server:sendmsg { data = "hello", addr = "127.0.0.1", port = cport, src = "127.0.0.2" })
    assert.equal(5, n)
    local data, addr = client:recvfrom()
    assert.equal("hello", data)
    assert.equal("127.0.0.2", addr)
  end)

  it("takes the src in mapped form too", function()
    local why = H.needs_send_source("sendmsg src"); if why then return pending(why) end
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    ok(server:sendmsg { data = "x", addr = "::ffff:127.0.0.1", port = cport, src = "::ffff:127.0.0.2" })
    local _, addr = client:recvfrom()
    assert.equal("127.0.0.2", addr)
  end)

  it("sends from an explicit IPv6 src", function()
    local server = udp("dual", "*")
    local client, cport = udp("inet6", "::1")
    ok(server:sendmsg { data = "x", addr = "::1", port = cport, src = "::1" })
    local _, addr = client:recvfrom()
    assert.equal("::1", addr)
  end)

  it("treats a wildcard src as no source", function()
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    ok(server:sendmsg { data = "x", addr = "127.0.0.1", port = cport, src = "*" })
    local _, addr = client:recvfrom()
    assert.equal("127.0.0.1", addr)
  end)

  it("sends through an explicit ifindex alone, both families", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local server = udp("dual", "*")
    for _, c in ipairs { { "inet", "127.0.0.1" }, { "inet6", "::1" } } do
      local client, cport = udp(c[1], c[2])
      ok(server:sendmsg { data = "via-lo", addr = c[2], port = cport, ifindex = LO })
      local data, addr = client:recvfrom()
      assert.equal("via-lo", data)
      assert.equal(c[2], addr)
    end
  end)

  it("reply without a dst (pktinfo off) raises on a wildcard socket, sending nothing", function()
    local server, sport = udp("dual", "*")
    local client = udp("inet", "127.0.0.1")
    ok(client:sendto("query", "127.0.0.2", sport))
    local m = ok(server:recvmsg())
    assert.is_nil(m.dst)
    assert.has_error(function() server:reply(m, "answer") end,
      "bad field 'dst' in message (missing: a socket bound to the wildcard needs pktinfo to answer)")
    client:settimeout(0.1)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { client:recvfrom() })
  end)

  it("refuses an IPv6 src for an IPv4 destination, naming both", function()
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    local n, err, code = server:sendmsg { data = "x", addr = "127.0.0.1", port = cport, src = "::1" }
    assert.is_nil(n)
    assert.equal("source ::1 (IPv6) cannot send to ::ffff:127.0.0.1 (IPv4): the families differ", err)
    assert.equal("EINVAL", code)
    assert_idle(client, "recvfrom")
  end)

  it("refuses an IPv4 src for an IPv6 destination", function()
    local server = udp("dual", "*")
    local client, cport = udp("inet6", "::1")
    local n, err, code = server:sendmsg { data = "x", addr = "::1", port = cport, src = "127.0.0.2" }
    assert.is_nil(n)
    assert.matches("127.0.0.2 (IPv4) cannot send to ::1 (IPv6): the families differ", err, 1, true)
    assert.equal("EINVAL", code)
    assert_idle(client, "recvfrom")
  end)

  it("sends on a connected socket without addr, control data included", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local why = H.needs_send_control("a per-message tclass"); if why then return pending(why) end
    local server, sport = udp("dual", "*", { pktinfo = true, recvtclass = true })
    local client = udp("dual", "*")
    ok(client:connect("127.0.0.2", sport))
    ok(client:sendmsg { data = "connected", tclass = 0x20 })
    local m = ok(server:recvmsg())
    assert.equal("connected", m.data)
    assert.equal("::ffff:127.0.0.2", m.dst)
    assert.equal(0x20, m.tclass)
  end)

  it("refuses a src of the other family than the connected peer", function()
    local _, sport = udp("dual", "*")
    local client = udp("dual", "*")
    ok(client:connect("127.0.0.1", sport))
    local n, err, code = client:sendmsg { data = "x", src = "::1" }
    assert.is_nil(n)
    assert.matches("families differ", err, 1, true)
    assert.equal("EINVAL", code)
  end)
end)

-- Destinations for header-field checks: IPv4 through a mapped address on
-- the dual receiver, and native IPv6.
local paths = { { "IPv4", "127.0.0.1" }, { "IPv6", "::1" } }

describe("hop limit, traffic class and ECN", function()
  for _, p in ipairs(paths) do
    local label, to = p[1], p[2]

    -- Sends msg fields to a receiver with recvhoplimit/recvtclass on and
    -- returns what it received.
    local function roundtrip(fields)
      local receiver, rport = udp("dual", "*", { recvhoplimit = true, recvtclass = true })
      local sender = udp("dual", "*")
      fields.data, fields.addr, fields.port = "probe", to, rport
      ok(sender:sendmsg(fields))
      return ok(receiver:recvmsg())
    end

    it(label .. ": per-packet hoplimit and tclass arrive", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local why = H.needs_send_control("per-message hoplimit and tclass"); if why then return pending(why) end
      local m = roundtrip { hoplimit = 7, tclass = 0xb8 }
      assert.equal(7, m.hoplimit)
      assert.equal(0xb8, m.tclass)
      assert.equal(0, m.ecn)
    end)

    it(label .. ": per-packet ecn sets the low bits", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local why = H.needs_send_control("a per-message ecn"); if why then return pending(why) end
      local m = roundtrip { ecn = 2 }
      assert.equal(2, m.ecn)
      assert.equal(2, m.tclass)
    end)

    it(label .. ": ecn combines with tclass", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local why = H.needs_send_control("per-message tclass, ecn and hoplimit"); if why then return pending(why) end
      local m = roundtrip { tclass = 0x20, ecn = 1, hoplimit = 33 }
      assert.equal(0x21, m.tclass)
      assert.equal(1, m.ecn)
      assert.equal(33, m.hoplimit)
    end)

    it(label .. ": socket-level hoplimit and tclass arrive", function()
      local why = label == "IPv6" and H.needs_cmsg("a received IPV6_TCLASS"); if why then return pending(why) end
      local why = H.needs_ipv6_tclass("a dual sender's tclass option"); if why then return pending(why) end
      local receiver, rport = udp("dual", "*", { recvhoplimit = true, recvtclass = true })
      local sender = udp("dual", "*", { hoplimit = 9, tclass = 0x10 })
      ok(sender:sendto("probe", to, rport))
      local m = ok(receiver:recvmsg())
      assert.equal(9, m.hoplimit)
      assert.equal(0x10, m.tclass)
      assert.equal(0, m.ecn)
    end)

    it(label .. ": hoplimit -1 sends with the socket's hop limit", function()
      -- -1 is IPv6's "use the default"; the field means the same for both
      -- families, so an IPv4 datagram must not fail on it.
      local receiver, rport = udp("dual", "*", { recvhoplimit = true })
      local sender = udp("dual", "*", { hoplimit = 9 })
      ok(sender:sendmsg { data = "probe", addr = to, port = rport, hoplimit = -1 })
      assert.equal(9, ok(receiver:recvmsg()).hoplimit)
    end)

    it(label .. ": CE (3) is refused, as ecn or in tclass, and nothing is sent", function()
      local receiver, rport = udp("dual", "*")
      local sender = udp("dual", "*")
      for _, fields in ipairs { { ecn = 3 }, { tclass = 0x23 }, { tclass = 0x20, ecn = 3 } } do
        fields.data, fields.addr, fields.port = "ce", to, rport
        local n, err, code = sender:sendmsg(fields)
        assert.is_nil(n)
        assert.equal("ECN codepoint CE (3) may not be sent", err)
        assert.equal("EINVAL", code)
      end
      assert_idle(receiver, "recvmsg")
    end)
  end

  it("leaves hoplimit, tclass and ecn absent while the options are off", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local receiver, rport = udp("dual", "*")
    local sender = udp("dual", "*")
    ok(sender:sendmsg { data = "x", addr = "::1", port = rport, hoplimit = 5, tclass = 8 })
    local m = ok(receiver:recvmsg())
    assert.is_nil(m.hoplimit)
    assert.is_nil(m.tclass)
    assert.is_nil(m.ecn)
  end)

  it("raises on bad field types and ranges", function()
    local sender = udp("dual", "*")
    local function bad(fields, pattern)
      fields.data = fields.data or "x"
      fields.addr, fields.port = "::1", fields.port or 9
      local okc, err = pcall(sender.sendmsg, sender, fields)
      assert.is_false(okc)
      assert.matches(pattern, tostring(err), 1, true)
    end
    bad({ data = 1 }, "bad field 'data' in message")
    bad({ hoplimit = 256 }, "bad field 'hoplimit' in message")
    bad({ tclass = 256 }, "bad field 'tclass' in message")
    bad({ ecn = 4 }, "bad field 'ecn' in message")
    bad({ ecn = "1" }, "bad field 'ecn' in message")
    bad({ port = 70000 }, "bad field 'port' in message")
    bad({ src = 1 }, "bad field 'src' in message")
  end)
end)

describe("truncation", function()
  it("flags a datagram longer than the buffer, with its real size", function()
    local receiver, rport = udp("dual", "*")
    local sender = udp("inet", "127.0.0.1")
    ok(sender:sendto(("x"):rep(100), "127.0.0.1", rport))
    local m = ok(receiver:recvmsg(10))
    assert.equal(("x"):rep(10), m.data)
    -- Only Linux reports a truncated datagram's real length (the reference);
    -- Windows reports the bytes received.
    assert.equal(H.WINDOWS and 10 or 100, m.size)
    assert.is_true(m.truncated)
    assert.is_false(m.ctruncated)
  end)

  it("does not flag a datagram that fits", function()
    local receiver, rport = udp("dual", "*")
    local sender = udp("inet", "127.0.0.1")
    ok(sender:sendto(("y"):rep(10), "127.0.0.1", rport))
    local m = ok(receiver:recvmsg(10))
    assert.equal(10, #m.data)
    assert.equal(10, m.size)
    assert.is_false(m.truncated)
  end)

  -- Control data is cut short only by options enabled outside dualstack
  -- (cmsgspace cannot shrink the buffer below what dualstack's need).
  local function with_outside_pktinfo()
    local helper = require "spec.testhelp"
    local receiver, rport = udp("dual", "*")
    assert(helper.setint(receiver:getfd(), helper.IPPROTO_IPV6, helper.IPV6_RECVPKTINFO, 1))
    return receiver, rport
  end

  it("flags control data cut short by an option enabled outside dualstack", function()
    local why = H.needs_ctrunc("MSG_CTRUNC"); if why then return pending(why) end
    local receiver, rport = with_outside_pktinfo()
    ok(receiver:setoption("cmsgspace", 1))
    assert.equal(1, receiver:getoption("cmsgspace"))
    local sender = udp("inet6", "::1")
    ok(sender:sendto("z", "::1", rport))
    if H.WINE then
      -- Wine fails WSARecvMsg with WSAEMSGSIZE and no byte count when only
      -- the control data is cut (Windows flags MSG_CTRUNC): an error, never
      -- a datagram of no bytes.
      assert.same({ nil, "message too long", "EMSGSIZE" }, { receiver:recvmsg() })
    else
      local m = ok(receiver:recvmsg())
      assert.equal("z", m.data)
      assert.is_true(m.ctruncated)
      assert.is_nil(m.dst)
    end
    -- The remedy: room for it, and its field is reported.
    ok(receiver:setoption("cmsgspace", 128))
    ok(sender:sendto("z", "::1", rport))
    local m = ok(receiver:recvmsg())
    assert.is_false(m.ctruncated)
    assert.equal("::1", m.dst)
  end)

  it("drops IPv4 datagrams whose arrival cut control data hides, until there is room", function()
    -- An IPv4 peer is only believed with the IPv4-level control data that
    -- real IPv4 traffic carries; cut off, the claim is unproven.
    local receiver, rport = with_outside_pktinfo()
    receiver:settimeout(0.2)
    local sender = udp("inet", "127.0.0.1")
    ok(sender:sendto("cut", "127.0.0.2", rport))
    if H.WINE then -- no byte count comes with cut control data there (see above)
      assert.same({ nil, "message too long", "EMSGSIZE" }, { receiver:recvmsg() })
    else
      assert.same({ nil, "timeout", "ETIMEDOUT" }, { receiver:recvmsg() })
      assert.equal(1, receiver:spoofed())
    end
    ok(receiver:setoption("cmsgspace", 128))
    ok(sender:sendto("room", "127.0.0.2", rport))
    local m = ok(receiver:recvmsg())
    -- Where the arrival marker is the IPv4 pktinfo option itself (Windows),
    -- an IPv4 destination dualstack's own pktinfo did not ask for is not
    -- reported, and IPV6_PKTINFO says nothing of IPv4 traffic there.
    local dst = not H.WINDOWS and "::ffff:127.0.0.2" or nil
    assert.same({ "room", "::ffff:127.0.0.1", dst, false }, { m.data, m.addr, m.dst, m.ctruncated })
  end)

  it("cmsgspace never shrinks the buffer below what the enabled options need", function()
    local receiver, rport = udp("dual", "*", { pktinfo = true, cmsgspace = 1 })
    local sender = udp("inet", "127.0.0.1")
    ok(sender:sendto("z", "127.0.0.2", rport))
    local m = ok(receiver:recvmsg())
    assert.same({ "z", false, "::ffff:127.0.0.2" }, { m.data, m.ctruncated, m.dst })
  end)

  it("sizes the automatic control buffer for every option on at once", function()
    local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
    local why = H.needs_linux_option("timestamp", "every option on at once"); if why then return pending(why) end
    local receiver, rport = udp("dual", "*",
      { pktinfo = true, recvhoplimit = true, recvtclass = true, timestamp = true })
    local sender = udp("inet", "127.0.0.1")
    ok(sender:sendto("all", "127.0.0.2", rport))
    local m = ok(receiver:recvmsg())
    assert.is_false(m.ctruncated)
    assert.equal("::ffff:127.0.0.2", m.dst)
    assert.equal(LO, m.ifindex)
    assert.equal(64, m.hoplimit) -- Linux default TTL
    assert.equal(0, m.tclass)
    assert.is_number(m.timestamp)
  end)
end)

describe("UDP segmentation offload and GRO", function()
  for _, to in ipairs { "127.0.0.1", "::1" } do
    it(to .. ": a segmented send arrives whole with its segment size when gro is on", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local why = H.needs_linux_option("gro"); if why then return pending(why) end
      local receiver, rport = udp("dual", "*", { gro = true })
      assert.is_true(receiver:getoption("gro"))
      local sender = udp("dual", "*")
      assert.equal(3000, ok(sender:sendmsg { data = ("s"):rep(3000), addr = to, port = rport, segment = 1000 }))
      local m = ok(receiver:recvmsg())
      assert.equal(3000, m.size)
      assert.equal(1000, m.segment)
      assert_idle(receiver, "recvmsg")
    end)

    it(to .. ": without gro the receiver gets the segments one by one", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local why = H.needs_linux_option("gro", "segmented sends (segment, UDP GSO)"); if why then return pending(why) end
      local receiver, rport = udp("dual", "*")
      local sender = udp("dual", "*")
      ok(sender:sendmsg { data = ("s"):rep(3000), addr = to, port = rport, segment = 1000 })
      for _ = 1, 3 do
        local m = ok(receiver:recvmsg())
        assert.equal(1000, m.size)
        assert.is_nil(m.segment)
      end
      assert_idle(receiver, "recvmsg")
    end)
  end
end)

describe("message table reuse", function()
  it("returns the table passed in and drops fields of options turned off", function()
    local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
    local why = H.needs_linux_option("timestamp"); if why then return pending(why) end
    local receiver, rport = udp("dual", "*", { pktinfo = true, timestamp = true })
    local sender = udp("inet", "127.0.0.1")
    local m = { keep = "mine" }
    ok(sender:sendto("first", "127.0.0.2", rport))
    assert.equal(m, ok(receiver:recvmsg(nil, m)))
    assert.equal("first", m.data)
    assert.equal("::ffff:127.0.0.2", m.dst)
    assert.is_number(m.timestamp)
    ok(receiver:setoption("timestamp", false))
    ok(receiver:setoption("pktinfo", false))
    ok(sender:sendto("second", "127.0.0.1", rport))
    assert.equal(m, ok(receiver:recvmsg(100, m)))
    assert.equal("second", m.data)
    assert.is_nil(m.timestamp)
    assert.is_nil(m.dst)
    assert.is_nil(m.ifindex)
    assert.equal(6, m.size)
    assert.is_false(m.truncated)
  end)

  -- Sends data from sender to port on ::1 and receives it into m.
  local function via6(sender, receiver, port, data, m, size)
    ok(sender:sendto(data, "::1", port))
    return ok(receiver:recvmsg(size, m))
  end

  it("updates the per-datagram fields of a reused table", function()
    local receiver, rport = udp("dual", "*", { pktinfo = true })
    local sender = udp("inet6", "::1")
    local m = {}
    via6(sender, receiver, rport, "a long datagram", m, 4)
    -- Only Linux reports a truncated datagram's real length; Windows
    -- reports the bytes received.
    assert.same({ "a lo", H.WINDOWS and 4 or 15, true }, { m.data, m.size, m.truncated })
    via6(sender, receiver, rport, "ok", m, 4)
    assert.same({ "ok", 2, false, false }, { m.data, m.size, m.truncated, m.ctruncated })
    assert.equal("::1", m.dst)
  end)

  -- Two receivers with different options (a: hoplimit, b: pktinfo), and
  -- a sender on ::1; returns a, its port, b, its port, the sender.
  local function differing_receivers()
    local a, aport = udp("dual", "*", { recvhoplimit = true })
    local b, bport = udp("dual", "*", { pktinfo = true })
    return a, aport, b, bport, udp("inet6", "::1")
  end

  it("clears what another socket's options put in a table passed between them", function()
    local a, aport, b, bport, sender = differing_receivers()
    local m = {}
    via6(sender, a, aport, "1", m)
    assert.same({ 64, nil }, { m.hoplimit, m.dst })
    via6(sender, b, bport, "2", m)
    assert.same({ nil, "::1" }, { m.hoplimit, m.dst })
    via6(sender, a, aport, "3", m)
    assert.same({ 64, nil, nil }, { m.hoplimit, m.dst, m.ifindex })
  end)

  it("clears another socket's fields from the tables of a batch", function()
    local a, aport, b, bport, sender = differing_receivers()
    local m = {}
    via6(sender, a, aport, "1", m)
    assert.equal(64, m.hoplimit)
    ok(sender:sendto("2", "::1", bport))
    assert.equal(m, ok(b:recvmmsg(1, nil, { m }))[1])
    assert.same({ "2", nil, "::1" }, { m.data, m.hoplimit, m.dst })
  end)

  it("clears the fields of a table new to it", function()
    local receiver, rport = udp("dual", "*", { pktinfo = true })
    local sender, sport = udp("inet6", "::1")
    local m = { hoplimit = 7, tclass = 1, ecn = 1, segment = 1200, timestamp = 1.5 }
    via6(sender, receiver, rport, "y", m)
    assert.is_true(m.ifindex > 0)
    assert.same({ data = "y", addr = "::1", port = sport, size = 1, truncated = false,
                  ctruncated = false, dst = "::1", ifindex = m.ifindex }, m)
  end)

  it("clears the fields of a table it returned when that comes back", function()
    local receiver, rport = udp("dual", "*", { pktinfo = true })
    local sender = udp("inet6", "::1")
    local m = via6(sender, receiver, rport, "x")
    m.hoplimit = 7
    via6(sender, receiver, rport, "y", m)
    assert.same({ "y", nil, "::1" }, { m.data, m.hoplimit, m.dst })
  end)

  it("clears a field stored in a table it filled before when a datagram has none", function()
    -- No exception: after a receive every message field is the datagram's.
    local receiver, rport = udp("dual", "*", { pktinfo = true })
    local sender = udp("inet6", "::1")
    local m = {}
    via6(sender, receiver, rport, "x", m)
    m.hoplimit, m.src, m.keep = 7, "::1", "mine"
    via6(sender, receiver, rport, "y", m)
    assert.same({ "y", nil, nil, "::1", "mine" }, { m.data, m.hoplimit, m.src, m.dst, m.keep })
  end)

  it("clears fields alike with a method kept from before a reload of the module", function()
    -- Nothing is remembered about tables: an old method and a new one agree.
    local a, aport, b, bport, sender = differing_receivers()
    local old_recvmsg, m = b.recvmsg, {}
    ok(sender:sendto("1", "::1", bport))
    ok(old_recvmsg(b, nil, m))
    package.loaded["dualstack.core"] = nil
    require "dualstack.core"
    assert.are_not.equal(old_recvmsg, b.recvmsg)
    via6(sender, a, aport, "2", m)
    assert.equal(64, m.hoplimit)
    ok(sender:sendto("3", "::1", bport))
    ok(old_recvmsg(b, nil, m))
    assert.same({ "3", nil }, { m.data, m.hoplimit })
  end)

  it("leaves no stale field when a memory error cuts a fill short", function()
    -- m holds a hoplimit from a; a fill from b must clear it and add dst
    -- and ifindex, and growing m for those allocates. Whatever that fill
    -- wrote before an allocation failed, later fills from a and from b
    -- each clear what the other's options set.
    local helper = require "spec.testhelp"
    finally(function() helper.failalloc(nil) end)
    local a, aport, b, bport, sender = differing_receivers()
    local big = ("b"):rep(64)
    local inside = 0 -- cuts after the fill began (data stored)
    for n = 0, 40 do
      local m = via6(sender, a, aport, "a", {})
      ok(sender:sendto(big, "::1", bport))
      helper.failalloc(n)
      local done = pcall(b.recvmsg, b, nil, m)
      helper.failalloc(nil)
      if done then break end
      b:settimeout(0) -- a failure before recvmsg read the datagram left it queued
      while b:recvmsg() do end
      b:settimeout(WAIT)
      if m.data == big then inside = inside + 1 end
      via6(sender, a, aport, "from a", m)
      assert.same({ "from a", 64, nil, nil }, { m.data, m.hoplimit, m.dst, m.ifindex })
      via6(sender, b, bport, "from b", m)
      assert.same({ "from b", nil, "::1" }, { m.data, m.hoplimit, m.dst })
    end
    assert.is_true(inside > 0, "no cut fell inside a fill")
  end)

  it("reports options enabled on the descriptor outside dualstack", function()
    -- The cmsgspace remedy of the README: another library enables the
    -- option on getfd(), dualstack sizes the control buffer by cmsgspace.
    local helper = require "spec.testhelp"
    local receiver, rport = udp("dual", "*", { cmsgspace = 64 })
    local fd = receiver:getfd()
    assert(helper.setint(fd, helper.IPPROTO_IPV6, helper.IPV6_RECVHOPLIMIT, 1))
    assert(helper.setint(fd, helper.IPPROTO_IP, helper.IP_RECVTTL, 1))
    local m = {}
    via6(udp("inet6", "::1"), receiver, rport, "6", m)
    assert.same({ "6", 64 }, { m.data, m.hoplimit })
    local four = udp("inet", "127.0.0.1")
    ok(four:sendto("4", "127.0.0.1", rport))
    ok(receiver:recvmsg(nil, m))
    assert.same({ "4", 64, nil }, { m.data, m.hoplimit, m.dst })
  end)

  it("returns a new table for each call without one", function()
    local receiver, rport = udp("dual", "*")
    local sender = udp("inet", "127.0.0.1")
    ok(sender:sendto("a", "127.0.0.1", rport))
    ok(sender:sendto("b", "127.0.0.1", rport))
    local m1, m2 = ok(receiver:recvmsg()), ok(receiver:recvmsg())
    assert.are_not.equal(m1, m2)
    assert.equal("a", m1.data)
    assert.equal("b", m2.data)
  end)
end)

describe("timestamps", function()
  it("are float seconds near the wall clock, in order", function()
    local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
    local why = H.needs_linux_option("timestamp"); if why then return pending(why) end
    local receiver, rport = udp("dual", "*", { timestamp = true })
    local sender = udp("inet6", "::1")
    ok(sender:sendto("t1", "::1", rport))
    ok(sender:sendto("t2", "::1", rport))
    local m1, m2 = ok(receiver:recvmsg()), ok(receiver:recvmsg())
    assert.equal("float", math.type(m1.timestamp))
    assert.is_true(math.abs(m1.timestamp - os.time()) < 5, "timestamp " .. m1.timestamp)
    assert.is_true(m2.timestamp >= m1.timestamp)
  end)

  it("arrive for IPv4 datagrams on a dual socket too", function()
    local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
    local why = H.needs_linux_option("timestamp"); if why then return pending(why) end
    local receiver, rport = udp("dual", "*", { timestamp = true })
    local sender = udp("inet", "127.0.0.1")
    ok(sender:sendto("t", "127.0.0.1", rport))
    local m = ok(receiver:recvmsg())
    assert.is_true(math.abs(m.timestamp - os.time()) < 5)
  end)
end)

-- Collects `want` datagrams from s with recvmmsg; returns them (copied,
-- since the tables are reused) and how many calls it took.
local function collect(s, want, msgs)
  local got, calls = {}, 0
  while #got < want and calls < want do
    calls = calls + 1
    local r = ok(s:recvmmsg(16, nil, msgs))
    assert.equal(msgs or r, r)
    for i = 1, #r do
      got[#got + 1] = { data = r[i].data, dst = r[i].dst, ifindex = r[i].ifindex,
                        addr = r[i].addr, port = r[i].port }
    end
  end
  return got, calls
end

describe("batches", function()
  it("sendmmsg to 127.0.0.1, 127.0.0.2 and ::1; recvmmsg sees each dst", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local server, sport = dual_server()
    local client = udp("dual", "*")
    local list = {
      { data = "to-1", addr = "127.0.0.1", port = sport },
      { data = "to-2", addr = "127.0.0.2", port = sport },
      { data = "to-6", addr = "::1", port = sport },
    }
    assert.equal(3, ok(client:sendmmsg(list)))
    local got = collect(server, 3)
    local expect = { ["to-1"] = "::ffff:127.0.0.1", ["to-2"] = "::ffff:127.0.0.2", ["to-6"] = "::1" }
    assert.equal(3, #got)
    for _, m in ipairs(got) do
      assert.equal(expect[m.data], m.dst)
      assert.equal(LO, m.ifindex)
      expect[m.data] = nil
    end
    assert.same({}, expect)
  end)

  it("recvmmsg takes several ready datagrams in one call", function()
    local server, sport = dual_server()
    local client = udp("inet", "127.0.0.1")
    for i = 1, 4 do ok(client:sendto("d" .. i, "127.0.0.2", sport)) end
    local got, calls = collect(server, 4)
    assert.equal(4, #got)
    assert.is_true(calls < 4, "took " .. calls .. " calls for 4 datagrams")
    for i = 1, 4 do
      assert.equal("d" .. i, got[i].data)
      assert.equal("::ffff:127.0.0.2", got[i].dst)
    end
  end)

  it("answers a batch with sendmmsg from each query's dst", function()
    local why = H.needs_send_control("answering from each query's dst"); if why then return pending(why) end
    local server, sport = dual_server()
    local clients = {}
    for i, q in ipairs(queries) do
      local family, bind, to = table.unpack(q)
      clients[i] = udp(family, bind)
      ok(clients[i]:sendto("q" .. i, to, sport))
    end
    local got = collect(server, #queries)
    local answers = {}
    for i, m in ipairs(got) do
      answers[i] = { data = "a" .. m.data, addr = m.addr, port = m.port, src = m.dst }
    end
    assert.equal(#queries, ok(server:sendmmsg(answers)))
    for i, q in ipairs(queries) do
      local data, addr, port = clients[i]:recvfrom()
      assert.equal("aq" .. i, data)
      assert.equal(q[5], addr)
      assert.equal(sport, port)
    end
  end)

  it("reuses the tables passed in and trims the array to the count", function()
    local server, sport = dual_server()
    local client = udp("inet", "127.0.0.1")
    local first = {}
    local msgs = { first, {}, {}, {}, {} }
    ok(client:sendto("only", "127.0.0.1", sport))
    assert.equal(msgs, ok(server:recvmmsg(8, 64, msgs)))
    assert.equal(1, #msgs)
    assert.equal(first, msgs[1])
    assert.equal("only", first.data)
    assert.equal("::ffff:127.0.0.1", first.dst)
    assert.is_nil(rawget(msgs, 2))
  end)

  it("flags truncation per message", function()
    local server, sport = dual_server()
    local client = udp("inet", "127.0.0.1")
    ok(client:sendto(("x"):rep(100), "127.0.0.1", sport))
    local r = ok(server:recvmmsg(1, 10))
    assert.equal(1, #r)
    assert.equal(10, #r[1].data)
    assert.equal(H.WINDOWS and 10 or 100, r[1].size) -- Windows: the bytes received
    assert.is_true(r[1].truncated)
  end)

  it("recvmmsg on an idle socket times out", function()
    local server = dual_server()
    assert_idle(server, "recvmmsg", 4)
  end)

  it("recvmsg on an idle socket times out", function()
    local server = dual_server()
    assert_idle(server, "recvmsg")
  end)

  it("sendmmsg sends the messages before a refused one and reports how many went", function()
    local server, sport = udp("dual", "*")
    local client = udp("dual", "*")
    local count, err, code, sent = client:sendmmsg {
      { data = "fine", addr = "127.0.0.1", port = sport },
      { data = "ce", addr = "127.0.0.1", port = sport, ecn = 3 },
      { data = "after", addr = "127.0.0.1", port = sport },
    }
    assert.same({ nil, "ECN codepoint CE (3) may not be sent", "EINVAL", 1 }, { count, err, code, sent })
    assert.equal("fine", ok(server:recvmsg()).data)
    assert_idle(server, "recvmsg")
  end)

  it("sendmmsg reports how many went before the kernel refused one", function()
    local why = H.needs_send_source("a source the kernel refuses"); if why then return pending(why) end
    local server, sport = udp("dual", "*")
    local client = udp("dual", "*")
    -- 10.9.9.9 is no local address: the kernel refuses it as a source.
    local count, err, code, sent = client:sendmmsg {
      { data = "first", addr = "127.0.0.1", port = sport },
      { data = "bad-src", addr = "127.0.0.1", port = sport, src = "10.9.9.9" },
      { data = "third", addr = "127.0.0.1", port = sport },
    }
    assert.is_nil(count)
    assert.is_string(err)
    assert.is_string(code)
    assert.equal(1, sent)
    assert.equal("first", ok(server:recvmsg()).data)
    assert_idle(server, "recvmsg")
  end)

  it("rejects batch counts out of range", function()
    local server = dual_server()
    local out_of_range = "bad argument #1 to 'recvmmsg' (count out of range (1-1024))"
    assert.has_error(function() server:recvmmsg(0) end, out_of_range)
    assert.has_error(function() server:recvmmsg(1025) end, out_of_range)
  end)
end)

describe("message options", function()
  -- Every message option the platform has (Windows has no timestamp).
  local names = { "pktinfo", "recvhoplimit", "recvtclass", not H.WINDOWS and "timestamp" or nil }

  for _, family in ipairs { "dual", "inet", "inet6" } do
    it(family .. ": boolean options read back what was set", function()
      local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
      local s = udp(family, "*")
      for _, name in ipairs(names) do
        assert.is_false(s:getoption(name), name)
        assert.equal(1, s:setoption(name, true))
        assert.is_true(s:getoption(name), name)
        assert.equal(1, s:setoption(name, false))
        assert.is_false(s:getoption(name), name)
      end
    end)
  end

  it("cmsgspace reads back and defaults to 0 (automatic)", function()
    local s = udp("dual", "*")
    assert.equal(0, s:getoption("cmsgspace"))
    ok(s:setoption("cmsgspace", 64))
    assert.equal(64, s:getoption("cmsgspace"))
    assert.has_error(function() s:setoption("cmsgspace", -1) end, "bad argument #2 to 'setoption' (cmsgspace out of range)")
  end)

  it("raises for message options on a tcp socket", function()
    local t = ok(ds.tcp())
    open[#open + 1] = t
    for _, name in ipairs(names) do
      assert.has_error(function() t:setoption(name, true) end,
        "bad argument #1 to 'setoption' (udp socket expected for option '" .. name .. "', got tcp socket)")
    end
    assert.has_error(function() t:setoption("cmsgspace", 0) end,
      "bad argument #1 to 'setoption' (udp socket expected for option 'cmsgspace', got tcp socket)")
    if not H.WINDOWS then -- no gro option there
      assert.has_error(function() t:setoption("gro", true) end,
        "bad argument #1 to 'setoption' (udp socket expected for option 'gro', got tcp socket)")
    end
    assert.has_error(function() t:getoption("pktinfo") end,
      "bad argument #1 to 'getoption' (udp socket expected for option 'pktinfo', got tcp socket)")
  end)

  it("raises for message calls on a tcp socket", function()
    local t = ok(ds.tcp())
    open[#open + 1] = t
    for _, call in ipairs { "recvmsg", "sendmsg", "recvmmsg", "sendmmsg" } do
      local okc, err = pcall(t[call], t, call:find("mmsg") and 1 or { data = "x" })
      assert.is_false(okc, call)
      assert.equal("bad argument #1 to '?' (udp socket expected, got tcp socket)", err, call)
    end
  end)

  it("raises for message calls on a closed socket", function()
    local s = udp("dual", "*")
    s:close()
    assert.has_error(function() s:recvmsg() end, "attempt to use a closed socket")
  end)
end)
