-- The table-free fast path (issue 12), with real traffic on both families:
-- with pktinfo on, recvfrom gives data, addr, port, dst, ifindex, and
-- sendto(data, addr, port, src, ifindex) picks the source as sendmsg does,
-- so the reply idiom
--   local d, a, p, dst, ifi = s:recvfrom(); s:sendto(answer, a, p, dst, ifi)
-- answers from the address that was queried: 127.0.0.2, ::1, and a
-- link-local address on a veth in namespaces the spec makes. Listeners
-- (ds.udp_listen, both models) take the same forms.
local H = require "spec.helpers"
local cleanup = require "spec.cleanup"
local N = require "spec.namespace"

local ds = H.ds
local ok, keep = H.ok, cleanup.keep
local LO = H.LO -- the loopback by its flag ("lo" on Linux)

after_each(cleanup.close_all)

local udp = H.udp_kept

local assert_idle = H.assert_idle

-- Everything a call returned, with its count.
local function all(...) return table.pack(...) end

-- The data and sender of the next datagram on s.
local function got(s)
  local data, from = s:recvfrom()
  return { data, from }
end

-- Servers of each family on "*" and the queries each answers: the client's
-- family and bind address, the address queried, then what the server must
-- see (addr, dst) and the source the client must see in the answer.
local CASES = {
  { server = "dual", client = "inet", bind = "127.0.0.1", to = "127.0.0.2",
    addr = "::ffff:127.0.0.1", dst = "::ffff:127.0.0.2", from = "127.0.0.2" },
  { server = "dual", client = "inet", bind = "127.0.0.1", to = "127.0.0.1",
    addr = "::ffff:127.0.0.1", dst = "::ffff:127.0.0.1", from = "127.0.0.1" },
  { server = "dual", client = "inet6", bind = "::1", to = "::1",
    addr = "::1", dst = "::1", from = "::1" },
  { server = "inet", client = "inet", bind = "127.0.0.1", to = "127.0.0.2",
    addr = "127.0.0.1", dst = "127.0.0.2", from = "127.0.0.2" },
  { server = "inet6", client = "inet6", bind = "::1", to = "::1",
    addr = "::1", dst = "::1", from = "::1" },
}

local function label(c)
  return ("%s server, %s client %s -> %s"):format(c.server, c.client, c.bind, c.to)
end

-- A server of the case (pktinfo as given) and a client that sent it
-- "query"; returns server, its port, client, its port.
local function queried(c, pktinfo)
  local server, sport = udp(c.server, "*", { pktinfo = pktinfo })
  local client, cport = udp(c.client, c.bind)
  ok(client:sendto("query", c.to, sport))
  return server, sport, client, cport
end

describe("recvfrom's values", function()
  for _, c in ipairs(CASES) do
    it(label(c) .. ": with pktinfo, exactly data, addr, port, dst, ifindex", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local server, _, _, cport = queried(c, true)
      local r = all(server:recvfrom())
      assert.equal(5, r.n)
      assert.same({ "query", c.addr, cport, c.dst, LO }, { r[1], r[2], r[3], r[4], r[5] })
      assert.equal("integer", math.type(r[5]))
    end)

    it(label(c) .. ": without pktinfo, exactly data, addr, port", function()
      local server, _, _, cport = queried(c, false)
      local r = all(server:recvfrom())
      assert.equal(3, r.n)
      assert.same({ "query", c.addr, cport }, { r[1], r[2], r[3] })
    end)
  end

  it("with a size, the data is cut and dst and ifindex still come", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local server, sport = udp("dual", "*", { pktinfo = true })
    local client, cport = udp("inet", "127.0.0.1")
    ok(client:sendto("a long datagram", "127.0.0.2", sport))
    local r = all(server:recvfrom(6))
    assert.same({ n = 5, "a long", "::ffff:127.0.0.1", cport, "::ffff:127.0.0.2", LO }, r)
  end)

  it("follows pktinfo turned off and on again on the same socket", function()
    local server, sport = udp("inet6", "*", { pktinfo = true })
    local client = udp("inet6", "::1")
    local counts = {}
    for i, on in ipairs { true, false, true } do
      ok(server:setoption("pktinfo", on))
      ok(client:sendto("q" .. i, "::1", sport))
      local r = all(server:recvfrom())
      assert.equal("q" .. i, r[1])
      counts[i] = r.n
    end
    assert.same({ 5, 3, 5 }, counts)
  end)

  it("times out with nil, 'timeout', 'ETIMEDOUT' and nothing more, pktinfo on", function()
    local server = udp("dual", "*", { pktinfo = true })
    server:settimeout(0.05)
    assert.same({ n = 3, nil, "timeout", "ETIMEDOUT" }, all(server:recvfrom()))
  end)
end)

describe("the reply idiom recvfrom, sendto(answer, addr, port, dst, ifindex)", function()
  for _, c in ipairs(CASES) do
    it(label(c) .. ": answers from " .. c.from, function()
      local why = c.from ~= c.bind and H.needs_send_control("answering from " .. c.from); if why then return pending(why) end
      local server, sport, client = queried(c, true)
      local _, a, p, dst, ifi = server:recvfrom()
      assert.equal(6, ok(server:sendto("answer", a, p, dst, ifi)))
      assert.same({ "answer", c.from, sport }, { client:recvfrom() })
    end)
  end

  it("control: without dst, the answer to 127.0.0.2 leaves from 127.0.0.1", function()
    -- What the idiom is for: the system picks the source by route.
    local server, sport, client = queried(CASES[1], true)
    local _, a, p = server:recvfrom()
    ok(server:sendto("answer", a, p))
    assert.same({ "answer", "127.0.0.1", sport }, { client:recvfrom() })
  end)
end)

