-- The Winsock backend (src/sys/win32.c) on its own, under Wine or Windows:
-- the claims issue 14 makes for Windows, each with real traffic over
-- 127.0.0.1, 127.0.0.2 and ::1. The full suite (spec/) runs too; this file
-- states the Windows-only facts: the platform, V6ONLY's default, exclusive
-- ports, WSAEMSGSIZE as truncation, the error names, the interface names.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
local ds = require "dualstack"

local function ok(v, msg, code)
  assert(v, tostring(msg) .. " (" .. tostring(code) .. ")")
  return v
end

local function udp(family, host)
  local s = ok(ds.udp { family = family })
  ok(s:settimeout(2))
  ok(s:bind(host, 0))
  local _, port = s:getsockname()
  return s, port
end

describe("the Winsock backend", function()
  it("is the Windows one, and knows whether Wine runs it", function()
    assert.equal("windows", ds.PLATFORM)
    assert.equal("\\", package.config:sub(1, 1))
    if ds.WINE then assert.matches("^%d+%.%d", ds.WINE) end
  end)

  it("makes dual sockets whatever Windows' V6ONLY default of 1 is", function()
    local plain = ok(ds.udp { family = "inet6" })
    assert.is_true(plain:getoption("v6only"))
    local dual = ok(ds.udp())
    assert.is_false(dual:getoption("v6only"))
  end)

  it("receives IPv4 and IPv6 on one socket, with each datagram's dst and interface", function()
    local server, port = udp("dual", "*")
    ok(server:setoption("pktinfo", true))
    local lo
    for _, i in ipairs(ds.interfaces()) do if i.flags.loopback then lo = i.index end end
    for _, q in ipairs { { "inet", "127.0.0.1", "127.0.0.2", "::ffff:127.0.0.1", "::ffff:127.0.0.2" },
                         { "inet6", "::1", "::1", "::1", "::1" } } do
      local client, cport = udp(q[1], q[2])
      ok(client:sendto("query", q[3], port))
      local data, addr, p, dst, ifindex = server:recvfrom()
      assert.same({ "query", q[4], cport, q[5], lo }, { data, addr, p, dst, ifindex })
      assert.equal(6, ok(server:sendto("answer", addr, p, dst, ifindex)))
      assert.equal("answer", (client:recvfrom()))
    end
  end)

  it("reports a datagram longer than the buffer as truncated, not as WSAEMSGSIZE", function()
    local server, port = udp("inet", "127.0.0.1")
    local client = udp("inet", "127.0.0.1")
    ok(client:sendto(string.rep("x", 100), "127.0.0.1", port))
    local m = ok(server:recvmsg(10))
    assert.same({ 10, true, false }, { #m.data, m.truncated, m.ctruncated })
  end)

  it("names errors as POSIX does", function()
    local s = ok(ds.udp { family = "inet" })
    ok(s:settimeout(0.05))
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recvfrom() })
    local t = ok(ds.tcp { family = "inet" })
    ok(t:settimeout(2))
    local _, _, code = t:connect("127.0.0.1", 1)
    assert.equal("ECONNREFUSED", code)
  end)

  it("keeps ports exclusive unless every socket sharing one asks", function()
    local a, port = udp("dual", "*")
    local b = ok(ds.udp())
    assert.same({ nil, "address already in use", "EADDRINUSE" }, { b:bind("*", port) })
    local c = ok(ds.udp())
    ok(c:setoption("reuseaddr", true))
    assert.same({ nil, "address already in use", "EADDRINUSE" }, { c:bind("*", port) })
    local d1 = ok(ds.udp { family = "inet" })
    ok(d1:setoption("reuseaddr", true))
    ok(d1:bind("127.0.0.1", 0))
    local _, shared = d1:getsockname()
    local d2 = ok(ds.udp { family = "inet" })
    ok(d2:setoption("reuseaddr", true))
    assert.equal(1, d2:bind("127.0.0.1", shared))
    a:close()
  end)

  it("keeps a TCP listener exclusive", function()
    local l = ok(ds.listen("127.0.0.1", 0))
    local _, port = l:getsockname()
    local other = ok(ds.tcp { family = "inet" })
    assert.same({ nil, "address already in use", "EADDRINUSE" }, { other:bind("127.0.0.1", port) })
    l:close()
  end)

  it("names interfaces as if_nametoindex does", function()
    local seen = 0
    for _, i in ipairs(ds.interfaces()) do
      assert.equal(i.index, ds.ifindex(i.name))
      assert.equal(i.name, ds.ifname(i.index))
      seen = seen + 1
    end
    assert.is_true(seen > 0)
  end)

  it("keeps IPv4 arriving on a dual socket whose pktinfo went off", function()
    -- The IPv4 arrival marker is pktinfo's own option here: it stays on.
    local server, port = udp("dual", "*")
    ok(server:setoption("pktinfo", true))
    ok(server:setoption("pktinfo", false))
    local client, cport = udp("inet", "127.0.0.1")
    ok(client:sendto("v4", "127.0.0.1", port))
    assert.same({ "v4", "::ffff:127.0.0.1", cport }, { server:recvfrom() })
    assert.equal(0, server:spoofed())
  end)

  it("sleeps through an empty poll, as POSIX does", function()
    local t0 = ds.monotime()
    local r, w = ds.poll({}, {}, 0.2)
    assert.same({ {}, {} }, { r, w })
    assert.is_true(ds.monotime() - t0 >= 0.19)
  end)

  it("finishes a Happy Eyeballs race whose attempts are all refused", function()
    local t0 = ds.monotime()
    local _, _, code = ds.connect("localhost", 1, { timeout = 5 })
    assert.equal("ECONNREFUSED", code)
    assert.is_true(ds.monotime() - t0 < 4.5)
  end)

  it("streams both ways over a dual-stack TCP listener", function()
    local l = ok(ds.listen("*", 0))
    local _, port = l:getsockname()
    for _, to in ipairs { "127.0.0.1", "::1" } do
      local c = ok(ds.tcp())
      ok(c:settimeout(2))
      ok(c:connect(to, port))
      local a = ok(l:accept())
      ok(a:settimeout(2))
      ok(c:send("line\nrest"))
      ok(c:shutdown("send"))
      assert.same({ "line", "rest" }, { a:receive("*l"), a:receive("*a") })
      c:close()
      a:close()
    end
  end)
end)
