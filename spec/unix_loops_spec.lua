-- Local sockets (issue 17) in the event loops, as waiter_spec proves for
-- IP sockets: a settimeout(0) unix socket waited on with ds.wait inside a
-- cqueues coroutine and a ds.luv.spawn coroutine lets the loop run (a
-- ticker every 10 ms counts meanwhile), wakes for the accept or datagram
-- that comes, and times out on time when none does. Files in a private
-- directory of the spec's own.
local H = require "helpers"

local dir

before_each(function()
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
end)

after_each(function() os.execute("rm -rf " .. dir) end)

-- A client connects 150 ms after a stream server starts waiting to accept,
-- and sends a line the accepted socket then waits for.
local ACCEPT = [[
  local srv = assert(ds.unix())
  assert(srv:bind("DIR/a.sock"))
  assert(srv:listen())
  srv:settimeout(0)
  env.spawn(function()
    env.sleep(0.15)
    local c = assert(ds.unix())
    assert(c:connect("DIR/a.sock"))
    env.sleep(0.05)
    assert(c:send("hello\n"))
    env.client = c
  end)
  local t0 = now()
  local r = table.pack(ds.wait(srv, 2))
  local a = srv:accept()
  report("elapsed", now() - t0)
  report("ticks", env.ticks)
  report("wait", tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
  report("accepted", tostring(a))
  a:settimeout(0)
  local ticks = env.ticks
  report("line_wait", tostring(ds.wait(a, 2)))
  report("line", a:receive())
  report("line_ticks", env.ticks - ticks)
]]

-- A datagram, with a UDP socket passed along, comes 150 ms after a dgram
-- socket starts waiting; OP receives it.
local DGRAM = [[
  local d = assert(ds.unix { type = "dgram" })
  assert(d:bind("DIR/d.sock"))
  d:settimeout(0)
  env.spawn(function()
    env.sleep(0.15)
    local e = assert(ds.unix { type = "dgram" })
    assert(e:bind("DIR/e.sock"))
    local u = assert(ds.udp { family = "inet" })
    assert(u:bind("127.0.0.1", 0))
    assert(e:sendmsg { data = "hello", addr = "DIR/d.sock", fds = { u } })
    u:close()
    e:close()
  end)
  local t0 = now()
  local r = table.pack(ds.wait(d, 2))
  report("elapsed", now() - t0)
  report("ticks", env.ticks)
  report("wait", tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
  if "OP" == "recvfrom" then
    local data, from = d:recvfrom()
    report("data", data)
    report("addr", from)
  else
    local m = assert(d:recvmsg())
    report("data", m.data)
    report("addr", m.addr)
    report("fd", m.fds and tostring(m.fds[1]))
  end
]]

-- A stream server or dgram socket (KIND) waited on for 0.3 s, nothing coming.
local TIMEOUT = [[
  local s
  if "KIND" == "stream" then
    s = assert(ds.unix())
    assert(s:bind("DIR/t.sock"))
    assert(s:listen())
  else
    s = assert(ds.unix { type = "dgram" })
    assert(s:bind("DIR/t.sock"))
  end
  s:settimeout(0)
  local t0 = now()
  local r = table.pack(ds.wait(s, 0.3))
  report("elapsed", now() - t0)
  report("ticks", env.ticks)
  report("result", r.n .. " " .. tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
  local c = table.pack(CALL)
  report("call", tostring(c[1]) .. " " .. tostring(c[2]) .. " " .. tostring(c[c.n]))
]]

describe("local sockets waited on in an event loop", function()
  for _, loop in ipairs(H.LOOPS) do
    it("keep " .. loop .. " running while a stream server waits to accept (client after 150 ms), then for its line", function()
      local why = H.needs_unix("local sockets in " .. loop, true); if why then return pending(why) end
      local r, out = H.in_loop(loop, ACCEPT, { DIR = dir })
      if not r then return pending(out) end
      assert.equal("true nil nil", r.wait, out)
      assert.equal(("unix{stream, fd %s, %s/a.sock}"):format(r.accepted:match("fd (%d+)") or "?", dir), r.accepted, out)
      H.loop_waited(r, out, 0.12, 1)
      H.loop_ticked(r, out, 10)
      assert.equal("true", r.line_wait, out)
      assert.equal("hello", r.line, out)
      assert.is_true(H.loop_number(r, "line_ticks", out) >= 3, out) -- 50 ms of ticks while the line is due
    end)

    for _, op in ipairs { "recvfrom", "recvmsg" } do
      it("keep " .. loop .. " running while a dgram socket waits for a datagram (after 150 ms), received by " .. op, function()
        local why = H.needs_unix("local datagrams in " .. loop, true); if why then return pending(why) end
        local r, out = H.in_loop(loop, DGRAM, { DIR = dir, OP = op })
        if not r then return pending(out) end
        assert.equal("true nil nil", r.wait, out)
        assert.equal("hello", r.data, out)
        assert.equal(dir .. "/e.sock", r.addr, out)
        if op == "recvmsg" then assert.matches("^udp{inet, fd %d+, 127%.0%.0%.1:%d+}$", r.fd, out) end
        H.loop_waited(r, out, 0.12, 1)
        H.loop_ticked(r, out, 10)
      end)
    end

    for _, kind in ipairs { "stream", "dgram" } do
      it("time out a " .. kind .. " socket's wait on time under " .. loop .. ", the loop running", function()
        local why = H.needs_unix("local sockets in " .. loop, true); if why then return pending(why) end
        local call = kind == "stream" and "s:accept()" or "s:recvfrom()"
        local r, out = H.in_loop(loop, TIMEOUT, { DIR = dir, CALL = call, KIND = kind })
        if not r then return pending(out) end
        assert.equal("3 nil timeout ETIMEDOUT", r.result, out)
        assert.equal("nil timeout ETIMEDOUT", r.call, out)
        H.loop_waited(r, out, 0.28, 0.6)
        H.loop_ticked(r, out, 15)
      end)
    end
  end
end)