describe("sendto's source and interface", function()
  local DIFFER6 = "source ::1 (IPv6) cannot send to ::ffff:127.0.0.1 (IPv4): the families differ"
  local DIFFER4 = "source ::ffff:127.0.0.2 (IPv4) cannot send to ::1 (IPv6): the families differ"

  it("dual: an IPv6 src for an IPv4 destination is refused, naming both, and nothing goes", function()
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    for _, to in ipairs { "127.0.0.1", "::ffff:127.0.0.1" } do
      assert.same({ n = 3, nil, DIFFER6, "EINVAL" }, all(server:sendto("x", to, cport, "::1")))
      assert.same({ n = 3, nil, DIFFER6, "EINVAL" }, all(server:sendto("x", to, cport, "::1", LO)))
    end
    assert_idle(client)
  end)

  it("dual: an IPv4 src for an IPv6 destination is refused, plain or mapped, and nothing goes", function()
    local server = udp("dual", "*")
    local client, cport = udp("inet6", "::1")
    for _, src in ipairs { "127.0.0.2", "::ffff:127.0.0.2" } do
      assert.same({ n = 3, nil, DIFFER4, "EINVAL" }, all(server:sendto("x", "::1", cport, src)))
    end
    assert_idle(client)
  end)

  it("dual: a mapped or plain IPv4 src is used, to a plain or mapped destination", function()
    local why = H.needs_send_source("sending from src"); if why then return pending(why) end
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    for _, p in ipairs { { "127.0.0.1", "::ffff:127.0.0.2" }, { "::ffff:127.0.0.1", "::ffff:127.0.0.2" },
                         { "127.0.0.1", "127.0.0.2" }, { "::ffff:127.0.0.1", "127.0.0.2" } } do
      assert.equal(4, ok(server:sendto("from", p[1], cport, p[2])))
      assert.same({ "from", "127.0.0.2" }, got(client))
    end
  end)

  it("inet: a src of 127.0.0.2 (plain or mapped) is used; ::1 is refused for the socket", function()
    local why = H.needs_send_source("sending from src"); if why then return pending(why) end
    local server = udp("inet", "*")
    local client, cport = udp("inet", "127.0.0.1")
    for _, src in ipairs { "127.0.0.2", "::ffff:127.0.0.2" } do
      ok(server:sendto("x", "127.0.0.1", cport, src))
      assert.same({ "x", "127.0.0.2" }, got(client))
    end
    assert.same({ n = 3, nil, "IPv6 address ::1 on an inet (IPv4-only) socket", "EAFNOSUPPORT" },
      all(server:sendto("x", "127.0.0.1", cport, "::1")))
    assert_idle(client)
  end)

  it("inet6: a src of ::1 is used; 127.0.0.2 is refused for the socket", function()
    local server = udp("inet6", "*")
    local client, cport = udp("inet6", "::1")
    ok(server:sendto("x", "::1", cport, "::1"))
    assert.same({ "x", "::1" }, got(client))
    assert.same({ n = 3, nil, "IPv4 address 127.0.0.2 on an inet6 (v6-only) socket: IPv4 and "
      .. "IPv4-mapped addresses work only on a dual-stack socket", "EAFNOSUPPORT" },
      all(server:sendto("x", "::1", cport, "127.0.0.2")))
    assert_idle(client)
  end)

  it("raises for a malformed src, naming the argument, and sends nothing", function()
    -- As a method's arguments count: data #1, addr #2, port #3, src #4, ifindex #5.
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, "1.2.3.999") end,
      "bad argument #4 to 'sendto' (malformed IPv4 address: '1.2.3.999')")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, "1:2:3") end,
      "bad argument #4 to 'sendto' (malformed IPv6 address: '1:2:3')")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, "") end,
      "bad argument #4 to 'sendto' (empty address: '')")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, 7) end,
      "bad argument #4 to 'sendto' (string expected, got number)")
    assert_idle(client)
  end)

  it("takes the interface as a name or an index, both families", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local server = udp("dual", "*")
    for _, c in ipairs { { "inet", "127.0.0.1" }, { "inet6", "::1" } } do
      local client, cport = udp(c[1], c[2])
      for _, ifi in ipairs { H.LO_NAME, LO } do
        assert.equal(5, ok(server:sendto("by-lo", c[2], cport, nil, ifi)))
        assert.same({ "by-lo", c[2] }, got(client))
      end
    end
  end)

  it("uses the interface it is given: an index with no interface is refused by the system", function()
    local why = H.needs_send_control("sending by ifindex"); if why then return pending(why) end
    local server = udp("dual", "*")
    for _, c in ipairs { { "inet", "127.0.0.1" }, { "inet6", "::1" } } do
      local client, cport = udp(c[1], c[2])
      assert.same({ n = 3, nil, "no such device", "ENODEV" }, all(server:sendto("x", c[2], cport, nil, 999999)))
      assert_idle(client)
    end
  end)

  it("raises for an interface that is no name or index, naming argument #5", function()
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, nil, "no-such-if0") end,
      "bad argument #5 to 'sendto' (unknown interface 'no-such-if0')")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, nil, -1) end,
      "bad argument #5 to 'sendto' (interface index out of range)")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, nil, 1.5) end,
      "bad argument #5 to 'sendto' (number has no integer representation)")
    assert_idle(client)
  end)

  it("sends from src by the interface given with it", function()
    local why = H.needs_send_control("sending from src by ifindex"); if why then return pending(why) end
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    ok(server:sendto("x", "127.0.0.1", cport, "127.0.0.2", H.LO_NAME))
    assert.same({ "x", "127.0.0.2" }, got(client))
  end)

  it("lets the system pick for a wildcard, group or broadcast src", function()
    -- The client at 127.0.0.1 (::1) gets the route's source: 127.0.0.1 (::1).
    local server = udp("dual", "*")
    local picks = {
      { "inet", "127.0.0.1", { "*", "0.0.0.0", "::", "::ffff:0.0.0.0", "224.0.0.1", "255.255.255.255" } },
      { "inet6", "::1", { "*", "::", "ff02::1" } },
    }
    for _, c in ipairs(picks) do
      local client, cport = udp(c[1], c[2])
      for _, src in ipairs(c[3]) do
        assert.equal(1, ok(server:sendto("x", c[2], cport, src)), src)
        assert.same({ "x", c[2] }, got(client), src)
      end
    end
  end)
