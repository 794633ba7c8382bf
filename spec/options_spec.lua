-- Socket options: round trips on every family, effects seen with real
-- loopback traffic where that is cheap, and the errors that must raise.
local H = require "helpers"
local ds = H.ds

local FAMILIES = { "dual", "inet", "inet6" }

-- Options and values that must read back as set, per socket kind.
local ROUND_TRIPS = {
  { name = "reuseaddr", kinds = { "tcp", "udp" }, values = { true, false } },
  { name = "reuseport", kinds = { "tcp", "udp" }, values = { true, false } },
  { name = "broadcast", kinds = { "udp" }, values = { true, false } },
  { name = "keepalive", kinds = { "tcp" }, values = { true, false } },
  { name = "nodelay", kinds = { "tcp" }, values = { true, false } },
  { name = "linger", kinds = { "tcp" }, values = { 5, 0, false } },
  { name = "hoplimit", kinds = { "tcp", "udp" }, values = { 1, 7, 255 } },
  { name = "tclass", kinds = { "tcp", "udp" }, values = { 0x48, 0x20, 0 } },
  { name = "multicast_loop", kinds = { "udp" }, values = { false, true } },
  { name = "multicast_hops", kinds = { "udp" }, values = { 5, 1 } },
}

-- Options whose kernel value is at least what was set (Linux doubles it).
local BUFFERS = { "rcvbuf", "sndbuf" }

local open

