-- Defects an adversarial review of the binding found after the trust
-- work: stream bytes out of order, a closed socket left readable, batch
-- argument errors numbered wrong, listeners that blame poll or pick the
-- wrong family for a name, line limits not reaching accepted clients.
local H = require "spec.helpers"
local cleanup = require "spec.cleanup"

local ds, ok = H.ds, H.ok
local keep = cleanup.keep

after_each(cleanup.close_all)

local function tcp_pair()
  local c, a, l = H.tcp_pair("dual", "::1", "inet6", "::1")
  keep(l)
  return keep(c), keep(a)
end

describe("a stream's read-ahead", function()
  it("comes first for recvfrom too", function()
    local c, a = tcp_pair()
    ok(c:send("one\ntwo\n"))
    assert.equal("one", ok(a:receive("*l")))
    ok(c:send("LATER"))
    local got = {}
    repeat
      local piece = ok(a:recvfrom())
      got[#got + 1] = piece
    until table.concat(got):find("LATER", 1, true)
    assert.equal("two\nLATER", table.concat(got))
  end)

  it("goes with close: a closed socket is not dirty, and select skips it", function()
    local c, a = tcp_pair()
    ok(c:send("one\ntwo\n"))
    assert.equal("one", ok(a:receive("*l")))
    assert.is_true(a:dirty())
    ok(a:close())
    assert.is_false(a:dirty())
    local r, w, err = ds.select({ a }, nil, 0)
    assert.same({ {}, {}, "timeout" }, { r, w, err })
  end)

  -- recv's buffer is the socket's own, made without a collection step, so
  -- no finalizer can read ahead before recv reads; one that runs while
  -- recv makes its string reads after it, in order. Either way no byte is
  -- lost or reordered.
  it("recv and a finalizer reading inside it share the stream in order", function()
    local c, a = tcp_pair()
    c:settimeout(1)
    for attempt = 1, 200 do
      ok(a:send("AAA\nBBB\n"))
      ds.poll({ c:getfd() }, {}, 1)
      local inside, line = false, nil
      local restore = H.gc_incremental(1, 1000, 1, 8) -- a step per allocation
      collectgarbage("stop")
      for _ = 1, 50 do
        setmetatable({}, { __gc = function()
          if inside and not line then line = c:receive("*l") end
        end })
      end
      collectgarbage("restart")
      inside = true
      local data, err = c:recv(65536) -- over 8192 bytes: a buffer is made
      inside = false
      restore()
      collectgarbage()
      if line then -- it read what recv left, or waited for more in vain
        assert.same({ "AAA", "BBB\n" }, { line, data or err })
      else
        assert.equal("AAA\nBBB\n", data, "attempt " .. attempt)
      end
    end
  end)
end)

describe("sendmmsg's argument errors", function()
  it("name the list and the message that is not a table", function()
    local s = keep(H.socket("udp", "dual"))
    assert.has_error(function() s:sendmmsg({ "x" }) end,
      "bad argument #1 to 'sendmmsg' (message 1: table expected, got string)")
    -- A list of 3 whose message 2 is gone once message 1 is read: with the
    -- hole there from the start the length may be 1 (Lua 5.5 says so).
    local list
    list = { setmetatable({ addr = "::1", port = 9 }, { __index = function(_, k)
               if k == "data" then list[2] = nil return "a" end
             end }),
             { data = "b", addr = "::1", port = 9 }, { data = "c", addr = "::1", port = 9 } }
    assert.has_error(function() s:sendmmsg(list) end,
      "bad argument #1 to 'sendmmsg' (message 2: table expected, got nil)")
  end)
end)

describe("a per-family listener", function()
  it("closed, raises as a closed socket does", function()
    local l = ok(ds.udp_listen("*", 0, { dualstack = false }))
    assert.equal(2, #l:sockets())
    ok(l:close())
    local okc, err = pcall(l.recvmsg, l)
    assert.is_false(okc)
    assert.matches("attempt to use a closed socket$", err)
  end)

  it("sends to a name through the socket of the name's family", function()
    local l = keep(ok(ds.udp_listen("*", 0, { dualstack = false })))
    local receiver, port = H.udp_bound("dual", "*")
    keep(receiver)
    local first = ok(ds.getaddrinfo("localhost", nil, { socktype = "dgram" }))[1]
    assert.equal(1, ok(l:sendto("x", "localhost", port)))
    local data, from = ok(receiver:recvfrom())
    assert.equal("x", data)
    assert.is_true(ds.same(from, first.addr))
  end)
end)

describe("a listener's line limit", function()
  it("holds for the clients it accepts", function()
    local l = keep(ok(ds.listen("::1", 0, { maxline = 5 })))
    l:settimeout(H.WAIT)
    local _, port = l:getsockname()
    local c = keep(H.socket("tcp", "inet6"))
    ok(c:connect("::1", port))
    local a = keep(ok(l:accept()))
    a:settimeout(H.WAIT)
    assert.equal(5, a:getoption("maxline"))
    ok(c:send("12345\n123456\n"))
    assert.equal("12345", ok(a:receive()))
    assert.same({ nil, "line too long", "12345", "EMSGSIZE" }, { a:receive() })
  end)
end)

describe("a listener's options", function()
  it("are checked before any socket is made", function()
    local probe = keep(H.socket("tcp", "inet6"))
    ok(probe:bind("::1", 0))
    local _, port = probe:getsockname()
    probe:close()
    for _, case in ipairs {
      { { maxline = -1 }, "bad argument #3 to 'listen' (option 'maxline' must not be negative)" },
      { { maxline = "5" }, "bad argument #3 to 'listen' (option 'maxline': integer expected, got string)" },
      { { backlog = 1.5 }, "bad argument #3 to 'listen' (option 'backlog': integer expected, got float)" },
      { { reuseport = 1 }, "bad argument #3 to 'listen' (option 'reuseport': boolean expected, got integer)" },
      { 7, "bad argument #3 to 'listen' (table expected, got number)" },
    } do
      assert.has_error(function() ds.listen("::1", port, case[1]) end, case[2])
      -- Nothing was left bound: the port is free at once, without a collection.
      local again = keep(H.socket("tcp", "inet6"))
      ok(again:bind("::1", port))
      again:close()
    end
  end)
end)
