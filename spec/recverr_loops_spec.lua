-- recverr (issue 17) beyond one socket in one thread: the event loops
-- (cqueues, luv) do not spin on a queued error, a send with no route is
-- the send's own synchronous ENETUNREACH, and the UDP listener's
-- recverr / opts.recverr. Real traffic on loopback (a closed port on
-- 127.0.0.2 and on ::1); the no-route case in a namespace with only lo.
local H = require "helpers"
local N = require "namespace"
local cleanup = require "cleanup"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

-- ---- event loops: a receive loop with an error queued, no spin ----------

-- A child per loop (luv cannot load twice into one Lua state): H.in_loop
-- runs each body in a coroutine of the loop while a ticker counts
-- env.ticks every 10 ms.

-- The receive loop: 1 s of ds.wait + recvfrom (timeout 0) with one
-- ECONNREFUSED queued; reports ticks, CPU, wakes and the entry after.
local RECV_BODY = [[
  local s = assert(ds.udp { family = "inet" })
  assert(s:setoption("recverr", true))
  assert(s:bind("127.0.0.1", 0))
  s:settimeout(0)
  local t = assert(ds.tcp { family = "inet" })
  assert(t:bind("127.0.0.2", 0))
  local _, port = t:getsockname()
  t:close()
  assert(s:sendto("abc", "127.0.0.2", port))
  local cpu, start, ticks0 = os.clock(), ds.monotime(), env.ticks
  local wakes, others = 0, {}
  while ds.monotime() - start < 1 do
    if ds.wait(s, math.max(0, 1 - (ds.monotime() - start))) then
      wakes = wakes + 1
      local d, err, code = s:recvfrom()
      if d or code ~= "ETIMEDOUT" then others[#others + 1] = tostring(d) .. " " .. tostring(err) end
      if wakes > 1000 then break end
    end
  end
  report("cpu", os.clock() - cpu)
  report("ticks", env.ticks - ticks0)
  report("wakes", wakes)
  report("others", table.concat(others, ", "))
  local e, err = s:recverr()
  report("code", e and e.code or err)
  report("offender", e and e.offender)
  report("port", e and e.port == port)
]]

-- A listener (one socket per family) in the loop: recverr(1) waits,
-- yielding, for an error another coroutine provokes 0.3 s later; then a
-- datagram waits unread while recverr(0.5) times out without spinning.
local LISTENER_BODY = [[
  local l = assert(ds.udp_listen("*", 0, { recverr = true, dualstack = false }))
  local t = assert(ds.tcp { family = "inet6" })
  assert(t:bind("::1", 0))
  local _, port = t:getsockname()
  t:close()
  env.spawn(function() env.sleep(0.3); assert(l:sendto("abc", "::1", port)) end)
  local ticks0, start = env.ticks, ds.monotime()
  local e, err = l:recverr(1)
  report("waited", ds.monotime() - start)
  report("wait_ticks", env.ticks - ticks0)
  report("code", e and e.code or err)
  report("offender", e and e.offender)
  report("port", e and e.port == port)
  local _, lport = l:getsockname()
  local c = assert(ds.udp { family = "inet" })
  assert(c:sendto("hello", "127.0.0.1", lport))
  env.sleep(0.05)
  local cpu, ticks1 = os.clock(), env.ticks
  start = ds.monotime()
  report("idle", table.concat({ tostring((l:recverr(0.5))), select(3, l:recverr(0)) }, "|"))
  report("idle_elapsed", ds.monotime() - start)
  report("idle_cpu", os.clock() - cpu)
  report("idle_ticks", env.ticks - ticks1)
  l:settimeout(1)
  report("data", (l:recvfrom()))
]]

describe("recverr in event loops", function()
  for _, loop in ipairs { "cqueues", "luv" } do
    it(loop .. ": a wait + recvfrom(timeout 0) loop with an error queued does not spin", function()
      local why = H.needs_errqueue() or H.needs_module(loop, "lua-" .. loop)
      if why then return pending(why) end
      local r = H.in_loop(loop, RECV_BODY)
      assert.equal("", r.others, ("receives failed with the queued error (%s wakes, %s s CPU)"):format(r.wakes, r.cpu))
      assert.is_true(tonumber(r.ticks) >= 50, "the ticker ran only " .. r.ticks .. " times")
      assert.is_true(tonumber(r.cpu) < 0.2, ("%s s CPU in 1 s (%s wakes): the loop spun"):format(r.cpu, r.wakes))
      assert.equal("ECONNREFUSED", r.code)
      assert.equal("127.0.0.2", r.offender)
      assert.equal("true", r.port)
    end)

    it(loop .. ": listener:recverr yields while it waits, and a datagram unread does not make it spin", function()
      local why = H.needs_errqueue() or H.needs_module(loop, "lua-" .. loop)
      if why then return pending(why) end
      local r = H.in_loop(loop, LISTENER_BODY)
      assert.equal("ECONNREFUSED", r.code)
      assert.equal("::1", r.offender)
      assert.equal("true", r.port)
      local waited = tonumber(r.waited)
      assert.is_true(waited >= 0.25 and waited < 0.9, "waited " .. r.waited .. " s")
      assert.is_true(tonumber(r.wait_ticks) >= 15, "the ticker ran " .. r.wait_ticks .. " times while it waited")
      assert.equal("nil|ETIMEDOUT", r.idle)
      assert.is_true(tonumber(r.idle_elapsed) >= 0.45, "recverr(0.5) returned after " .. r.idle_elapsed .. " s")
      assert.is_true(tonumber(r.idle_cpu) < 0.1, r.idle_cpu .. " s CPU in recverr(0.5): it spun")
      assert.is_true(tonumber(r.idle_ticks) >= 25, "the ticker ran " .. r.idle_ticks .. " times")
      assert.equal("hello", r.data)
    end)
  end
end)

-- ---- no route: the send's own error, nothing queued -----------------------

describe("recverr and a send with no route", function()
  it("ENETUNREACH at once from sendto, and recverr has nothing", function()
    local why = H.needs_errqueue() or select(2, N.available("-n"))
    if why then return pending(why) end
    local r, out = N.run("-n", "ip link set lo up", [[
local ds = require "dualstack"
local s = assert(ds.udp { family = "inet" })
assert(s:setoption("recverr", true))
s:settimeout(1) -- a retry loop would show in elapsed
local start = ds.monotime()
local n, err, code = s:sendto("x", "192.0.2.9", 9)
report("elapsed", ds.monotime() - start)
report("send", table.concat({ tostring(n), tostring(err), tostring(code) }, "|"))
report("recverr", table.concat({ tostring((s:recverr())), select(2, s:recverr()) }, "|"))
report("finished", true)
]])
    assert(r.finished, "child did not finish:\n" .. out)
    assert.equal("nil|network unreachable|ENETUNREACH", r.send)
    assert.is_true(tonumber(r.elapsed) < 0.1, "sendto took " .. r.elapsed .. " s")
    assert.equal("nil|timeout|ETIMEDOUT", r.recverr)
  end)
end)

-- ---- listeners: listener:recverr and opts.recverr ------------------------

-- The entry recverr gives for a port unreachable from host to port, in
-- the socket's form (dual: mapped).
local function entry(host, port, dual)
  local v6 = host:find(":") ~= nil
  local text = (dual and not v6) and "::ffff:" .. host or host
  return { code = "ECONNREFUSED", message = "connection refused", origin = v6 and "icmp6" or "icmp",
           type = v6 and 1 or 3, icmpcode = v6 and 4 or 3, info = 0, offender = text, addr = text,
           port = port, data = "abc", lost = 0 }
end

-- Sends "abc" from listener l to a closed port of host; returns the port.
local function provoke(l, host)
  local port = H.closed_port(host:find(":") and "inet6" or "inet", host)
  assert.equal(3, H.ok(l:sendto("abc", host, port)))
  return port
end

describe("listener:recverr", function()
  for _, model in ipairs { { name = "dual socket", opts = {} },
                           { name = "one socket per family", opts = { dualstack = false } } } do
    it(model.name .. ": opts.recverr turns it on; the entries of both families, then a timeout", function()
      local why = H.needs_errqueue(); if why then return pending(why) end
      local l = keep(H.ok(ds.udp_listen("*", 0, H.copy({ recverr = true }, model.opts))))
      local dual = #l:sockets() == 1
      assert.equal(model.opts.dualstack == nil, dual)
      for _, s in ipairs(l:sockets()) do assert.is_true(s:getoption("recverr")) end
      local port = provoke(l, "127.0.0.2")
      assert.same(entry("127.0.0.2", port, dual), l:recverr(1))
      port = provoke(l, "::1")
      assert.same(entry("::1", port, dual), l:recverr(1))
      local elapsed, cpu, e, err, code = H.timed(function() return l:recverr(0.3) end)
      assert.same({ nil, "timeout", "ETIMEDOUT" }, { e, err, code })
      assert.is_true(elapsed >= 0.27 and cpu < 0.1, ("%.3f s, %.3f s CPU"):format(elapsed, cpu))
    end)

    it(model.name .. ": a datagram waiting unread neither answers recverr nor makes it spin", function()
      local why = H.needs_errqueue(); if why then return pending(why) end
      local l = keep(H.ok(ds.udp_listen("*", 0, H.copy({ recverr = true }, model.opts))))
      local _, lport = l:getsockname()
      local c = keep(H.udp_bound("inet", "127.0.0.1"))
      assert.equal(5, H.ok(c:sendto("hello", "127.0.0.1", lport)))
      assert.same({ true }, { ds.wait(l, 1) })
      local elapsed, cpu, e, err, code = H.timed(function() return l:recverr(0.3) end)
      assert.same({ nil, "timeout", "ETIMEDOUT" }, { e, err, code })
      assert.is_true(elapsed >= 0.27 and cpu < 0.1, ("%.3f s, %.3f s CPU"):format(elapsed, cpu))
      local port = provoke(l, "127.0.0.2")
      assert.same(entry("127.0.0.2", port, #l:sockets() == 1), l:recverr(1))
      l:settimeout(1)
      assert.equal("hello", (l:recvfrom()))
    end)
  end

  it("waits within its timeout for an error to come, default 0 never waits", function()
    local why = H.needs_errqueue(); if why then return pending(why) end
    local l = keep(H.ok(ds.udp_listen("*", 0, { recverr = true, dualstack = false })))
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { l:recverr() })
    local port = H.closed_port("inet", "127.0.0.2")
    H.ok(l:sendto("abc", "127.0.0.2", port))
    local e = l:recverr(1)
    assert.equal(port, e and e.port)
  end)

  it("off: raises as a socket's; bad timeouts raise; a TCP listener has none", function()
    local why = H.needs_errqueue(); if why then return pending(why) end
    local l = keep(H.ok(ds.udp_listen("127.0.0.1", 0)))
    local ok, msg = pcall(l.recverr, l)
    assert.is_false(ok)
    assert.matches("option 'recverr' is off", msg, 1, true)
    assert.has_error(function() l:recverr("x") end, "bad argument #1 to 'recverr' (number expected, got string)")
    assert.has_error(function() l:recverr(0 / 0) end, "bad argument #1 to 'recverr' (timeout is NaN)")
    assert.has_error(function() ds.udp_listen("127.0.0.1", 0, { recverr = 1 }) end,
      "bad argument #3 to 'udp_listen' (option 'recverr': boolean expected, got integer)")
    local t = keep(H.ok(ds.listen("127.0.0.1", 0)))
    assert.has_error(function() t:recverr() end,
      "calling 'recverr' on bad self (udp listener expected, got tcp listener)")
    H.ok(l:setoption("recverr", true))
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { l:recverr() })
  end)
end)
