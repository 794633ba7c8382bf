-- Batches under hostile input: requests marked CE by the network, lists
-- longer than a batch, malformed and refused messages. The batch-reply
-- idioms (fresh tables with src, or replymmsg) must answer every request,
-- and sendmmsg must always say how many messages went.
local H = require "spec.helpers"
local cleanup = require "spec.cleanup"

local ok = H.ok
local keep = cleanup.keep
local help = require "spec.testhelp"

after_each(cleanup.close_all)

local udp = H.udp_kept

local assert_idle = H.assert_idle

-- What sendmsg and sendmmsg raise for a received table given without src.
local RECEIVED = "bad field 'dst' in message (a received message: answer it with reply or replymmsg)"

-- The README's batch-reply idiom: one fresh reply table per request.
local function answer_batch(server, batch)
  local replies = {}
  for i, m in ipairs(batch) do
    replies[i] = { data = "re:" .. m.data, addr = m.addr, port = m.port, src = m.dst }
  end
  return server:sendmmsg(replies)
end

-- Three clients query the server at to, the second one's query marked CE
-- by the network (as a router would mark it); returns the clients and the
-- batch the server received.
local function queries_with_ce(server, port, to)
  local clients = {}
  for i = 1, 3 do
    clients[i] = udp("inet", "127.0.0.1")
    if i == 2 then assert(help.setint(clients[i]:getfd(), help.IPPROTO_IP, help.IP_TOS, 3)) end
    ok(clients[i]:sendto("q" .. i, to, port))
  end
  return clients, ok(server:recvmmsg(8))
end

