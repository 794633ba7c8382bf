-- Batch replies (issue 12): count, err, code, sent = sock:replymmsg(reqs,
-- answers) answers each received request from its dst, as reply does, in
-- one call. Real traffic: batches from mixed destinations (127.0.0.1,
-- 127.0.0.2, ::1 from clients bound so they can tell the source), the
-- request's network fields not reflected, argument errors with nothing
-- sent, refused answers ending the batch, and a link-local request over a
-- veth in namespaces the spec makes.
local H = require "spec.helpers"
local cleanup = require "spec.cleanup"
local N = require "spec.namespace"

local ds = H.ds
local ok, keep = H.ok, cleanup.keep
local LO = H.LO -- the loopback by its flag ("lo" on Linux)

after_each(cleanup.close_all)

local udp = H.udp_kept

local assert_idle = H.assert_idle

-- Receives want datagrams on server with recvmmsg; returns them in
-- arrival order (each call's tables are its own).
local function batch_of(server, want)
  local reqs = {}
  for _ = 1, want do
    if #reqs == want then break end
    for _, m in ipairs(ok(server:recvmmsg(16))) do reqs[#reqs + 1] = m end
  end
  assert.equal(want, #reqs)
  return reqs
end

-- Clients (family, bind address) that each query the server at `to` with
-- "q<i>"; answers come back as "re:q<i>" and must come from `to`.
local function run_batch(server_family, queries)
  local server, sport = udp(server_family, "*", { pktinfo = true })
  local clients = {}
  for i, q in ipairs(queries) do
    clients[i] = udp(q[1], q[2])
    ok(clients[i]:sendto("q" .. i, q[3], sport))
  end
  local reqs = batch_of(server, #queries)
  local answers = {}
  for i, m in ipairs(reqs) do answers[i] = "re:" .. m.data end
  assert.same({ #queries }, { server:replymmsg(reqs, answers) })
  for i, q in ipairs(queries) do
    assert.same({ "re:q" .. i, q[3], sport }, { clients[i]:recvfrom() }, "client " .. i)
  end
end

describe("replymmsg answers a batch in one call, each from its request's dst", function()
  it("dual server: queries to 127.0.0.2, 127.0.0.1, ::1 and 127.0.0.2 again", function()
    local why = H.needs_send_control("answering from each request's dst"); if why then return pending(why) end
    run_batch("dual", {
      { "inet", "127.0.0.1", "127.0.0.2" },
      { "inet", "127.0.0.1", "127.0.0.1" },
      { "inet6", "::1", "::1" },
      { "inet", "127.0.0.1", "127.0.0.2" },
      { "dual", "::1", "::1" },
    })
  end)

  it("inet server: queries to 127.0.0.1 and 127.0.0.2, interleaved", function()
    local why = H.needs_send_control("answering from each request's dst"); if why then return pending(why) end
    run_batch("inet", {
      { "inet", "127.0.0.1", "127.0.0.2" },
      { "inet", "127.0.0.1", "127.0.0.1" },
      { "inet", "127.0.0.1", "127.0.0.2" },
    })
  end)

  it("inet6 server: queries to ::1", function()
    run_batch("inet6", { { "inet6", "::1", "::1" }, { "inet6", "::1", "::1" } })
  end)

  it("control: fresh tables without src answer a 127.0.0.2 query from 127.0.0.1", function()
    local server, sport = udp("dual", "*", { pktinfo = true })
    local client = udp("inet", "127.0.0.1")
    ok(client:sendto("q", "127.0.0.2", sport))
    local m = batch_of(server, 1)[1]
    assert.same({ 1 }, { server:sendmmsg { { data = "plain", addr = m.addr, port = m.port } } })
    assert.same({ "plain", "127.0.0.1", sport }, { client:recvfrom() })
  end)

  it("an empty batch sends nothing and counts 0", function()
    local server = udp("dual", "*")
    assert.same({ 0 }, { server:replymmsg({}, {}) })
  end)

  for _, p in ipairs { { "inet", "127.0.0.1" }, { "inet6", "::1" } } do
    it(p[1] .. ": the request's hop limit and ECN are not reflected", function()
      local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
      local why = H.needs_send_control("a request sent with a per-message hoplimit and ecn"); if why then return pending(why) end
      local server, sport = udp("dual", "*", { pktinfo = true, recvhoplimit = true, recvtclass = true })
      local client = udp(p[1], p[2], { recvhoplimit = true, recvtclass = true })
      ok(client:sendmsg { data = "q", addr = p[2], port = sport, hoplimit = 7, ecn = 1 })
      local reqs = batch_of(server, 1)
      assert.same({ 7, 1 }, { reqs[1].hoplimit, reqs[1].ecn })
      assert.same({ 1 }, { server:replymmsg(reqs, { "answer" }) })
      local m = ok(client:recvmsg())
      assert.same({ "answer", p[2], sport, 64, 0 }, { m.data, m.addr, m.port, m.hoplimit, m.ecn })
    end)
  end

  it("uses a request's ifindex only where its dst gives no source or a link-local one", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local why = H.needs_send_control("answering from dst, or by ifindex"); if why then return pending(why) end
    -- 999999 is no interface: the system refuses it wherever it is used.
    local server, sport = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    local function req(dst, ifindex) return { addr = "127.0.0.1", port = cport, dst = dst, ifindex = ifindex } end
    -- A routable dst is the source; the routing table picks the way.
    assert.same({ 1 }, { server:replymmsg({ req("::ffff:127.0.0.2", 999999) }, { "unicast" }) })
    assert.same({ "unicast", "127.0.0.2", sport }, { client:recvfrom() })
    -- A group, the limited broadcast: the interface is used (an IPv4
    -- link-local dst, which needs an interface that has one, is in
    -- spec/fastpath_spec.lua's namespaces).
    for _, dst in ipairs { "::ffff:224.0.0.1", "::ffff:255.255.255.255" } do
      assert.same({ nil, "no such device", "ENODEV", 0 }, { server:replymmsg({ req(dst, 999999) }, { "x" }) })
    end
    assert_idle(client)
    -- A group is no source: the system picks, by the interface.
    assert.same({ 1 }, { server:replymmsg({ req("224.0.0.1", LO) }, { "group" }) })
    assert.same({ "group", "127.0.0.1", sport }, { client:recvfrom() })
    assert.same({ 1 }, { server:replymmsg({ req("255.255.255.255", LO) }, { "broadcast" }) })
    assert.same({ "broadcast", "127.0.0.1", sport }, { client:recvfrom() })
  end)

  it("refuses a request without dst on a wildcard socket, and answers one on a bound socket", function()
    local why = H.needs_bound_source("a socket bound to 127.0.0.2 answering"); if why then return pending(why) end
    -- Received with pktinfo off, a request has no dst: on a socket bound to
    -- "*" the answer would leave from the system's choice (127.0.0.1 for a
    -- query to 127.0.0.2), which the client drops.
    local wild, wport = udp("dual", "*")
    local client, cport = udp("inet", "127.0.0.1")
    ok(client:sendto("q", "127.0.0.2", wport))
    local m = ok(wild:recvmsg())
    assert.is_nil(m.dst)
    local MSG = "bad field 'dst' in message (missing: a socket bound to the wildcard needs pktinfo to answer)"
    assert.has_error(function() wild:reply(m, "a") end, MSG)
    assert.has_error(function() wild:replymmsg({ m }, { "a" }) end, MSG)
    assert_idle(client)
    -- Bound to one address, the socket answers from it.
    local bound, bport = udp("inet", "127.0.0.2")
    ok(client:sendto("q", "127.0.0.2", bport))
    m = ok(bound:recvmsg())
    assert.same({ 1 }, { bound:reply(m, "a") })
    assert.same({ "a", "127.0.0.2", bport }, { client:recvfrom() })
    assert.equal(cport, m.port)
  end)
end)

describe("replymmsg's arguments", function()
  -- A dual server that received one query from a client at 127.0.0.1;
  -- returns the server, the client and the request.
  local function one_request()
    local server, sport = udp("dual", "*", { pktinfo = true })
    local client = udp("inet", "127.0.0.1")
    ok(client:sendto("q", "127.0.0.2", sport))
    return server, client, batch_of(server, 1)[1]
  end

  it("raises unless there are as many answers as requests, and sends nothing", function()
    local server, client, m = one_request()
    local MISMATCH = "bad argument #2 to 'replymmsg' (as many answers as requests expected)"
    assert.has_error(function() server:replymmsg({ m }, {}) end, MISMATCH)
    assert.has_error(function() server:replymmsg({ m }, { "a", "b" }) end, MISMATCH)
    assert.has_error(function() server:replymmsg({}, { "a" }) end, MISMATCH)
    assert_idle(client)
  end)

  it("raises for a request that is no table, naming it, and sends nothing", function()
    local server, client, m = one_request()
    assert.has_error(function() server:replymmsg({ m, "x" }, { "a", "b" }) end,
      "bad argument #1 to 'replymmsg' (request 2: table expected, got string)")
    assert.has_error(function() server:replymmsg({ m, m, false }, { "a", "b", "c" }) end,
      "bad argument #1 to 'replymmsg' (request 3: table expected, got boolean)")
    assert_idle(client)
  end)

  it("raises for an answer that is no string, naming it, and sends nothing", function()
    local server, client, m = one_request()
    assert.has_error(function() server:replymmsg({ m, m }, { "a", 5 }) end,
      "bad argument #2 to 'replymmsg' (answer 2: string expected, got number)")
    assert.has_error(function() server:replymmsg({ m }, { {} }) end,
      "bad argument #2 to 'replymmsg' (answer 1: string expected, got table)")
    assert_idle(client)
  end)

  it("raises for a request without addr or port, and sends nothing", function()
    local server, client, m = one_request()
    assert.has_error(function() server:replymmsg({ m, { port = 9 } }, { "a", "b" }) end,
      "bad field 'addr' in message (missing)")
    assert.has_error(function() server:replymmsg({ m, { addr = "127.0.0.1" } }, { "a", "b" }) end,
      "bad field 'port' in message (missing)")
    assert_idle(client)
  end)

  it("raises for lists that are no tables", function()
    local server = udp("dual", "*")
    assert.has_error(function() server:replymmsg(nil, {}) end,
      "bad argument #1 to 'replymmsg' (table expected, got nil)")
    assert.has_error(function() server:replymmsg({}) end,
      "bad argument #2 to 'replymmsg' (table expected, got no value)")
  end)

  it("raises for more than 1024 requests", function()
    local server, client, m = one_request()
    local reqs, answers = {}, {}
    for i = 1, 1025 do reqs[i], answers[i] = m, "a" end
    assert.has_error(function() server:replymmsg(reqs, answers) end,
      "bad argument #1 to 'replymmsg' (more than 1024 requests)")
    assert.has_error(function() server:replymmsg(H.huge_border(m), answers) end,
      "bad argument #1 to 'replymmsg' (more than 1024 requests)")
    assert_idle(client)
  end)
end)

describe("replymmsg with a refused answer", function()
  -- Three clients at 127.0.0.1 query a dual server at 127.0.0.2.
  local function three()
    local server, sport = udp("dual", "*", { pktinfo = true })
    local clients = {}
    for i = 1, 3 do
      clients[i] = udp("inet", "127.0.0.1")
      ok(clients[i]:sendto("q" .. i, "127.0.0.2", sport))
    end
    return server, sport, clients, batch_of(server, 3)
  end

  -- The client whose query was reqs[i].
  local function client_of(clients, req)
    for _, c in ipairs(clients) do
      if select(2, c:getsockname()) == req.port then return c end
    end
  end

  it("a dst of the other family than addr ends the batch; the 4th value counts those sent", function()
    local why = H.needs_send_control("answering from each request's dst"); if why then return pending(why) end
    local server, sport, clients, reqs = three()
    reqs[2].dst = "::1"
    assert.same({ nil, "source ::1 (IPv6) cannot send to ::ffff:127.0.0.1 (IPv4): the families differ", "EINVAL", 1 },
      { server:replymmsg(reqs, { "a1", "a2", "a3" }) })
    assert.same({ "a1", "127.0.0.2", sport }, { client_of(clients, reqs[1]):recvfrom() })
    assert_idle(client_of(clients, reqs[2]))
    assert_idle(client_of(clients, reqs[3]))
  end)

  it("refused first, nothing goes and the count is 0", function()
    local server, _, clients, reqs = three()
    reqs[1].dst = "::1"
    local count, err, code, sent = server:replymmsg(reqs, { "a1", "a2", "a3" })
    assert.same({ nil, "EINVAL", 0 }, { count, code, sent })
    assert.matches("the families differ", err, 1, true)
    for i = 1, 3 do assert_idle(clients[i]) end
  end)

  it("an address that does not resolve ends the batch there", function()
    local why = H.needs_send_control("answering from each request's dst"); if why then return pending(why) end
    local server, sport, clients, reqs = three()
    reqs[3].addr = "no-such-host.invalid"
    local count, err, code, sent = server:replymmsg(reqs, { "a1", "a2", "a3" })
    assert.same({ nil, 2 }, { count, sent })
    assert.is_string(err)
    assert.matches("^EAI_", code)
    for i = 1, 2 do
      assert.same({ "a" .. i, "127.0.0.2", sport }, { client_of(clients, reqs[i]):recvfrom() })
    end
    assert_idle(client_of(clients, reqs[3]))
  end)

  it("a source the system refuses ends the batch there", function()
    local why = H.needs_send_source("a source the system refuses"); if why then return pending(why) end
    -- 10.9.9.9 is no local address: the system refuses it as a source.
    local server, sport, clients, reqs = three()
    reqs[2].dst = "::ffff:10.9.9.9"
    local count, err, code, sent = server:replymmsg(reqs, { "a1", "a2", "a3" })
    assert.same({ nil, 1 }, { count, sent })
    assert.is_string(err)
    assert.is_string(code)
    assert.same({ "a1", "127.0.0.2", sport }, { client_of(clients, reqs[1]):recvfrom() })
    assert_idle(client_of(clients, reqs[2]))
    assert_idle(client_of(clients, reqs[3]))
  end)
end)

describe("replymmsg with Lua code in the middle", function()
  it("sends each answer's own data while a request's __index edits the lists and collects", function()
    local why = H.needs_send_control("answering from each request's dst"); if why then return pending(why) end
    local server, sport = udp("dual", "*", { pktinfo = true })
    local client, cport = udp("inet", "127.0.0.1")
    local long1, long2 = ("a"):rep(100) .. "1", ("b"):rep(100) .. "2"
    local answers = { long1, long2 }
    long1, long2 = nil, nil
    local reqs
    reqs = {
      setmetatable({ addr = "127.0.0.1", port = cport }, { __index = function(_, k)
        if k == "dst" then
          answers[1], answers[2] = nil, "changed"
          reqs[2].port = cport
          collectgarbage()
          collectgarbage()
          return "::ffff:127.0.0.2"
        end
      end }),
      { addr = "127.0.0.1", port = 9, dst = "::ffff:127.0.0.1" },
    }
    assert.same({ 2 }, { server:replymmsg(reqs, answers) })
    assert.same({ ("a"):rep(100) .. "1", "127.0.0.2", sport }, { client:recvfrom() })
    assert.same({ "changed", "127.0.0.1", sport }, { client:recvfrom() })
  end)

  it("fails cleanly when a request's __index closes the socket", function()
    local server = udp("dual", "*")
    local req = setmetatable({ addr = "127.0.0.1", port = 9 }, { __index = function(_, k)
      if k == "dst" then server:close() return "::ffff:127.0.0.1" end
    end })
    assert.same({ nil, "bad file descriptor", "EBADF", 0 }, { server:replymmsg({ req }, { "x" }) })
  end)
end)

-- Link-local over a veth (as in fastpath_spec): the server's va has
-- fe80::a2 (queried) and fe80::a (the system's choice of source), the
-- peer's vb fe80::b, and IPv4 192.0.2.1 and 192.0.2.2.
local LINK_SETUP = N.PAIR .. [[
ip addr add fe80::a2/64 dev va nodad
ip addr add fe80::a/64 dev va nodad
nsenter -t $PEER -n ip addr add fe80::b/64 dev vb nodad
]]

local LINK_CHILD = [==[
local ds = require "dualstack"
-- The peer asks fe80::a2 and 192.0.2.1 and prints the answers: two on
-- the IPv6 socket, one on the IPv4 one.
local ASK = [=[
local port = tonumber((...))
local ds = require "dualstack"
local c6 = assert(ds.udp { family = "inet6" })
assert(c6:bind("fe80::b%vb", 0))
local c4 = assert(ds.udp { family = "inet" })
assert(c4:bind("192.0.2.2", 0))
c6:settimeout(2)
c4:settimeout(2)
assert(c6:sendto("q6", "fe80::a2%vb", port))
assert(c4:sendto("q4", "192.0.2.1", port))
local function show(c)
  local data, from, p = c:recvfrom()
  print(("%s from %s %s"):format(tostring(data), tostring(from), p == port and "port-ok" or "port-bad"))
end
show(c6)
show(c4)
show(c6)
]=]
local s = assert(ds.udp())
assert(s:setoption("pktinfo", true))
assert(s:bind("*", 0))
s:settimeout(2)
local port = select(2, s:getsockname())
local peer = in_peer(ASK, port)
local reqs = {}
while #reqs < 2 do
  local got = assert(s:recvmmsg(4))
  for _, m in ipairs(got) do reqs[#reqs + 1] = m end
end
table.sort(reqs, function(a, b) return a.data > b.data end) -- q6, q4
report("dsts", reqs[1].dst .. " " .. reqs[2].dst .. " " .. tostring(reqs[1].ifindex == ds.ifindex("va")))
local answers = {}
for i, m in ipairs(reqs) do answers[i] = "re:" .. m.data end
report("count", table.concat({ tostring(s:replymmsg(reqs, answers)) }, ","))
-- Control: fresh tables without src leave from the system's choice.
report("plain", tostring(s:sendmmsg { { data = "plain", addr = reqs[1].addr, port = reqs[1].port } }))
for i = 1, 3 do report("answer" .. i, peer:read("l")) end
peer:close()
os.execute("kill " .. os.getenv("PEER"))
report("done", "yes")
]==]

describe("replymmsg over a veth", function()
  local results, output
  local function run()
    local usable, reason = N.available("-n")
    if not usable then return nil, reason end
    if not results then results, output = N.run("-n", LINK_SETUP, LINK_CHILD) end
    assert.equal("yes", results.done, "the namespace child did not finish:\n" .. output)
    return results
  end

  it("answers a link-local request from fe80::a2 with its zone, and an IPv4 one", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local r, reason = run()
    if not r then return pending(reason) end
    assert.equal("fe80::a2 ::ffff:192.0.2.1 true", r.dsts)
    assert.equal("2", r.count)
    assert.equal("re:q6 from fe80::a2%vb port-ok", r.answer1)
    assert.equal("re:q4 from 192.0.2.1 port-ok", r.answer2)
  end)

  it("control: without the request's dst the answer leaves from fe80::a", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local r, reason = run()
    if not r then return pending(reason) end
    assert.equal("1", r.plain)
    assert.equal("plain from fe80::a%vb port-ok", r.answer3)
  end)
end)