end)

describe("sendto's src and ifindex after review", function()
  -- An index no interface has: where sendto uses the index, the system
  -- refuses it (ENODEV), so the call's result says whether it was used.
  local NO_IF = 999999
  local NODEV = { n = 3, nil, "no such device", "ENODEV" }

  it("dual: 0.0.0.0, plain or mapped, is no source for an IPv6 destination too (sendto, sendmsg, sendmmsg)", function()
    -- It was read as an IPv4 source, refused as of the other family.
    local server = udp("dual", "*")
    local client, cport = udp("inet6", "::1")
    for _, src in ipairs { "0.0.0.0", "::ffff:0.0.0.0" } do
      assert.same({ n = 1, 1 }, all(server:sendto("x", "::1", cport, src)), src)
      assert.same({ "x", "::1" }, got(client), src)
      assert.same({ n = 1, 1 }, all(server:sendmsg { data = "y", addr = "::1", port = cport, src = src }), src)
      assert.same({ "y", "::1" }, got(client), src)
      assert.same({ n = 1, 1 }, all(server:sendmmsg { { data = "z", addr = "::1", port = cport, src = src } }), src)
      assert.same({ "z", "::1" }, got(client), src)
    end
  end)

  -- Per server family: clients (family, address) it can reach on loopback,
  -- a routable src for each and the source the client sees.
  local ROUTABLE = {
    { "dual", { { "inet", "127.0.0.1", "127.0.0.2", "127.0.0.2" },
                { "inet", "127.0.0.1", "::ffff:127.0.0.2", "127.0.0.2" },
                { "inet6", "::1", "::1", "::1" } } },
    { "inet", { { "inet", "127.0.0.1", "127.0.0.2", "127.0.0.2" } } },
    { "inet6", { { "inet6", "::1", "::1", "::1" } } },
  }

  for _, r in ipairs(ROUTABLE) do
    it(r[1] .. ": with a routable src the ifindex is ignored: the routing table picks the way", function()
      local why = H.needs_send_control("sending from src, or by ifindex"); if why then return pending(why) end
      local server = udp(r[1], "*")
      for _, c in ipairs(r[2]) do
        local client, cport = udp(c[1], c[2])
        assert.same({ n = 1, 4 }, all(server:sendto("from", c[2], cport, c[3], NO_IF)), c[3])
        assert.same({ "from", c[4] }, got(client), c[3])
        -- Without src the index is used: the system has no such device.
        assert.same(NODEV, all(server:sendto("none", c[2], cport, nil, NO_IF)), c[3])
        assert_idle(client)
      end
    end)
  end

  it("the ifindex is still used with the limited broadcast or a link-local src", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local why = H.needs_send_control("sending by ifindex"); if why then return pending(why) end
    local server = udp("dual", "*")
    local c4, c4port = udp("inet", "127.0.0.1")
    local c6, c6port = udp("inet6", "::1")
    assert.same(NODEV, all(server:sendto("x", "127.0.0.1", c4port, "255.255.255.255", NO_IF)))
    assert.same(NODEV, all(server:sendto("x", "::1", c6port, "fe80::1", NO_IF)))
    -- Control: with its own interface the limited broadcast is no source.
    assert.same({ n = 1, 1 }, all(server:sendto("y", "127.0.0.1", c4port, "255.255.255.255", LO)))
    assert.same({ "y", "127.0.0.1" }, got(c4))
    assert_idle(c4)
    assert_idle(c6)
  end)

  it("an ignored ifindex is still checked, naming argument #5", function()
    local server = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, "127.0.0.2", "no-such-if0") end,
      "bad argument #5 to 'sendto' (unknown interface 'no-such-if0')")
    assert.has_error(function() server:sendto("x", "127.0.0.1", cport, "127.0.0.2", -1) end,
      "bad argument #5 to 'sendto' (interface index out of range)")
    assert_idle(client)
  end)

  it("control: sendmsg's ifindex always forces the interface, whatever the src", function()
    local why = H.needs_send_control("sendmsg by ifindex"); if why then return pending(why) end
    local server = udp("dual", "*")
    for _, c in ipairs { { "inet", "127.0.0.1", "127.0.0.2" }, { "inet6", "::1", "::1" } } do
      local client, cport = udp(c[1], c[2])
      assert.same(NODEV, all(server:sendmsg { data = "x", addr = c[2], port = cport, src = c[3], ifindex = NO_IF }))
      assert_idle(client)
    end
  end)

  it("raises on a TCP socket given src or ifindex, and sends nothing; without them it sends", function()
    -- One way for the wrong socket type: an argument error on the socket.
    local MSG = "bad argument #1 to '?' (udp socket expected for src and ifindex, got tcp socket)"
    local c, a, l = H.tcp_pair("inet", "127.0.0.1", "inet", "127.0.0.1")
    keep(c); keep(a); keep(l)
    local _, port = l:getsockname()
    assert.same({ false, MSG }, { pcall(c.sendto, c, "src", "127.0.0.1", port, "127.0.0.2") })
    assert.same({ false, MSG }, { pcall(c.sendto, c, "ifi", "127.0.0.1", port, nil, 1) })
    assert.same({ false, MSG }, { pcall(c.sendto, c, "both", "127.0.0.1", port, "127.0.0.2", H.LO_NAME) })
    local fine, err = pcall(function() return c:sendto("src", "127.0.0.1", port, "127.0.0.1") end)
    assert.is_false(fine)
    assert.matches("^spec[/\\]fastpath_spec%.lua:%d+: calling 'sendto' on bad self %(udp socket expected for src "
      .. "and ifindex, got tcp socket%)$", err)
    -- Checked before the address: a malformed one gets the same answer.
    assert.same({ false, MSG }, { pcall(c.sendto, c, "bad", "127.0.0.1", port, "1.2.3.999") })
    -- An unconnected stream socket too.
    local lone = keep(H.socket("tcp", "inet"))
    assert.same({ false, MSG }, { pcall(lone.sendto, lone, "x", "127.0.0.1", port, "127.0.0.2") })
    assert.equal(3, ok(c:sendto("abc", "127.0.0.1", port)))
    a:settimeout(0.1)
    assert.equal("abc", ok(a:receive(3)))
    assert.same({ nil, "timeout", "", "ETIMEDOUT" }, { a:receive(1) })
  end)