describe("a batch with a request marked CE", function()
  it("is answered in full by the batch-reply idiom", function()
    local why = H.needs_send_source("answers from 127.0.0.2"); if why then return pending(why) end
    local server, port = udp("dual", "*")
    ok(server:setoption("pktinfo", true))
    ok(server:setoption("recvtclass", true))
    local clients, batch = queries_with_ce(server, port, "127.0.0.2")
    assert.equal(3, #batch)
    assert.same({ 0, 3, 0 }, { batch[1].ecn, batch[2].ecn, batch[3].ecn })
    assert.equal(3, ok(answer_batch(server, batch)))
    for i = 1, 3 do
      local data, from = ok(clients[i]:recvfrom())
      assert.same({ "re:q" .. i, "127.0.0.2" }, { data, from })
    end
  end)

  it("sent back as received with sendmmsg, raises for its dst and sends nothing", function()
    -- A received table says where it came from, not where to answer from.
    local server, port = udp("dual", "*")
    ok(server:setoption("pktinfo", true))
    ok(server:setoption("recvtclass", true))
    local clients, batch = queries_with_ce(server, port, "127.0.0.2")
    assert.equal(3, #batch)
    assert.has_error(function() server:sendmmsg(batch) end, RECEIVED)
    for i = 1, 3 do assert_idle(clients[i]) end
  end)

  it("answered with replymmsg, every request is answered and the CE is not reflected", function()
    local why = H.needs_send_source("answers from 127.0.0.2"); if why then return pending(why) end
    local server, port = udp("dual", "*")
    ok(server:setoption("pktinfo", true))
    ok(server:setoption("recvtclass", true))
    local clients, batch = queries_with_ce(server, port, "127.0.0.2")
    assert.same({ 0, 3, 0 }, { batch[1].ecn, batch[2].ecn, batch[3].ecn })
    local answers = {}
    for i, m in ipairs(batch) do answers[i] = "re:" .. m.data end
    for i = 1, 3 do ok(clients[i]:setoption("recvtclass", true)) end
    assert.same({ 3 }, { server:replymmsg(batch, answers) })
    for i = 1, 3 do
      local m = ok(clients[i]:recvmsg())
      assert.same({ "re:q" .. i, "127.0.0.2", port, 0 }, { m.data, m.addr, m.port, m.ecn })
    end
  end)

  it("received without pktinfo (no dst) and sent back with sendmmsg, reflects the CE: "
    .. "answers those before it and counts them", function()
    local server, port = udp("dual", "*")
    ok(server:setoption("recvtclass", true))
    local clients, batch = queries_with_ce(server, port, "127.0.0.1")
    assert.is_nil(batch[1].dst)
    assert.same({ nil, "ECN codepoint CE (3) may not be sent", "EINVAL", 1 }, { server:sendmmsg(batch) })
    assert.equal("q1", ok(clients[1]:recvfrom()))
    assert_idle(clients[2])
    assert_idle(clients[3])
  end)
end)

describe("sendmmsg's count", function()
  it("is 0 and nothing goes when a later message is malformed", function()
    local server, port = udp("inet", "127.0.0.1")
    local client = udp("inet", "127.0.0.1")
    local list = {}
    for i = 1, 5 do list[i] = { data = "m" .. i, addr = "127.0.0.1", port = port } end
    list[5].port = "nine"
    local okc, err = pcall(client.sendmmsg, client, list)
    assert.is_false(okc)
    assert.matches("bad field 'port' in message %(integer expected%)$", err)
    assert_idle(server)
  end)

  it("counts what went before the name that does not resolve", function()
    local server, port = udp("dual", "*")
    local client = udp("dual", "*")
    local count, err, code, sent = client:sendmmsg {
      { data = "one", addr = "::1", port = port },
      { data = "two", addr = "no-such-host.invalid", port = port },
    }
    assert.same({ nil, 1 }, { count, sent })
    assert.is_string(err)
    assert.matches("^EAI_", code)
    assert.equal("one", ok(server:recvfrom()))
    assert_idle(server)
  end)

  it("covers a full batch of 1024", function()
    local server, port = udp("inet", "127.0.0.1")
    ok(server:setoption("rcvbuf", 4 * 1024 * 1024))
    local client = udp("inet", "127.0.0.1")
    local list = {}
    for i = 1, 1024 do list[i] = { data = tostring(i), addr = "127.0.0.1", port = port } end
    assert.equal(1024, ok(client:sendmmsg(list)))
    local n = 0
    repeat
      local batch = ok(server:recvmmsg(1024, 16))
      n = n + #batch
    until n == 1024 or #batch == 0
    assert.equal(1024, n)
  end)
end)

describe("batch lists from Lua are bounded", function()
  local function huge_border() return H.huge_border({}) end

  it("sendmmsg refuses more than 1024 messages", function()
    local client = udp("inet", "127.0.0.1")
    local list = {}
    for i = 1, 1025 do list[i] = { data = "x", addr = "127.0.0.1", port = 9 } end
    assert.has_error(function() client:sendmmsg(list) end,
      "bad argument #1 to 'sendmmsg' (more than 1024 messages)")
    assert.has_error(function() client:sendmmsg(huge_border()) end,
      "bad argument #1 to 'sendmmsg' (more than 1024 messages)")
  end)

  it("recvmmsg refuses a message list longer than 1024", function()
    local server = udp("inet", "127.0.0.1")
    local list = {}
    for i = 1, 1025 do list[i] = {} end
    assert.has_error(function() server:recvmmsg(8, 64, list) end,
      "bad argument #3 to 'recvmmsg' (more than 1024 messages)")
    assert.has_error(function() server:recvmmsg(8, 64, huge_border()) end,
      "bad argument #3 to 'recvmmsg' (more than 1024 messages)")
  end)
end)

describe("what a socket keeps between calls", function()
  -- A Lua state's memory in KiB after a full collection.
  local function heap_kib()
    collectgarbage()
    collectgarbage()
    return collectgarbage("count")
  end

  it("is not the buffer of one huge batch", function()
    local server = udp("inet", "127.0.0.1")
    server:settimeout(0)
    local before = heap_kib()
    -- 1024 datagrams of up to 64 KiB: a buffer of over 64 MiB for the call.
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { server:recvmmsg(1024, 65536) })
    local after = heap_kib()
    assert.is_true(after - before < 2048, ("the socket kept %s KiB"):format(after - before))
  end)

  it("is the buffer of an ordinary batch, reused by the next call", function()
    local server, port = udp("inet", "127.0.0.1")
    local client = udp("inet", "127.0.0.1")
    local base = heap_kib()
    ok(client:sendto("one", "127.0.0.1", port))
    assert.equal("one", ok(server:recvmmsg(64, 2048))[1].data)
    -- 64 entries of 2 KiB and more: the socket holds on to it.
    local kept = heap_kib() - base
    assert.is_true(kept > 100, ("the socket kept %s KiB"):format(kept))
    ok(client:sendto("two", "127.0.0.1", port))
    assert.equal("two", ok(server:recvmmsg(64, 2048))[1].data)
    assert.is_true(heap_kib() - base - kept < 32, "the next batch did not reuse it")
  end)
end)