-- A socket closed after the running case.
local function sock(kind, family)
  local s = H.socket(kind, family)
  open[#open + 1] = s
  return s
end

before_each(function() open = {} end)
after_each(function() H.close_all(open) end)

describe("options round trip", function()
  for _, family in ipairs(FAMILIES) do
    for _, opt in ipairs(ROUND_TRIPS) do
      for _, kind in ipairs(opt.kinds) do
        it(("%s on %s %s"):format(opt.name, family, kind), function()
          local why = opt.name == "reuseport" and H.needs_reuseport("reuseport")
            or opt.name == "tclass" and family ~= "inet" and H.needs_ipv6_tclass("tclass on an IPv6 socket")
          if why then return pending(why) end
          local s = sock(kind, family)
          for _, value in ipairs(opt.values) do
            assert.equal(1, s:setoption(opt.name, value))
            assert.equal(value, s:getoption(opt.name))
          end
        end)
      end
    end

    for _, name in ipairs(BUFFERS) do
      it(("%s on %s sockets"):format(name, family), function()
        local s = sock("udp", family)
        assert.equal(1, s:setoption(name, 65536))
        local got = s:getoption(name)
        assert.equal("integer", math.type(got))
        assert.is_true(got >= 65536, name .. " read back " .. got)
      end)
    end
  end

  it("linger is off (false) on a new TCP socket", function()
    assert.is_false(sock("tcp", "dual"):getoption("linger"))
  end)

  it("v6only reads false on dual, true on inet6", function()
    assert.is_false(sock("udp", "dual"):getoption("v6only"))
    assert.is_true(sock("udp", "inet6"):getoption("v6only"))
  end)
end)

describe("option effects on real traffic", function()
  -- Binds two UDP sockets of family to the same port on host, with the
  -- option set on both or neither; returns the second bind's results.
  local function bind_twice(family, host, option)
    local a, b = sock("udp", family), sock("udp", family)
    if option then
      a:setoption(option, true)
      b:setoption(option, true)
    end
    H.ok(a:bind(host, 0))
    local _, port = a:getsockname()
    return b:bind(host, port)
  end

  for _, case in ipairs { { "dual", "::1" }, { "dual", "127.0.0.1" }, { "inet", "127.0.0.1" }, { "inet6", "::1" } } do
    it("reuseport lets two UDP sockets share a port, " .. table.concat(case, " on "), function()
      local why = H.needs_reuseport("reuseport"); if why then return pending(why) end
      local ok, _, code = bind_twice(case[1], case[2])
      assert.same({ nil, "EADDRINUSE" }, { ok, code })
      assert.equal(1, bind_twice(case[1], case[2], "reuseport"))
    end)
  end

  it("linger 0 resets the connection on close", function()
    local why = H.WINE and ("a reset peer: Wine " .. H.WINE .. " reports a TCP reset (linger 0) as end of stream, recv 0, not WSAECONNRESET"); if why then return pending(why) end
    local c, a, l = H.tcp_pair("dual", "*", "inet", "127.0.0.1")
    open[#open + 1], open[#open + 2] = a, l
    assert.equal(1, c:setoption("linger", 0))
    c:close()
    assert.same({ nil, "closed", "ECONNRESET" }, { a:recv() })
  end)

  -- hoplimit and tclass on a dual socket set both halves: datagrams to an
  -- IPv4 and to an IPv6 receiver carry them. The receivers read them with
  -- recvmsg; msg_spec covers per-packet values.
  local HALVES = {
    { family = "inet", host = "127.0.0.1" },
    { family = "inet6", host = "::1" },
  }

  for _, half in ipairs(HALVES) do
    it("hoplimit and tclass on a dual socket reach a " .. half.family .. " receiver", function()
      local why = half.family == "inet6" and H.needs_cmsg("a received IPV6_TCLASS"); if why then return pending(why) end
      local why = H.needs_ipv6_tclass("tclass on a dual socket"); if why then return pending(why) end
      local receiver, port = H.udp_bound(half.family, half.host)
      open[#open + 1] = receiver
      receiver:setoption("recvhoplimit", true)
      receiver:setoption("recvtclass", true)
      local sender = sock("udp", "dual")
      sender:setoption("hoplimit", 7)
      sender:setoption("tclass", 0x20)
      assert.equal(2, sender:sendto("hi", half.host, port))
      local msg = H.ok(receiver:recvmsg())
      assert.same({ "hi", 7, 0x20 }, { msg.data, msg.hoplimit, msg.tclass })
    end)
  end
end)

describe("option errors raise", function()
  it("for an unknown option name, set or get", function()
    local s = sock("udp", "dual")
    H.raises("unknown option 'bogus'", function() s:setoption("bogus", true) end)
    H.raises("unknown option 'bogus'", function() s:getoption("bogus") end)
    assert.has_error(function() s:setoption(42, true) end, "bad argument #1 to 'setoption' (unknown option '42')")
  end)

  -- {option, kind, a value of the wrong type, why setoption's value (#2) is refused}
  local NO_INT = "number has no integer representation"
  local WRONG_TYPES = {
    { "reuseaddr", "udp", 1, "boolean expected, got number" },
    { "reuseaddr", "udp", "yes", "boolean expected, got string" },
    { "nodelay", "tcp", 0, "boolean expected, got number" },
    { "v6only", "udp", "true", "boolean expected, got string" },
    { "rcvbuf", "udp", true, "number expected, got boolean" }, { "rcvbuf", "udp", 1.5, NO_INT },
    { "rcvbuf", "udp", "65536x", "number expected, got string" }, { "hoplimit", "udp", 1.5, NO_INT },
    { "tclass", "tcp", false, "number expected, got boolean" },
    { "linger", "tcp", true, "number expected, got boolean" }, { "linger", "tcp", 1.5, NO_INT },
    { "linger", "tcp", "5s", "number expected, got string" },
  }

  it("for values of the wrong type", function()
    for _, case in ipairs(WRONG_TYPES) do
      local s = sock(case[2], "dual")
      assert.has_error(function() s:setoption(case[1], case[3]) end,
        "bad argument #2 to 'setoption' (" .. case[4] .. ")", case[1] .. " = " .. tostring(case[3]))
    end
  end)

  it("for an option of the other socket type", function()
    local t, u = sock("tcp", "dual"), sock("udp", "dual")
    for _, name in ipairs { "nodelay", "keepalive", "linger" } do
      local why = " (tcp socket expected for option '" .. name .. "', got udp socket)"
      assert.has_error(function() u:setoption(name, false) end, "bad argument #1 to 'setoption'" .. why, name)
      assert.has_error(function() u:getoption(name) end, "bad argument #1 to 'getoption'" .. why, name)
    end
    for _, name in ipairs { "broadcast", "multicast_loop" } do
      local why = " (udp socket expected for option '" .. name .. "', got tcp socket)"
      assert.has_error(function() t:setoption(name, false) end, "bad argument #1 to 'setoption'" .. why, name)
      assert.has_error(function() t:getoption(name) end, "bad argument #1 to 'getoption'" .. why, name)
    end
  end)

  it("never succeed with a hop limit out of range", function()
    local s = sock("udp", "dual")
    for _, value in ipairs { 256, 300, -2 } do
      local ok, result = pcall(s.setoption, s, "hoplimit", value)
      assert.is_true(not ok or result == nil, "hoplimit " .. value .. " accepted")
    end
  end)
end)