end)

-- The listener models, as in listen_spec: one dual socket, or an inet6 and
-- an inet socket. v4 is an IPv4 client's address as the listener reports it.
local MODELS = {
  { name = "dual model (default)", opts = {}, v4 = "::ffff:", refused_v6_src = { nil,
    "source ::1 (IPv6) cannot send to ::ffff:127.0.0.1 (IPv4): the families differ", "EINVAL" } },
  { name = "per-family model (dualstack = false)", opts = { dualstack = false }, v4 = "",
    refused_v6_src = { nil, "IPv6 address ::1 on an inet (IPv4-only) socket", "EAFNOSUPPORT" } },
}

local copy = H.copy

for _, model in ipairs(MODELS) do
  describe("ds.udp_listen, " .. model.name, function()
    local function listener(extra)
      local l = keep(ok(ds.udp_listen("*", 0, copy(model.opts, extra))))
      l:settimeout(H.WAIT)
      return l, select(2, l:getsockname())
    end

    -- IPv4 queries to 127.0.0.2 from 127.0.0.1, IPv6 ones to ::1 from ::1.
    local QUERIES = {
      { "inet", "127.0.0.1", "127.0.0.2", model.v4 .. "127.0.0.1", model.v4 .. "127.0.0.2", "127.0.0.2" },
      { "inet6", "::1", "::1", "::1", "::1", "::1" },
    }

    for _, q in ipairs(QUERIES) do
      local family, bind, to, addr, dst, from = table.unpack(q)
      it(family .. ": recvfrom gives exactly data, addr, port, dst, ifindex", function()
        local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
        local l, port = listener()
        local client, cport = udp(family, bind)
        ok(client:sendto("query", to, port))
        assert.same({ n = 5, "query", addr, cport, dst, LO }, all(l:recvfrom()))
      end)

      it(family .. ": recvfrom gives exactly data, addr, port with pktinfo = false", function()
        local l, port = listener { pktinfo = false }
        local client, cport = udp(family, bind)
        ok(client:sendto("query", to, port))
        assert.same({ n = 3, "query", addr, cport }, all(l:recvfrom()))
      end)

      it(family .. ": the reply idiom answers a query to " .. to .. " from " .. from, function()
        local why = from ~= bind and H.needs_send_control("answering from " .. from); if why then return pending(why) end
        local l, port = listener()
        local client = udp(family, bind)
        ok(client:sendto("query", to, port))
        local _, a, p, d, ifi = l:recvfrom()
        assert.equal(6, ok(l:sendto("answer", a, p, d, ifi)))
        assert.same({ "answer", from, port }, { client:recvfrom() })
      end)
    end

    it("sendto refuses an IPv6 src for an IPv4 client, and nothing goes", function()
      local l = listener()
      local client, cport = udp("inet", "127.0.0.1")
      assert.same(copy(model.refused_v6_src, { n = 3 }), all(l:sendto("x", "127.0.0.1", cport, "::1")))
      assert_idle(client)
    end)

    it("sendto takes a mapped or plain IPv4 src and an interface name or index", function()
      local why = H.needs_send_source("sending from src"); if why then return pending(why) end
      local l = listener()
      local client, cport = udp("inet", "127.0.0.1")
      for _, p in ipairs { { "127.0.0.1", "::ffff:127.0.0.2", nil }, { "::ffff:127.0.0.1", "127.0.0.2", H.LO_NAME },
                           { "127.0.0.1", "127.0.0.2", LO } } do
        assert.equal(1, ok(l:sendto("x", p[1], cport, p[2], p[3])))
        assert.same({ "x", "127.0.0.2" }, got(client))
      end
      local c6, c6port = udp("inet6", "::1")
      assert.equal(1, ok(l:sendto("y", "::1", c6port, "::1", H.LO_NAME)))
      assert.same({ "y", "::1" }, got(c6))
    end)

    it("sendto ignores the ifindex with a routable src and uses it without one", function()
      local why = H.needs_send_control("sending from src, or by ifindex"); if why then return pending(why) end
      local l = listener()
      local client, cport = udp("inet", "127.0.0.1")
      assert.equal(1, ok(l:sendto("x", "127.0.0.1", cport, "127.0.0.2", 999999)))
      assert.same({ "x", "127.0.0.2" }, got(client))
      assert.same({ n = 3, nil, "no such device", "ENODEV" }, all(l:sendto("y", "127.0.0.1", cport, nil, 999999)))
      local c6, c6port = udp("inet6", "::1")
      assert.equal(1, ok(l:sendto("z", "::1", c6port, "::1", 999999)))
      assert.same({ "z", "::1" }, got(c6))
      assert_idle(client)
    end)

    it("sendto lets the system pick for a wildcard src", function()
      local l = listener()
      local client, cport = udp("inet", "127.0.0.1")
      ok(l:sendto("x", "127.0.0.1", cport, "*"))
      assert.same({ "x", "127.0.0.1" }, got(client))
    end)

    it("sendto raises for a malformed src or interface, naming the argument", function()
      local l = listener()
      local client, cport = udp("inet6", "::1")
      assert.has_error(function() l:sendto("x", "::1", cport, "1:2:3") end,
        "bad argument #4 to 'sendto' (malformed IPv6 address: '1:2:3')")
      assert.has_error(function() l:sendto("x", "::1", cport, nil, "no-such-if0") end,
        "bad argument #5 to 'sendto' (unknown interface 'no-such-if0')")
      assert_idle(client)
    end)
  end)
