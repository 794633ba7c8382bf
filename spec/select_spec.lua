-- ds.select: LuaSocket's signature and result shape on poll(2), for many
-- sockets, listeners, writable sockets and sockets with buffered data.
local H = require "helpers"
local cleanup = require "cleanup"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

-- n UDP sockets bound to 127.0.0.1; returns them and their ports.
local function udp_sockets(n)
  local socks, ports = {}, {}
  for i = 1, n do
    socks[i], ports[i] = H.udp_bound("inet", "127.0.0.1")
    keep(socks[i])
  end
  return socks, ports
end

-- Sends one datagram to each listed socket index.
local function poke(ports, indexes)
  local tx = keep(H.socket("udp", "inet"))
  for _, i in ipairs(indexes) do H.ok(tx:sendto("x", "127.0.0.1", ports[i])) end
end

-- Checks LuaSocket's shape: an array of exactly `expected` (in any order)
-- that also maps each object to its index.
local function assert_result(expected, got)
  assert.equal(#expected, #got)
  for i, obj in ipairs(got) do assert.equal(i, got[obj]) end
  local n = 0
  for k in pairs(got) do
    if math.type(k) ~= "integer" then n = n + 1 end
  end
  assert.equal(#expected, n, "only the ready objects are keys")
  for _, obj in ipairs(expected) do assert.is_number(got[obj], "missing " .. tostring(obj)) end
end

local function timed_select(r, w, t)
  local elapsed, _, rr, ww, err = H.timed(function() return ds.select(r, w, t) end)
  return elapsed, rr, ww, err
end

describe("ds.select", function()
  it("returns the readable sockets as an array that maps each to its index", function()
    local socks, ports = udp_sockets(3)
    poke(ports, { 2 })
    local elapsed, r, w, err = timed_select(socks, nil, H.WAIT)
    assert.is_nil(err)
    assert_result({ socks[2] }, r)
    assert.same({}, w)
    assert.is_true(elapsed < 0.5)
  end)

  it("gives two empty tables and 'timeout' after the timeout when nothing is ready", function()
    local socks = udp_sockets(2)
    local elapsed, r, w, err = timed_select(socks, {}, 0.2)
    assert.same({}, r)
    assert.same({}, w)
    assert.equal("timeout", err)
    assert.is_true(elapsed >= 0.18 and elapsed < 0.7, "waited " .. elapsed)
  end)

  it("returns at once with timeout 0", function()
    local socks = udp_sockets(1)
    local elapsed, r, _, err = timed_select(socks, nil, 0)
    assert.same({}, r)
    assert.equal("timeout", err)
    assert.is_true(elapsed < 0.1)
  end)

  it("finds the ready ones among 200 sockets", function()
    local socks, ports = udp_sockets(200)
    poke(ports, { 1, 77, 200 })
    local _, r, _, err = timed_select(socks, nil, H.WAIT)
    assert.is_nil(err)
    assert_result({ socks[1], socks[77], socks[200] }, r)
  end)

  it("watches descriptors above FD_SETSIZE (1024)", function()
    local socks, ports, n = {}, {}, 0
    repeat
      n = n + 1
      local s, p = H.udp_bound("inet", "127.0.0.1")
      socks[n], ports[n] = keep(s), p
    until s:getfd() > 1100 or n > 1300
    if socks[n]:getfd() <= 1100 then return pending("cannot open descriptors above 1100 here") end
    poke(ports, { n })
    local _, r, _, err = timed_select({ socks[1], socks[n] }, nil, H.WAIT)
    assert.is_nil(err)
    assert_result({ socks[n] }, r)
  end)

  it("reports writable sockets in the second table", function()
    local c, a, l = H.tcp_pair("dual", "*", "inet6", "::1")
    keep(c); keep(a); keep(l)
    local u = udp_sockets(1)[1]
    local _, r, w, err = timed_select({ c, a }, { c, u }, H.WAIT)
    assert.is_nil(err)
    assert.same({}, r)
    assert_result({ c, u }, w)
  end)

  it("mixes sockets and listeners of both models; a listener is ready through any socket", function()
    local dual = keep(H.ok(ds.listen("*", 0)))
    local split = keep(H.ok(ds.listen("*", 0, { dualstack = false })))
    local socks, ports = udp_sockets(2)
    local list = { dual, split, socks[1], socks[2] }
    local _, r, _, err = timed_select(list, nil, 0.05)
    assert.equal("timeout", err)
    assert.same({}, r)

    -- (the loop's own variable is not `_`: Lua 5.5 makes it read-only, and
    -- the select below assigns to the `_` above)
    for _i, host in ipairs({ "127.0.0.1", "::1" }) do -- each socket of the split one in turn
      local c = keep(H.socket("tcp", "dual"))
      H.ok(c:connect(host, select(2, split:getsockname())))
      poke(ports, { 2 })
      _, r, _, err = timed_select(list, nil, H.WAIT)
      assert.is_nil(err)
      assert_result({ split, socks[2] }, r)
      split:settimeout(H.WAIT)
      keep(H.ok(split:accept()))
      assert.truthy(socks[2]:recvfrom())
    end
  end)

  it("counts a socket with buffered data as readable without waiting", function()
    local c, a, l = H.tcp_pair("dual", "*", "inet", "127.0.0.1")
    keep(c); keep(a); keep(l)
    assert.equal(4, c:send("a\nb\n"))
    assert.equal("a", a:receive("*l"))
    assert.is_true(a:dirty(), "the second line should wait in the buffer")
    local elapsed, r, _, err = timed_select({ a }, nil, 5)
    assert.is_nil(err)
    assert_result({ a }, r)
    assert.is_true(elapsed < 0.5, "waited " .. elapsed .. " s for buffered data")
    assert.equal("b", a:receive("*l"))
  end)

  it("accepts LuaSocket-style objects (getfd and dirty) beside its own", function()
    local ok, socket = pcall(require, "socket")
    if not ok then return pending("LuaSocket is not installed (make test installs lua-socket)") end
    local ls = assert(socket.udp())
    keep(ls)
    assert(ls:setsockname("127.0.0.1", 0))
    local _, lport = ls:getsockname()
    local mine = udp_sockets(1)[1]
    poke({ lport }, { 1 })
    local _, r, _, err = timed_select({ mine, ls }, nil, H.WAIT)
    assert.is_nil(err)
    assert_result({ ls }, r)
  end)

  it("skips closed sockets instead of failing", function()
    local socks, ports = udp_sockets(2)
    socks[1]:close()
    poke(ports, { 2 })
    local _, r, _, err = timed_select(socks, nil, H.WAIT)
    assert.is_nil(err)
    assert_result({ socks[2] }, r)
  end)

  it("takes nil and empty tables for either list", function()
    local _, r, w, err = timed_select(nil, nil, 0.05)
    assert.same({ {}, {}, "timeout" }, { r, w, err })
    _, r, w, err = timed_select({}, {}, 0.05)
    assert.same({ {}, {}, "timeout" }, { r, w, err })
  end)
end)

describe("ds.poll", function()
  it("returns two sets of ready descriptors", function()
    local socks, ports = udp_sockets(2)
    poke(ports, { 1 })
    local fd1, fd2 = socks[1]:getfd(), socks[2]:getfd()
    local r, w = ds.poll({ fd1, fd2 }, { fd2 }, H.WAIT)
    assert.same({ [fd1] = true }, r)
    assert.same({ [fd2] = true }, w)
  end)

  it("gives two empty sets after its timeout", function()
    local socks = udp_sockets(1)
    local elapsed, _, r, w = H.timed(function() return ds.poll({ socks[1]:getfd() }, {}, 0.1) end)
    assert.same({}, r)
    assert.same({}, w)
    assert.is_true(elapsed >= 0.09 and elapsed < 0.6)
  end)

  it("has a monotonic clock in seconds", function()
    local t0 = ds.monotime()
    ds.poll({}, {}, 0.05)
    local dt = ds.monotime() - t0
    assert.is_true(dt >= 0.045 and dt < 0.5, "measured " .. dt)
  end)
end)
