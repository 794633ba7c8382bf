-- The listener type's socket methods (issue 13): setoption/getoption on
-- every socket, join/leave on the sockets of the group's family, and the
-- batch calls recvmmsg/replymmsg/sendmmsg across families, in both models
-- (one dual socket; one socket per family), with real traffic on
-- 127.0.0.1, 127.0.0.2 and ::1.
local H = require "helpers"
local cleanup = require "cleanup"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

local MODELS = {
  -- refused: how a source of the other family is refused: the dual
  -- socket sees the families differ, a per-family socket the address.
  { name = "dual model (default)", opts = {}, families = { "dual" },
    refused = { "families differ", "EINVAL" } },
  { name = "per-family model (dualstack = false)", opts = { dualstack = false },
    families = { "inet6", "inet" }, refused = { "on an inet", "EAFNOSUPPORT" } },
}

-- The clients of the three addresses a listener on "*" serves here.
local CLIENTS = {
  { family = "inet", host = "127.0.0.1" },
  { family = "inet6", host = "::1" },
  { family = "inet", host = "127.0.0.2" },
}

local function udp_listener(opts)
  local l = keep(H.ok(ds.udp_listen("*", 0, opts)))
  l:settimeout(H.WAIT)
  return l, select(2, l:getsockname())
end

-- One bound client per entry of CLIENTS; returns them and their ports.
local function clients()
  local list, ports = {}, {}
  for i, c in ipairs(CLIENTS) do
    list[i], ports[i] = H.udp_bound(c.family, c.host)
    keep(list[i])
  end
  return list, ports
end