end

-- Link-local: the child's namespace (the server) has va with two
-- link-local addresses, fe80::a2 added first and fe80::a, which the system
-- then prefers as the source; the peer's vb has fe80::b. The peer asks
-- fe80::a2, so only an answer from the queried address comes from it.
local LINK_SETUP = N.PAIR .. [[
ip addr add fe80::a2/64 dev va nodad
ip addr add fe80::a/64 dev va nodad
nsenter -t $PEER -n ip addr add fe80::b/64 dev vb nodad
]]

local LINK_CHILD = [==[
local ds = require "dualstack"
-- The peer: bound to fe80::b on vb, asks `to` and prints each of `count`
-- answers as "data from addr port-ok|port-bad".
local ASK = [=[
local to, port, count = ...
port = tonumber(port)
local ds = require "dualstack"
local c = assert(ds.udp { family = "inet6" })
assert(c:bind("fe80::b%vb", 0))
c:settimeout(2)
assert(c:sendto("q", to, port))
for _ = 1, tonumber(count) do
  local data, from, p = c:recvfrom()
  print(("%s from %s %s"):format(tostring(data), tostring(from), p == port and "port-ok" or "port-bad"))
end
]=]
local VA = ds.ifindex("va")
-- Every value of a call, as text.
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, ",", 1, t.n)
end
local function answers(peer, key, count)
  for i = 1, count do report(key .. i, peer:read("l")) end
  peer:close()
end

-- A socket server, family, on "*" with pktinfo.
for _, family in ipairs { "dual", "inet6" } do
  local s = assert(ds.udp { family = family })
  assert(s:setoption("pktinfo", true))
  assert(s:bind("*", 0))
  s:settimeout(2)
  local port = select(2, s:getsockname())
  local peer = in_peer(ASK, "fe80::a2%vb", port, 3)
  local r = table.pack(s:recvfrom())
  report(family .. "_n", r.n)
  report(family .. "_got", table.concat({ tostring(r[1]), tostring(r[2]), tostring(r[4]),
    tostring(r[5] == VA) }, " "))
  local _, a, p, dst, ifi = table.unpack(r, 1, r.n)
  report(family .. "_idiom", show(s:sendto("idiom", a, p, dst, ifi)))
  -- The zone in the source's text stands for the interface too.
  report(family .. "_zoned", show(s:sendto("zoned", a, p, "fe80::a2%va")))
  report(family .. "_plain", show(s:sendto("plain", a, p)))
  answers(peer, family .. "_answer", 3)
  -- An index sends to a link-local address given without a zone.
  peer = in_peer(ASK, "fe80::a2%vb", port, 2)
  _, a, p, dst, ifi = s:recvfrom()
  -- The wrong interface: the index is used, so the system finds no way.
  report(family .. "_wrongif", show(s:sendto("wrongif", "fe80::b", p, nil, "lo")))
  report(family .. "_byindex", show(s:sendto("byindex", "fe80::b", p, dst, VA)))
  report(family .. "_byname", show(s:sendto("byname", "fe80::b", p, dst, "va")))
  answers(peer, family .. "_noscope", 2)
  s:close()
end

-- Listeners of both models.
for _, model in ipairs { { "listen_dual", {} }, { "listen_pair", { dualstack = false } } } do
  local l = assert(ds.udp_listen("*", 0, model[2]))
  l:settimeout(2)
  local port = select(2, l:getsockname())
  local peer = in_peer(ASK, "fe80::a2%vb", port, 1)
  local r = table.pack(l:recvfrom())
  report(model[1] .. "_n", r.n)
  report(model[1] .. "_idiom", show(l:sendto("idiom", r[2], r[3], r[4], r[5])))
  answers(peer, model[1] .. "_answer", 1)
  l:close()
end
os.execute("kill " .. os.getenv("PEER"))
report("done", "yes")
]==]

