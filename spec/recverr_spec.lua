-- ICMP errors on UDP (issue 17): setoption("recverr"), sock:recverr(), and
-- the no-spin rule (with recverr on, asynchronous errors are reported by
-- recverr only: receives and sends never fail with them, and no wait spins
-- on them). Real traffic on loopback: 127.0.0.1 -> a closed port on
-- 127.0.0.2 answers ICMP port unreachable, ::1 -> ::1 ICMPv6.
local H = require "helpers"
local cleanup = require "cleanup"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

-- A UDP socket with recverr on, bound to host.
local function errsock(family, host)
  local s = keep(H.udp_bound(family, host))
  H.ok(s:setoption("recverr", true))
  return s
end

-- Sends data to a closed port of host and waits (select) until the error
-- is queued; returns the port.
local function provoke(s, host, data, port)
  port = port or H.closed_port(host:find(":") and "inet6" or "inet", host)
  assert.equal(#(data or "abc"), H.ok(s:sendto(data or "abc", host, port)))
  local r = ds.select({ s }, nil, 1)
  assert.equal(s, r[1], "the ICMP error made the socket readable")
  return port
end

local function expected(t)
  return H.copy({ code = "ECONNREFUSED", message = "connection refused", info = 0, data = "abc",
                  lost = 0 }, t)
end

-- The entry of a port unreachable from offender (as the socket shows it:
-- ::ffff:a.b.c.d on a dual socket is ICMP's) for a datagram to its port.
local function unreachable(offender, port)
  local v6 = offender:find(":") and not offender:find("^::ffff:")
  return expected{ origin = v6 and "icmp6" or "icmp", type = v6 and 1 or 3, icmpcode = v6 and 4 or 3,
                   offender = offender, addr = offender, port = port }
end

-- A case on a recverr socket of family bound to host: fn(s), pending where
-- the system has no error queue.
local function errcase(name, family, host, fn)
  it(name, function()
    local why = H.needs_errqueue(); if why then return pending(why) end
    fn(errsock(family, host))
  end)
end

describe("recverr", function()
  errcase("inet: the port unreachable from 127.0.0.2, then an empty queue", "inet", "127.0.0.1", function(s)
    assert.is_true(s:getoption("recverr"))
    local port = provoke(s, "127.0.0.2")
    assert.same(unreachable("127.0.0.2", port), s:recverr())
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recverr() })
  end)

  errcase("dual: mapped offender and destination for IPv4, icmp6 for ::1", "dual", "::", function(s)
    local port = provoke(s, "127.0.0.2")
    assert.same(unreachable("::ffff:127.0.0.2", port), s:recverr())
    port = provoke(s, "::1")
    assert.same(unreachable("::1", port), s:recverr())
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recverr(0.1) })
  end)

  errcase("inet6: the ICMPv6 port unreachable from ::1", "inet6", "::1", function(s)
    local port = provoke(s, "::1")
    assert.same(unreachable("::1", port), s:recverr())
  end)

  errcase("waits within its timeout for an error to come", "inet", "127.0.0.1", function(s)
    local elapsed, _, r, msg, code = H.timed(function() return s:recverr(0.2) end)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { r, msg, code })
    assert.is_true(elapsed >= 0.19, "waited " .. elapsed)
  end)

  errcase("the sk_err hazard: a send to a live peer after an error succeeds",
          "inet", "127.0.0.1", function(s)
    local peer, pport = H.udp_kept("inet", "127.0.0.1")
    local port = provoke(s, "127.0.0.2")
    assert.same({ 2 }, { s:sendto("ok", "127.0.0.1", pport) })
    assert.same({ "ok", "127.0.0.1", select(2, s:getsockname()) }, { peer:recvfrom() })
    local e = s:recverr()
    assert.equal("ECONNREFUSED", e.code)
    assert.equal(port, e.port)
  end)

  errcase("no spin: a receive with an error queued times out without busy waiting",
          "inet", "127.0.0.1", function(s)
    local port = provoke(s, "127.0.0.2")
    s:settimeout(0.5)
    local elapsed, cpu, d, msg, code = H.timed(function() return s:recvfrom() end)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { d, msg, code })
    assert.is_true(elapsed >= 0.45, "returned after " .. elapsed .. " s")
    assert.is_true(cpu < 0.1, "used " .. cpu .. " s of CPU")
    assert.same({}, (ds.select({ s }, nil, 0.2)), "the drained error no longer wakes select")
    assert.same(unreachable("127.0.0.2", port), s:recverr())
  end)

  errcase("a receive with timeout 0 moves the entry, so the next select blocks",
          "inet", "127.0.0.1", function(s)
    provoke(s, "127.0.0.2")
    s:settimeout(0)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recvfrom() })
    assert.same({}, (ds.select({ s }, nil, 0.1)))
    assert.equal("ECONNREFUSED", s:recverr(0).code)
  end)

  errcase("the event-loop idiom: wait readable, recvfrom with timeout 0, and the next wait blocks",
          "inet", "127.0.0.1", function(s)
    local port = provoke(s, "127.0.0.2")
    s:settimeout(0)
    local wakes, answers = 0, {}
    local elapsed, cpu = H.timed(function()
      local stop = H.now() + 0.5
      while H.now() < stop do
        if ds.wait(s, math.max(0, stop - H.now())) then
          wakes = wakes + 1
          answers[#answers + 1] = table.concat({ tostring((s:recvfrom())), select(3, s:recvfrom()) }, " ")
        end
      end
    end)
    assert.equal(1, wakes, "one wake for one queued error")
    assert.same({ "nil ETIMEDOUT" }, answers)
    assert.is_true(elapsed >= 0.45 and cpu < 0.1, ("%.3f s, %.3f s CPU"):format(elapsed, cpu))
    assert.equal(port, s:recverr(0).port)
  end)

  errcase("a local EMSGSIZE is the send's own error, and its twin is kept", "inet", "127.0.0.1", function(s)
    local port = H.closed_port("inet", "127.0.0.1")
    assert.same({ nil, "message too long", "EMSGSIZE" }, { s:sendto(("x"):rep(65508), "127.0.0.1", port) })
    -- an unconnected socket's local error names the destination without its port
    assert.same({ code = "EMSGSIZE", message = "message too long", origin = "local", type = 0, icmpcode = 0,
                  info = 65535, addr = "127.0.0.1", port = 0, data = "", lost = 0 }, s:recverr())
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recverr() })
  end)

  errcase("connected: recverr on, recv times out and recverr has the error; off, ECONNREFUSED",
          "inet", "127.0.0.1", function(s)
    local port = H.closed_port("inet", "127.0.0.2")
    H.ok(s:connect("127.0.0.2", port))
    H.ok(s:send("abc"))
    assert.equal(s, ds.select({ s }, nil, 1)[1])
    s:settimeout(0.3)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recv() })
    assert.same(unreachable("127.0.0.2", port), s:recverr())
    local off = keep(H.udp_bound("inet", "127.0.0.1"))
    H.ok(off:connect("127.0.0.2", port))
    H.ok(off:send("abc"))
    assert.equal(off, ds.select({ off }, nil, 1)[1])
    assert.is_false(off:getoption("recverr"))
    assert.same({ nil, "connection refused", "ECONNREFUSED" }, { off:recv() })
  end)

  errcase("keeps 64 entries: of 70 errors the first kept says 6 were lost", "inet", "127.0.0.1", function(s)
    local port = H.closed_port("inet", "127.0.0.2")
    for i = 1, 70 do H.ok(s:sendto(("%02d"):format(i), "127.0.0.2", port)) end
    ds.select({ s }, nil, 1)
    s:settimeout(0)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recvfrom() }) -- all 70 into the FIFO
    local got = {}
    for _ = 1, 70 do
      local e = s:recverr()
      if not e then break end
      got[#got + 1] = e
    end
    assert.equal(64, #got)
    assert.equal(6, got[1].lost)
    assert.equal("07", got[1].data)
    assert.equal(0, got[2].lost)
    assert.equal("70", got[64].data)
  end)

  it("data is the quoted datagram: 520 bytes via 127.0.0.2, 1184 via ::1", function()
    local why = H.needs_errqueue(); if why then return pending(why) end
    local payload = ("0123456789"):rep(140)
    local s4 = errsock("inet", "127.0.0.1")
    provoke(s4, "127.0.0.2", payload)
    local e4 = s4:recverr()
    assert.equal(520, #e4.data)
    assert.equal(payload:sub(1, 520), e4.data)
    local s6 = errsock("inet6", "::1")
    provoke(s6, "::1", payload)
    local e6 = s6:recverr()
    assert.equal(1184, #e6.data)
    assert.equal(payload:sub(1, 1184), e6.data)
  end)

  it("off: recverr raises, and off again drops what was kept", function()
    local why = H.needs_errqueue(); if why then return pending(why) end
    local s = keep(H.udp_bound("inet", "127.0.0.1"))
    assert.is_false(s:getoption("recverr"))
    H.raises("bad argument #1 to 'recverr' (option 'recverr' is off)", function() s.recverr(s) end)
    H.raises("calling 'recverr' on bad self (option 'recverr' is off)", function() s:recverr() end)
    H.ok(s:setoption("recverr", true))
    provoke(s, "127.0.0.2")
    H.ok(s:setoption("recverr", false))
    assert.is_false(s:getoption("recverr"))
    H.raises("bad argument #1 to 'recverr' (option 'recverr' is off)", function() s.recverr(s) end)
    H.ok(s:setoption("recverr", true))
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recverr() })
  end)

  it("is a UDP option, and its value a boolean", function()
    local t = keep(H.socket("tcp", "inet"))
    H.raises("udp socket expected for option 'recverr', got tcp socket",
             function() t:setoption("recverr", true) end)
    H.raises("bad argument #1 to 'recverr' (udp socket expected, got tcp socket)",
             function() t.recverr(t) end)
    local s = keep(H.socket("udp", "inet"))
    H.raises("boolean expected, got number", function() s:setoption("recverr", 1) end)
  end)

  errcase("a closed socket with errors kept frees them (close and collection)",
          "inet", "127.0.0.1", function(s)
    provoke(s, "127.0.0.2")
    s:settimeout(0)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recvfrom() }) -- moved into the FIFO
    s:close()
    H.raises("attempt to use a closed socket", function() s:recverr() end)
    do
      local g = H.ok(ds.udp{ family = "inet" })
      H.ok(g:setoption("recverr", true))
      H.ok(g:bind("127.0.0.1", 0))
      provoke(g, "127.0.0.2")
      g:settimeout(0)
      assert.same({ nil, "timeout", "ETIMEDOUT" }, { g:recvfrom() })
    end
    collectgarbage() -- the leak checkers (make check-asan) see the FIFO go
  end)

  it("Windows has no error queue: ENOPROTOOPT; Linux: 1", function()
    local s = keep(H.socket("udp", "inet"))
    if not H.WINDOWS then
      assert.same({ 1 }, { s:setoption("recverr", true) })
      return
    end
    local ok, _, code = s:setoption("recverr", true)
    assert.same({ nil, "ENOPROTOOPT" }, { ok, code })
    ok, _, code = s:getoption("recverr")
    assert.same({ nil, "ENOPROTOOPT" }, { ok, code })
    H.raises("bad argument #1 to 'recverr' (option 'recverr' is off)", function() s.recverr(s) end)
  end)
end)
