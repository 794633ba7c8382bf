-- Message tables under the one rule of issue 12: after recvmsg or recvmmsg
-- every message field of the table is this datagram's, absent ones nil,
-- whoever stored them (another socket's options, the user) and however the
-- table came back. And a received table (it has dst) handed to sendmsg or
-- sendmmsg without src is refused loudly, with nothing sent, since sent as
-- it is it would leave from whatever source the system picks.
local H = require "spec.helpers"
local cleanup = require "spec.cleanup"

local ds = H.ds
local ok, keep = H.ok, cleanup.keep
local LO = H.LO -- the loopback by its flag ("lo" on Linux)

after_each(cleanup.close_all)

local RECEIVED = "bad field 'dst' in message (a received message: answer it with reply or replymmsg)"

local udp = H.udp_kept

local assert_idle = H.assert_idle

-- Receivers' options: every receive option, only pktinfo, none.
-- Every receive option the platform has (Windows has no timestamp option).
local FULL = { pktinfo = true, recvhoplimit = true, recvtclass = true, timestamp = not H.WINDOWS or nil }
local PKT = { pktinfo = true }
local BARE = {}

-- Per server family: the sender's family and bind address, the address it
-- sends to, and the addr and dst the server reports.
local FAMILIES = {
  { server = "dual", client = "inet", bind = "127.0.0.1", to = "127.0.0.2",
    addr = "::ffff:127.0.0.1", dst = "::ffff:127.0.0.2" },
  { server = "dual", client = "inet6", bind = "::1", to = "::1", addr = "::1", dst = "::1" },
  { server = "inet", client = "inet", bind = "127.0.0.1", to = "127.0.0.2",
    addr = "127.0.0.1", dst = "127.0.0.2" },
  { server = "inet6", client = "inet6", bind = "::1", to = "::1", addr = "::1", dst = "::1" },
}

local function label(f) return f.server .. " receivers, " .. f.client .. " sender" end

-- What a table holds after receiving data from sender port sport with the
-- options opts (the timestamp is checked apart: it is a number then).
local function expected(f, opts, data, sport)
  local m = { data = data, addr = f.addr, port = sport, size = #data, truncated = false, ctruncated = false }
  if opts.pktinfo then m.dst, m.ifindex = f.dst, LO end
  if opts.recvhoplimit then m.hoplimit = 64 end
  if opts.recvtclass then m.tclass, m.ecn = 0, 0 end
  return m
end

-- Checks that m holds exactly want and, with timestamp on, a timestamp.
local function assert_exactly(want, m, opts)
  local copy = {}
  for k, v in pairs(m) do copy[k] = v end
  if opts.timestamp then
    assert.equal("number", type(copy.timestamp))
    copy.timestamp = nil
  end
  assert.same(want, copy)
end

describe("a message table after recvmsg", function()
  for _, f in ipairs(FAMILIES) do
    it(label(f) .. ": moved between sockets with other options, holds only this datagram's fields", function()
      local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
      local full, fport = udp(f.server, "*", FULL)
      local pkt, pport = udp(f.server, "*", PKT)
      local bare, bport = udp(f.server, "*", BARE)
      local sender, sport = udp(f.client, f.bind)
      local m = {}
      for i, step in ipairs { { full, fport, FULL }, { pkt, pport, PKT }, { bare, bport, BARE },
                              { full, fport, FULL }, { bare, bport, BARE }, { pkt, pport, PKT } } do
        local data = "d" .. i
        ok(sender:sendto(data, f.to, step[2]))
        assert.equal(m, ok(step[1]:recvmsg(nil, m)))
        assert_exactly(expected(f, step[3], data, sport), m, step[3])
      end
    end)

    it(label(f) .. ": fields the user stored are nil after a refill, src included", function()
      local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
      local full, fport = udp(f.server, "*", FULL)
      local bare, bport = udp(f.server, "*", BARE)
      local sender, sport = udp(f.client, f.bind)
      -- A table the socket filled before, then edited for an answer.
      local m = {}
      ok(sender:sendto("first", f.to, fport))
      ok(full:recvmsg(nil, m))
      m.src, m.hoplimit, m.tclass, m.ecn, m.segment = f.dst, 3, 0x20, 1, 100
      ok(sender:sendto("second", f.to, fport))
      ok(full:recvmsg(nil, m))
      assert_exactly(expected(f, FULL, "second", sport), m, FULL)
      -- Every message field stored by hand, and one that is no message
      -- field, which is the user's.
      m.src, m.hoplimit, m.segment, m.broadcast, m.timestamp = f.dst, 3, 100, "x", 1.5
      m.truncated, m.ctruncated, m.size, m.mine = "junk", "junk", -1, "kept"
      ok(sender:sendto("third", f.to, bport))
      ok(bare:recvmsg(nil, m))
      local want = expected(f, BARE, "third", sport)
      want.mine = "kept"
      assert_exactly(want, m, BARE)
    end)

    it(label(f) .. ": a truncated datagram sets the flags and a whole one clears them", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local pkt, pport = udp(f.server, "*", PKT)
      local sender, sport = udp(f.client, f.bind)
      local m = {}
      ok(sender:sendto("long datagram", f.to, pport))
      ok(pkt:recvmsg(4, m))
      local want = expected(f, PKT, "long", sport)
      -- Only Linux reports a truncated datagram's real length (the
      -- reference); Windows reports the bytes received.
      want.size, want.truncated = H.WINDOWS and 4 or 13, true
      assert_exactly(want, m, PKT)
      ok(sender:sendto("ok", f.to, pport))
      ok(pkt:recvmsg(4, m))
      assert_exactly(expected(f, PKT, "ok", sport), m, PKT)
    end)
  end
end)

describe("a message list after recvmmsg", function()
  for _, f in ipairs(FAMILIES) do
    it(label(f) .. ": a reused list holds only each datagram's fields", function()
      local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
      local full, fport = udp(f.server, "*", FULL)
      local pkt, pport = udp(f.server, "*", PKT)
      local bare, bport = udp(f.server, "*", BARE)
      local sender, sport = udp(f.client, f.bind)
      local m1, m2, m3 = {}, {}, { src = f.dst, hoplimit = 9, ecn = 2, segment = 1, mine = "kept" }
      local list = { m1, m2, m3 }
      for i = 1, 2 do ok(sender:sendto("a" .. i, f.to, fport)) end
      assert.equal(list, ok(full:recvmmsg(8, nil, list)))
      assert.same({ 2, m1, m2 }, { #list, list[1], list[2] })
      for i = 1, 2 do assert_exactly(expected(f, FULL, "a" .. i, sport), list[i], FULL) end
      -- The user edits them, and puts the third back.
      m1.src, m2.hoplimit, m2.src = f.dst, 1, "*"
      list[3] = m3
      for i = 1, 3 do ok(sender:sendto("b" .. i, f.to, pport)) end
      assert.equal(list, ok(pkt:recvmmsg(8, nil, list)))
      assert.same({ 3, m1, m2, m3 }, { #list, list[1], list[2], list[3] })
      for i = 1, 2 do assert_exactly(expected(f, PKT, "b" .. i, sport), list[i], PKT) end
      local want3 = expected(f, PKT, "b3", sport)
      want3.mine = "kept"
      assert_exactly(want3, m3, PKT)
      -- A socket without options clears dst and ifindex too; the list
      -- is trimmed to what arrived.
      m1.src = f.dst
      ok(sender:sendto("c1", f.to, bport))
      assert.equal(list, ok(bare:recvmmsg(8, nil, list)))
      assert.same({ 1, m1 }, { #list, list[1] })
      assert_exactly(expected(f, BARE, "c1", sport), m1, BARE)
    end)
  end
end)

describe("sendmsg and sendmmsg with a received table", function()
  -- A server of f with pktinfo and a client that queried it; returns the
  -- server, its port, the client and the received query.
  local function query(f)
    local server, sport = udp(f.server, "*", PKT)
    local client = udp(f.client, f.bind)
    ok(client:sendto("query", f.to, sport))
    return server, sport, client, ok(server:recvmsg())
  end

  for _, f in ipairs(FAMILIES) do
    it(label(f) .. ": sendmsg raises for it without src, and nothing goes", function()
      local server, _, client, m = query(f)
      assert.equal(f.dst, m.dst)
      m.data = "answer"
      assert.has_error(function() server:sendmsg(m) end, RECEIVED)
      assert_idle(client)
    end)

    it(label(f) .. ": sendmmsg raises for it without src, and none of the list goes", function()
      local server, _, client, m = query(f)
      local _, cport = client:getsockname()
      local fresh = { data = "fresh", addr = f.bind, port = cport }
      assert.has_error(function() server:sendmmsg { fresh, m } end, RECEIVED)
      assert.has_error(function() server:sendmmsg { m, fresh } end, RECEIVED)
      assert_idle(client)
    end)

    it(label(f) .. ": with src given, sendmsg and sendmmsg send it from src", function()
      local why = f.to == "127.0.0.2" and H.needs_send_source("sendmsg src 127.0.0.2"); if why then return pending(why) end
      local server, sport, client, m = query(f)
      m.data, m.src = "by-sendmsg", m.dst
      assert.equal(10, ok(server:sendmsg(m)))
      assert.same({ "by-sendmsg", f.to, sport }, { client:recvfrom() })
      m.data = "by-sendmmsg"
      assert.same({ 1 }, { server:sendmmsg { m } })
      assert.same({ "by-sendmmsg", f.to, sport }, { client:recvfrom() })
    end)
  end

  it("a CE-marked request: the refusal points to reply alone, m.src = m.dst gets the CE "
    .. "refusal, reply answers", function()
    local why = H.needs_send_source("reply from 127.0.0.2"); if why then return pending(why) end
    -- The old advice ("or give src") sent back what the network set: the
    -- CE mark, which no sender may set.
    local help = require "spec.testhelp"
    local server, sport = udp("dual", "*", { pktinfo = true, recvtclass = true })
    local client = udp("inet", "127.0.0.1")
    assert(help.setint(client:getfd(), help.IPPROTO_IP, help.IP_TOS, 3))
    ok(client:sendto("query", "127.0.0.2", sport))
    local m = ok(server:recvmsg())
    assert.same({ 3, "::ffff:127.0.0.2" }, { m.ecn, m.dst })
    m.data = "answer"
    assert.same({ false, RECEIVED }, { pcall(server.sendmsg, server, m) })
    assert.same({ false, RECEIVED }, { pcall(server.sendmmsg, server, { m }) })
    m.src = m.dst
    assert.same({ nil, "ECN codepoint CE (3) may not be sent", "EINVAL" }, { server:sendmsg(m) })
    assert.same({ nil, "ECN codepoint CE (3) may not be sent", "EINVAL", 0 }, { server:sendmmsg { m } })
    assert_idle(client)
    assert.equal(6, ok(server:reply(m, "answer")))
    assert.same({ "answer", "127.0.0.2", sport }, { client:recvfrom() })
  end)

  it("a table received without pktinfo has no dst, and sendmsg sends it", function()
    -- The rule is the dst field, not where the table came from.
    local server, sport = udp("dual", "*", BARE)
    local client = udp("inet", "127.0.0.1")
    ok(client:sendto("query", "127.0.0.1", sport))
    local m = ok(server:recvmsg())
    assert.is_nil(m.dst)
    m.data = "back"
    assert.equal(4, ok(server:sendmsg(m)))
    assert.same({ "back", "127.0.0.1", sport }, { client:recvfrom() })
  end)
end)