describe("the reply idiom on a link-local address with its zone", function()
  local results, output
  -- Runs the namespace child once, for every case below.
  local function run()
    local usable, reason = N.available("-n")
    if not usable then return nil, reason end
    if not results then
      results, output = N.run("-n", LINK_SETUP, LINK_CHILD)
    end
    assert.equal("yes", results.done, "the namespace child did not finish:\n" .. output)
    return results
  end

  for _, family in ipairs { "dual", "inet6" } do
    it(family .. ": recvfrom gives the zoned peer, the dst and the veth's index", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local r, reason = run()
      if not r then return pending(reason) end
      assert.equal("5", r[family .. "_n"])
      assert.equal("q fe80::b%va fe80::a2 true", r[family .. "_got"])
    end)

    it(family .. ": sendto(answer, addr, port, dst, ifindex) answers from fe80::a2", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local r, reason = run()
      if not r then return pending(reason) end
      assert.equal("5", r[family .. "_idiom"])
      assert.equal("idiom from fe80::a2%vb port-ok", r[family .. "_answer1"])
      assert.equal("zoned from fe80::a2%vb port-ok", r[family .. "_answer2"])
    end)

    it(family .. ": control: without dst the system answers from fe80::a", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local r, reason = run()
      if not r then return pending(reason) end
      assert.equal("plain from fe80::a%vb port-ok", r[family .. "_answer3"])
    end)

    it(family .. ": an interface index or name reaches an unzoned link-local address", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local r, reason = run()
      if not r then return pending(reason) end
      assert.same({ "7", "6" }, { r[family .. "_byindex"], r[family .. "_byname"] })
      -- Through lo there is no way to fe80::b, and nothing reaches the peer.
      assert.equal("nil,network unreachable,ENETUNREACH", r[family .. "_wrongif"])
      assert.equal("byindex from fe80::a2%vb port-ok", r[family .. "_noscope1"])
      assert.equal("byname from fe80::a2%vb port-ok", r[family .. "_noscope2"])
    end)
  end

  for _, model in ipairs { "listen_dual", "listen_pair" } do
    it(model .. ": a listener's idiom answers from fe80::a2", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local r, reason = run()
      if not r then return pending(reason) end
      assert.equal("5", r[model .. "_n"])
      assert.equal("5", r[model .. "_idiom"])
      assert.equal("idiom from fe80::a2%vb port-ok", r[model .. "_answer1"])
    end)
  end
end)

-- Runs a namespace child once per key, for every case that reads it:
-- the results, or nil and why namespaces cannot be made here.
local child_runs = {}
local function child(key, setup, script)
  local usable, reason = N.available("-n")
  if not usable then return nil, reason end
  if not child_runs[key] then
    local results, output = N.run("-n", setup, script)
    assert.equal("yes", results.done, "the namespace child did not finish:\n" .. output)
    child_runs[key] = results
  end
  return child_runs[key]
end