-- Receives count datagrams with recvmmsg; returns them as plain tables
-- (in arrival order) and the batches' sizes.
local function receive_batches(l, count)
  local got, batches = {}, {}
  while #got < count do
    local batch = H.ok(l:recvmmsg(8, 512))
    batches[#batches + 1] = batch
    for _, m in ipairs(batch) do
      got[#got + 1] = { data = m.data, addr = m.addr, port = m.port, dst = m.dst, ifindex = m.ifindex }
    end
    assert(#batches <= count, "more batches than datagrams")
  end
  return got, batches
end

-- What client c receives next: data and the address it came from.
local function answer(c)
  local data, from = H.ok(c:recvfrom())
  return data, from
end

local function ipv4(addr)
  return ds.family(addr) == "inet" or ds.is_mapped(addr)
end

for _, model in ipairs(MODELS) do
  describe("listener options, " .. model.name, function()
    it("setoption sets every socket and getoption reads it back", function()
      local l = udp_listener(model.opts)
      assert.equal(1, l:setoption("multicast_hops", 7))
      assert.equal(7, l:getoption("multicast_hops"))
      assert.equal(1, l:setoption("rcvbuf", 65536))
      for _, s in ipairs(l:sockets()) do
        assert.equal(7, s:getoption("multicast_hops"))
        assert.equal(s:getoption("rcvbuf"), l:getoption("rcvbuf"))
      end
      assert.equal(1, l:setoption("multicast_hops", 2))
      assert.equal(2, l:getoption("multicast_hops"))
    end)

    it("an option set on the listener governs both families' traffic", function()
      local l, port = udp_listener(model.opts)
      assert.equal(1, l:setoption("recvhoplimit", true))
      assert.is_true(l:getoption("recvhoplimit"))
      for _, case in ipairs { CLIENTS[1], CLIENTS[2] } do
        local c = keep(H.udp_bound(case.family, case.host))
        c:setoption("hoplimit", 33)
        assert.equal(1, c:sendto("h", case.host, port))
        local m = H.ok(l:recvmsg())
        assert.is_true(ds.same(case.host, m.addr))
        assert.equal(33, m.hoplimit)
      end
    end)

    it("refuses v6only, reads it as the listener's, and raises like a socket", function()
      local l = udp_listener(model.opts)
      assert.has_error(function() l:setoption("v6only", true) end,
        "bad argument #1 to 'setoption' (a listener's v6only is chosen when it is made: opts.v6only)")
      assert.is_false(l:getoption("v6only"))
      local only6 = keep(H.ok(ds.udp_listen("*", 0, { v6only = true })))
      assert.is_true(only6:getoption("v6only"))
      local ok, err = pcall(l.setoption, l, "nosuch", true)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'setoption' %(unknown option 'nosuch'%)$", err)
      ok, err = pcall(l.setoption, l, "nodelay", true)
      assert.is_false(ok)
      assert.matches("tcp socket expected for option 'nodelay', got udp socket", err, 1, true)
    end)

    it("a TCP listener sets its options on every socket; UDP methods raise", function()
      local l = keep(H.ok(ds.listen("*", 0, model.opts)))
      assert.equal(1, l:setoption("keepalive", true))
      assert.is_true(l:getoption("keepalive"))
      for _, s in ipairs(l:sockets()) do assert.is_true(s:getoption("keepalive")) end
      assert.equal(0, l:spoofed())
      assert.has_error(function() l:recvmmsg(1) end,
        "calling 'recvmmsg' on bad self (udp listener expected, got tcp listener)")
      assert.has_error(function() l:join("224.0.0.99", H.LO_NAME) end,
        "calling 'join' on bad self (udp listener expected, got tcp listener)")
      local u = udp_listener(model.opts)
      assert.has_error(function() u:accept() end, "calling 'accept' on bad self (tcp listener expected, got udp listener)")
    end)
  end)

  describe("listener multicast membership, " .. model.name, function()
    -- Which of the listener's sockets carry a group: a socket's own join
    -- of a group it is a member of is refused with EADDRINUSE.
    local function members(l, group)
      local out = {}
      for _, s in ipairs(l:sockets()) do
        local _, _, code = s:join(group, H.LO_NAME)
        if code == "EADDRINUSE" then out[#out + 1] = s:getfamily()
        elseif code == nil then s:leave(group, H.LO_NAME) end
      end
      return table.concat(out, ",")
    end

    local expect = {
      dual = { v4 = "dual", v6 = "dual" },
      inet6 = { v4 = "inet", v6 = "inet6" },
    }
    local want = expect[model.families[1]]

    it("joins an IPv4 and an IPv6 group on the sockets of their family, and leaves them", function()
      local why = H.needs_multicast("multicast"); if why then return pending(why) end
      if H.WINE then return pending("joining a group: Wine " .. H.WINE .. " lacks MCAST_JOIN_GROUP (Windows has it)") end
      local l = udp_listener(model.opts)
      assert.equal(1, l:join("224.0.0.99", H.LO_NAME))
      assert.equal(1, l:join("ff02::1:99", H.LO))
      assert.equal(want.v4, members(l, "224.0.0.99"))
      assert.equal(want.v6, members(l, "ff02::1:99"))
      assert.same({ nil, "address already in use", "EADDRINUSE" }, { l:join("224.0.0.99", H.LO_NAME) })
      assert.equal(1, l:leave("224.0.0.99", H.LO_NAME))
      assert.equal(1, l:leave("ff02::1:99", H.LO))
      assert.equal("", members(l, "224.0.0.99"))
      assert.equal("", members(l, "ff02::1:99"))
      assert.same({ nil, "address not available", "EADDRNOTAVAIL" }, { l:leave("224.0.0.99", H.LO_NAME) })
    end)

    it("refuses an IPv4 group on a v6only listener and raises on a unicast group", function()
      local l = keep(H.ok(ds.udp_listen("*", 0, { v6only = true, dualstack = model.opts.dualstack })))
      local ok, _, code = l:join("224.0.0.99", H.LO_NAME)
      assert.is_nil(ok)
      assert.equal("EAFNOSUPPORT", code)
      local u = udp_listener(model.opts)
      local pok, err = pcall(u.join, u, "127.0.0.1")
      assert.is_false(pok)
      assert.matches("not a multicast group address", err)
    end)
  end)

  describe("listener batches, " .. model.name, function()
    it("recvmmsg takes datagrams of both families, each batch from one socket", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local why = H.needs_bound_source("a client bound to 127.0.0.2"); if why then return pending(why) end
      local l, port = udp_listener(model.opts)
      local cs = clients()
      for i, c in ipairs(cs) do assert.equal(2, c:sendto("q" .. i, CLIENTS[i].host, port)) end
      local got, batches = receive_batches(l, 3)
      local seen = {}
      for _, m in ipairs(got) do seen[m.data] = m end
      for i, case in ipairs(CLIENTS) do
        local m = seen["q" .. i]
        assert(m, "q" .. i .. " not received")
        assert.is_true(ds.same(case.host, m.addr), m.addr)
        assert.is_true(ds.same(case.host, m.dst), tostring(m.dst))
        assert.equal(H.LO, m.ifindex)
      end
      if #model.families > 1 then
        assert.is_true(#batches >= 2, "both families in one batch of one socket")
        for _, b in ipairs(batches) do
          for _, m in ipairs(b) do assert.equal(ipv4(b[1].addr), ipv4(m.addr)) end
        end
      end
      H.assert_idle(l:sockets()[1])
    end)

    it("replymmsg answers each request from its dst, families mixed in one list", function()
      local why = H.needs_send_source("answers from 127.0.0.2"); if why then return pending(why) end
      local l, port = udp_listener(model.opts)
      local cs = clients()
      for i, c in ipairs(cs) do assert.equal(2, c:sendto("q" .. i, CLIENTS[i].host, port)) end
      local got = receive_batches(l, 3)
      -- Interleaved: IPv4, IPv6, IPv4, so the per-family model sends runs.
      local by = {}
      for _, m in ipairs(got) do by[m.data] = m end
      local reqs = { by.q1, by.q2, by.q3 }
      assert.equal(3, l:replymmsg(reqs, { "a1", "a2", "a3" }))
      for i, c in ipairs(cs) do
        local data, from = answer(c)
        assert.equal("a" .. i, data)
        assert.equal(CLIENTS[i].host, from) -- 127.0.0.2 answered from 127.0.0.2
      end
    end)

    it("replymmsg stops at a refused answer and counts those sent before it", function()
      local l, port = udp_listener(model.opts)
      local cs, ports = clients()
      for i, c in ipairs(cs) do assert.equal(2, c:sendto("q" .. i, CLIENTS[i].host, port)) end
      local by = {}
      for _, m in ipairs(receive_batches(l, 3)) do by[m.data] = m end
      -- An IPv6 peer with an IPv4 dst: the families differ, refused.
      local bad = { addr = "::1", port = ports[2], dst = "127.0.0.1" }
      local n, err, code, sent = l:replymmsg({ by.q1, by.q2, bad, by.q3 }, { "a1", "a2", "x", "a3" })
      assert.is_nil(n)
      assert.matches(model.refused[1], err, 1, true)
      assert.equal(model.refused[2], code)
      assert.equal(2, sent)
      assert.equal("a1", (answer(cs[1])))
      assert.equal("a2", (answer(cs[2])))
      H.assert_idle(cs[2])
      H.assert_idle(cs[3])
    end)

    it("sendmmsg sends each message through its family's socket, from its src", function()
      local why = H.needs_send_source("sending from src 127.0.0.2"); if why then return pending(why) end
      local l = udp_listener(model.opts)
      local cs, ports = clients()
      assert.equal(3, l:sendmmsg {
        { data = "m1", addr = "127.0.0.1", port = ports[1], src = "127.0.0.2" },
        { data = "m2", addr = "::1", port = ports[2] },
        { data = "m3", addr = "127.0.0.2", port = ports[3], src = "127.0.0.2" },
      })
      assert.same({ "m1", "127.0.0.2" }, { answer(cs[1]) })
      assert.same({ "m2", "::1" }, { answer(cs[2]) })
      assert.same({ "m3", "127.0.0.2" }, { answer(cs[3]) })
    end)

    it("sendmmsg stops at a refused message and counts those sent before it", function()
      local l = udp_listener(model.opts)
      local cs, ports = clients()
      local n, err, code, sent = l:sendmmsg {
        { data = "m1", addr = "127.0.0.1", port = ports[1] },
        { data = "m2", addr = "::1", port = ports[2] },
        { data = "m3", addr = "127.0.0.2", port = ports[3], src = "::1" },
        { data = "m4", addr = "::1", port = ports[2] },
      }
      assert.is_nil(n)
      assert.matches(model.refused[1], err, 1, true)
      assert.equal(model.refused[2], code)
      assert.equal(2, sent)
      assert.equal("m1", (answer(cs[1])))
      assert.equal("m2", (answer(cs[2])))
      H.assert_idle(cs[2])
      H.assert_idle(cs[3])
    end)

    it("batch calls raise with the socket's messages, indexes of the whole list", function()
      local l = udp_listener(model.opts)
      local ok, err = pcall(l.sendmmsg, l, { { data = "x", addr = "::1", port = 9 }, 5 })
      assert.is_false(ok)
      assert.matches("message 2: table expected, got number", err)
      ok, err = pcall(l.replymmsg, l, { {}, {} }, { "a" })
      assert.is_false(ok)
      assert.matches("as many answers as requests expected", err)
      ok, err = pcall(l.replymmsg, l, { { addr = "::1", port = 9, dst = "::1" }, { addr = "127.0.0.1", port = 9, dst = "127.0.0.1" } }, { "a", 7 })
      assert.is_false(ok)
      assert.matches("answer 2: string expected, got number", err)
      assert.has_error(function() l:recvmmsg(0) end, "bad argument #1 to 'recvmmsg' (count out of range (1-1024))")
    end)
  end)
end