-- Every value of a call, as text (a child's way to report them).
local SHOW = [[
local function show(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, ",", 1, t.n)
end
]]

-- An interface named "1", with fe80::1 on it. Read back, "%1" would be
-- index 1 (lo): the zone in a received address must be the interface's
-- index then, so the text names the same interface wherever it is parsed.
local DIGITS_SETUP = [[
set -e
ip link set lo up
ip link add 1 type veth peer name d9
ip link set 1 up
ip link set d9 up
ip addr add fe80::1/64 dev 1 nodad
ip addr add fe80::2/64 dev d9 nodad
]]

local DIGITS_CHILD = SHOW .. [==[
local ds = require "dualstack"
local idx = ds.ifindex("1")
report("index", idx)
report("name", ds.ifname(idx))
for _, family in ipairs { "inet6", "dual" } do
  local srv = assert(ds.udp { family = family })
  assert(srv:setoption("pktinfo", true))
  assert(srv:bind("*", 0))
  srv:settimeout(2)
  local port = select(2, srv:getsockname())
  local cl = assert(ds.udp { family = "inet6" })
  assert(cl:bind("fe80::1%" .. idx, 0))
  cl:settimeout(2)
  local cport = select(2, cl:getsockname())
  assert(cl:sendto("q", "fe80::1%" .. idx, port))
  local _, a, p, dst, ifi = srv:recvfrom()
  report(family .. "_peer", a)
  report(family .. "_port", p == cport)
  report(family .. "_ifindex", ifi == idx)
  -- The text, parsed by sockets that never received it.
  for _, other_family in ipairs { "inet6", "dual" } do
    local other = assert(ds.udp { family = other_family })
    local key = family .. "_" .. other_family
    report(key .. "_sent", show(other:sendto("r-" .. other_family, a, p)))
    report(key .. "_got", show(cl:recvfrom()))
    other:close()
  end
  report(family .. "_own_sent", show(srv:sendto("own", a, p, dst, ifi)))
  report(family .. "_own_got", show(cl:recvfrom()))
  srv:close()
  cl:close()
end
report("done", "yes")
]==]

-- ia (fe80::1) is renamed "old" while a socket has received from it, and
-- a new interface takes the name ia (fe80::1 too).
local RENAME_SETUP = [[
set -e
ip link set lo up
ip link add name ia type veth peer name pa
ip link set ia up
ip link set pa up
ip addr add fe80::1/64 dev ia nodad
]]

local RENAME_CHILD = SHOW .. [==[
local ds = require "dualstack"
local function sh(c) assert(os.execute(c), c) end
local first = ds.ifindex("ia")
local srv = assert(ds.udp { family = "inet6" })
assert(srv:bind("::", 0))
srv:settimeout(2)
local port = select(2, srv:getsockname())
local cl = assert(ds.udp { family = "inet6" })
assert(cl:bind("fe80::1%ia", 0))
cl:settimeout(0.3)
local cport = select(2, cl:getsockname())
assert(cl:sendto("q1", "fe80::1%ia", port))
report("before", show(srv:recvfrom()) == ("q1,fe80::1%%ia,%d"):format(cport))
sh("ip link set ia down && ip link set ia name old && ip link set old up && ip addr add fe80::1/64 dev old nodad")
sh("ip link add name ia type veth peer name pb && ip link set ia up && ip link set pb up && ip addr add fe80::1/64 dev ia nodad")
report("renamed", ds.ifindex("old") == first and ds.ifindex("ia") ~= first)
-- A client on the new ia at the same port.
local cnew = assert(ds.udp { family = "inet6" })
assert(cnew:bind("fe80::1%ia", cport))
cnew:settimeout(0.3)
-- "fe80::1%ia", the text the server received before, now names the new ia.
report("sent", show(srv:sendto("to-ia", "fe80::1%ia", cport)))
report("new_got", show(cnew:recvfrom()))
report("old_got", show(cl:recvfrom()))
-- The first interface, asked again, is reported by its new name.
assert(cl:sendto("q2", "fe80::1%old", port))
local data, from, p = srv:recvfrom()
report("after", show(data, from, p == cport))
report("done", "yes")
]==]

-- Asymmetric: the server's address 192.0.2.1 (2001:db8::1) is on ia, the
-- client's 198.51.100.1 (2001:db8:1::1) on ib. A query arrives by ia, but
-- the way back to the client is not out of ia: forcing the arrival
-- interface loses the answer, the routing table finds the client.
local ASYM_SETUP = [[
set -e
ip link set lo up
ip link add name ia type veth peer name ib
ip link set ia up
ip link set ib up
ip addr add 192.0.2.1/24 dev ia
ip addr add 198.51.100.1/24 dev ib
ip addr add 2001:db8::1/64 dev ia nodad
ip addr add 2001:db8:1::1/64 dev ib nodad
]]

local ASYM_CHILD = SHOW .. [==[
local ds = require "dualstack"
local IA = ds.ifindex("ia")
local CASES = {
  { "dual", "inet", "192.0.2.1", "198.51.100.1" }, { "inet", "inet", "192.0.2.1", "198.51.100.1" },
  { "dual", "inet6", "2001:db8::1", "2001:db8:1::1" }, { "inet6", "inet6", "2001:db8::1", "2001:db8:1::1" },
}
for _, c in ipairs(CASES) do
  local key = c[1] .. "_" .. c[2]
  local srv = assert(ds.udp { family = c[1] })
  assert(srv:setoption("pktinfo", true))
  assert(srv:bind("*", 0))
  srv:settimeout(2)
  local port = select(2, srv:getsockname())
  local cl = assert(ds.udp { family = c[2] })
  assert(cl:bind(c[4], 0))
  cl:settimeout(0.3)
  assert(cl:sendto("q", c[3], port))
  local _, a, p, dst, ifi = srv:recvfrom()
  report(key .. "_dst", dst)
  report(key .. "_by_ia", ifi == IA)
  report(key .. "_idiom", show(srv:sendto("idiom", a, p, dst, ifi)))
  report(key .. "_idiom_got", show(cl:recvfrom()))
  -- Controls: the interface forced by sendmsg, and sendto without src.
  report(key .. "_forced", show(srv:sendmsg { data = "forced", addr = a, port = p, src = dst, ifindex = ifi }))
  report(key .. "_forced_got", show(cl:recvfrom()))
  report(key .. "_nosrc_got", (srv:sendto("nosrc", a, p, nil, ifi)) and show(cl:recvfrom()) or "refused")
  srv:close()
  cl:close()
end
report("done", "yes")
]==]

-- IPv4 link-local on two interfaces: s1 (169.254.1.1/16, added first, so
-- its /16 route wins) and s2 (169.254.2.1/16), whose far end, in the peer
-- namespace, is the client at 169.254.2.2. Only the arrival interface
-- finds the client: the source address does not say the way.
local V4LL_SETUP = [[
set -e
ip link set lo up
unshare -n sleep 30 &
PEER=$!
sleep 0.2
ip link add s1 type veth peer name x1
ip addr add 169.254.1.1/16 dev s1
ip link set s1 up
ip link set x1 up
ip link add s2 type veth peer name p2 netns $PEER
ip addr add 169.254.2.1/16 dev s2
ip link set s2 up
nsenter -t $PEER -n sh -c 'ip link set lo up; ip addr add 169.254.2.2/16 dev p2; ip link set p2 up'
export PEER
]]

local V4LL_CHILD = SHOW .. [==[
local ds = require "dualstack"
local srv = assert(ds.udp())
assert(srv:setoption("pktinfo", true))
assert(srv:bind("*", 0))
srv:settimeout(3)
local port = select(2, srv:getsockname())
local client = in_peer([[
local ds = require "dualstack"
local c = assert(ds.udp { family = "inet" })
assert(c:bind("169.254.2.2", 0))
c:settimeout(1)
for i = 1, 2 do
  assert(c:sendto("q" .. i, "169.254.2.1", tonumber(...)))
  local d, from = c:recvfrom()
  print("got" .. i .. "=" .. tostring(d) .. "," .. tostring(from))
end
]], port)
local _, a, p, dst, ifi = srv:recvfrom()
report("dst", dst)
report("by_s2", ifi == ds.ifindex("s2"))
report("idiom", show(srv:sendto("idiom", a, p, dst, ifi)))
local m = assert(srv:recvmsg())
report("reply", show(srv:reply(m, "reply")))
io.write(client:read("a"))
client:close()
report("done", "yes")
]==]

describe("zones and routes in namespaces", function()
  for _, family in ipairs { "inet6", "dual" } do
    it(family .. ": recvfrom writes a link-local peer on an interface named \"1\" with its index", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local r, reason = child("digits", DIGITS_SETUP, DIGITS_CHILD)
      if not r then return pending(reason) end
      assert.equal("1", r.name)
      assert.not_equal("1", r.index)
      assert.equal("fe80::1%" .. r.index, r[family .. "_peer"])
      assert.same({ "true", "true" }, { r[family .. "_port"], r[family .. "_ifindex"] })
    end)

    it(family .. ": that text reaches the peer from sockets that never received it, and from its own", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local r, reason = child("digits", DIGITS_SETUP, DIGITS_CHILD)
      if not r then return pending(reason) end
      for _, other in ipairs { "inet6", "dual" } do
        local key = family .. "_" .. other
        assert.equal(tostring(#("r-" .. other)), r[key .. "_sent"], key)
        assert.matches("^r%-" .. other .. ",fe80::1%%" .. r.index .. ",%d+$", r[key .. "_got"], nil, key)
      end
      assert.equal("3", r[family .. "_own_sent"])
      assert.matches("^own,fe80::1%%" .. r.index .. ",%d+$", r[family .. "_own_got"])
    end)
  end

  it("after an interface is renamed, recvfrom names it by its new name", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local r, reason = child("rename", RENAME_SETUP, RENAME_CHILD)
    if not r then return pending(reason) end
    assert.same({ "true", "true" }, { r.before, r.renamed })
    assert.equal("q2,fe80::1%old,true", r.after)
  end)

  it("after an interface is renamed, the text received before names whichever interface "
    .. "has the name now", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local r, reason = child("rename", RENAME_SETUP, RENAME_CHILD)
    if not r then return pending(reason) end
    assert.equal("5", r.sent)
    assert.matches("^to%-ia,fe80::1%%ia,%d+$", r.new_got)
    assert.equal("nil,timeout,ETIMEDOUT", r.old_got)
  end)

  it("an IPv4 link-local query (169.254/16 on two interfaces) is answered by its arrival "
    .. "interface, by the idiom and by reply", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local r, reason = child("v4ll", V4LL_SETUP, V4LL_CHILD)
    if not r then return pending(reason) end
    assert.same({ "::ffff:169.254.2.1", "true" }, { r.dst, r.by_s2 })
    assert.same({ "5", "5" }, { r.idiom, r.reply })
    assert.same({ "idiom,169.254.2.1", "reply,169.254.2.1" }, { r.got1, r.got2 })
  end)

  for _, c in ipairs { { "dual", "inet", "::ffff:192.0.2.1", "192.0.2.1" }, { "inet", "inet", "192.0.2.1", "192.0.2.1" },
                       { "dual", "inet6", "2001:db8::1", "2001:db8::1" },
                       { "inet6", "inet6", "2001:db8::1", "2001:db8::1" } } do
    local key = c[1] .. "_" .. c[2]
    it(c[1] .. " server, " .. c[2] .. " client on asymmetric routes: the idiom with the arrival "
      .. "interface reaches the client (a routable src leaves the way to the routes)", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local r, reason = child("asym", ASYM_SETUP, ASYM_CHILD)
      if not r then return pending(reason) end
      assert.same({ c[3], "true" }, { r[key .. "_dst"], r[key .. "_by_ia"] })
      assert.equal("5", r[key .. "_idiom"])
      assert.matches("^idiom," .. c[4]:gsub("%.", "%%.") .. ",%d+$", r[key .. "_idiom_got"])
      if c[2] == "inet" then
        -- Controls: forced out of ia, the answer is lost.
        assert.equal("6", r[key .. "_forced"])
        assert.equal("nil,timeout,ETIMEDOUT", r[key .. "_forced_got"])
        assert.equal("nil,timeout,ETIMEDOUT", r[key .. "_nosrc_got"])
      end
    end)
  end
end)
