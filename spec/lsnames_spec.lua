-- LuaSocket's names on dualstack's own sockets (issue 16, A1-A3):
-- receivefrom, setsockname, setpeername (with UDP's "*" disconnect), and
-- LuaSocket's option names, each read back under the dualstack name and,
-- for two-half options on a dual socket, from both kernel halves.
local H = require "helpers"
local ds = H.ds
local th = require "spec.testhelp"

local cleanup = require "cleanup"
after_each(cleanup.close_all)

-- A socket closed after the running case.
local function sock(kind, family) return cleanup.keep(H.socket(kind, family)) end

-- LuaSocket name, dualstack name, socket kind, value set, value read back
-- (nil: the value set). Buffers read back at least what was set.
local NAMES = {
  { "tcp-nodelay", "nodelay", "tcp", true },
  { "ipv6-v6only", "v6only", "tcp", true },
  { "reuseaddr", "reuseaddr", "tcp", true },
  { "keepalive", "keepalive", "tcp", true },
  { "broadcast", "broadcast", "udp", true },
  { "dontroute", "dontroute", "udp", true },
  { "linger", "linger", "tcp", { on = true, timeout = 7 }, 7 },
  { "recv-buffer-size", "rcvbuf", "udp", 65536 },
  { "send-buffer-size", "sndbuf", "tcp", 65536 },
  { "ip-multicast-ttl", "multicast_hops", "udp", 9 },
  { "ip-multicast-loop", "multicast_loop", "udp", false },
  { "ipv6-unicast-hops", "hoplimit", "udp", 17 },
  { "ipv6-multicast-hops", "multicast_hops", "udp", 11 },
  { "ipv6-multicast-loop", "multicast_loop", "udp", false },
  { "tcp-keepidle", "keepidle", "tcp", 31 },
  { "tcp-keepcnt", "keepcnt", "tcp", 5 },
  { "tcp-keepintvl", "keepintvl", "tcp", 13 },
}
if not H.WINDOWS then NAMES[#NAMES + 1] = { "reuseport", "reuseport", "tcp", true } end

describe("LuaSocket option names", function()
  for _, n in ipairs(NAMES) do
    local ls, name, kind, value, back = n[1], n[2], n[3], n[4], n[5]
    it(ls .. " sets " .. name .. " on a " .. kind .. " socket", function()
      local s = sock(kind, ls == "ipv6-v6only" and "dual" or nil)
      local ok, err, code = s:setoption(ls, value)
      if not ok and H.WINDOWS and code == "ENOPROTOOPT" then
        return pending(ls .. ": this Windows refuses " .. name .. " (" .. err .. ")")
      end
      assert.same({ 1 }, { ok, err, code })
      local got = s:getoption(name)
      if name == "rcvbuf" or name == "sndbuf" then
        assert.is_true(got >= value, name .. " read back " .. tostring(got))
      else
        if back == nil then back = value end
        assert.same(back, got)
      end
      -- the LuaSocket name reads the same option back
      if ls ~= "linger" then assert.same(got, s:getoption(ls)) end
    end)
  end

  it("ipv6-v6only turns a dual socket into an inet6 one", function()
    local s = sock("udp", "dual")
    assert.equal(1, s:setoption("ipv6-v6only", true))
    assert.equal("inet6", s:getfamily())
    assert.equal(1, th.getint(s:getfd(), th.IPPROTO_IPV6, th.IPV6_V6ONLY))
  end)

  -- A two-half option set by its LuaSocket name sets both halves on a dual
  -- socket, as the dualstack name does; inet and inet6 only their own.
  local HALVES = {
    { "ip-multicast-ttl", 6, "IP_MULTICAST_TTL", "IPV6_MULTICAST_HOPS" },
    { "ipv6-multicast-hops", 7, "IP_MULTICAST_TTL", "IPV6_MULTICAST_HOPS" },
    { "ipv6-unicast-hops", 8, "IP_TTL", "IPV6_UNICAST_HOPS" },
  }
  for _, h in ipairs(HALVES) do
    it(h[1] .. " on a dual socket sets " .. h[3] .. " and " .. h[4], function()
      local s = sock("udp", "dual")
      assert.equal(1, s:setoption(h[1], h[2]))
      assert.equal(h[2], th.getint(s:getfd(), th.IPPROTO_IP, th[h[3]]))
      assert.equal(h[2], th.getint(s:getfd(), th.IPPROTO_IPV6, th[h[4]]))
    end)
    it(h[1] .. " on an inet socket sets " .. h[3], function()
      local s = sock("udp", "inet")
      assert.equal(1, s:setoption(h[1], h[2]))
      assert.equal(h[2], th.getint(s:getfd(), th.IPPROTO_IP, th[h[3]]))
    end)
  end

  it("ip-multicast-loop on a dual socket sets both halves", function()
    local s = sock("udp", "dual")
    assert.equal(1, s:setoption("ip-multicast-loop", false))
    assert.equal(0, th.getint(s:getfd(), th.IPPROTO_IP, th.IP_MULTICAST_LOOP))
    assert.equal(0, th.getint(s:getfd(), th.IPPROTO_IPV6, th.IPV6_MULTICAST_LOOP))
  end)

  it("ip-multicast-if takes an address, a name or \"*\"", function()
    local why = H.needs_multicast("ip-multicast-if"); if why then return pending(why) end
    local s = sock("udp", "dual")
    assert.equal(1, s:setoption("ip-multicast-if", "127.0.0.1"))
    assert.equal(H.LO, s:getoption("multicast_if"))
    assert.equal(1, s:setoption("ip-multicast-if", "*"))
    assert.equal(0, s:getoption("ip-multicast-if"))
    assert.equal(1, s:setoption("ip-multicast-if", H.LO_NAME))
    assert.equal(H.LO, s:getoption("ip-multicast-if"))
    local i = sock("udp", "inet")
    assert.equal(1, i:setoption("ip-multicast-if", "127.0.0.1"))
    assert.equal(i:getoption("multicast_if"), i:getoption("ip-multicast-if"))
  end)

  it("linger takes LuaSocket's table; off reads back false", function()
    local s = sock("tcp")
    assert.equal(1, s:setoption("linger", { on = true, timeout = 3 }))
    assert.equal(3, s:getoption("linger"))
    assert.equal(1, s:setoption("linger", { on = false, timeout = 3 }))
    assert.is_false(s:getoption("linger"))
    assert.equal(1, s:setoption("linger", { on = true }))
    assert.equal(0, s:getoption("linger"))
    H.raises("boolean 'on' field expected", function() s:setoption("linger", { timeout = 1 }) end)
    H.raises("integer 'timeout' field expected", function() s:setoption("linger", { on = true, timeout = "x" }) end)
    H.raises("linger seconds out of range", function() s:setoption("linger", { on = true, timeout = -1 }) end)
  end)

  it("bindtodevice binds to an interface by name (Linux)", function()
    local why = H.needs_bindtodevice("SO_BINDTODEVICE"); if why then return pending(why) end
    -- Wine 8 refuses IPV6_UNICAST_IF, which a dual socket's device sets;
    -- spec/device_spec.lua binds inet sockets there.
    if H.WINE then return pending("Wine " .. H.WINE .. " refuses IPV6_UNICAST_IF on a dual socket") end
    local s = sock("udp")
    local ok, err, code = s:setoption("bindtodevice", H.LO_NAME)
    assert.same({ 1 }, { ok, err, code })
    assert.equal(H.LO_NAME, s:getoption("bindtodevice"))
    assert.equal(1, s:setoption("bindtodevice", ""))
    assert.equal("", s:getoption("bindtodevice"))
    H.raises("not an interface name", function() s:setoption("bindtodevice", ("x"):rep(40)) end)
  end)

  it("error reports and clears a refused non-blocking connect", function()
    local why = H.needs_so_error("a refused connect's SO_ERROR"); if why then return pending(why) end
    local port = H.closed_port("inet", "127.0.0.1")
    local c = sock("tcp", "inet")
    assert.is_nil(c:getoption("error"))
    c:settimeout(0)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { c:connect("127.0.0.1", port) })
    local _, w = ds.poll({}, { c:getfd() }, H.WAIT)
    assert.is_true(w[c:getfd()])
    assert.same({ "connection refused", "ECONNREFUSED" }, { c:getoption("error") })
    -- reading consumed it (POSIX); Winsock keeps a socket's error
    if not H.WINDOWS then assert.is_nil(c:getoption("error")) end
    H.raises("option 'error' is read only", function() c:setoption("error", 0) end)
  end)

  it("ip-add-membership and ip-drop-membership join and leave through join/leave", function()
    local why = H.needs_multicast("LuaSocket's IPv4 membership options"); if why then return pending(why) end
    for _, family in ipairs({ "dual", "inet" }) do
      local u = sock("udp", family)
      local ok, err, code = u:setoption("ip-add-membership", { multiaddr = "224.0.0.251", interface = "127.0.0.1" })
      if H.WINE and code == "ENOPROTOOPT" then return pending("Wine " .. H.WINE .. " has no MCAST_JOIN_GROUP: " .. err) end
      assert.same({ 1 }, { ok, err, code })
      -- the kernel holds that membership: joining it again is refused
      assert.same({ nil, "address already in use", "EADDRINUSE" }, { u:join("224.0.0.251", H.LO) })
      assert.equal(1, u:setoption("ip-drop-membership", { multiaddr = "224.0.0.251", interface = "127.0.0.1" }))
      assert.same({ nil, "address not available", "EADDRNOTAVAIL" }, { u:leave("224.0.0.251", H.LO) })
    end
  end)

  it("ipv6-add-membership and ipv6-drop-membership take an index or a name", function()
    local why = H.needs_multicast("LuaSocket's IPv6 membership options"); if why then return pending(why) end
    for _, family in ipairs({ "dual", "inet6" }) do
      local u = sock("udp", family)
      local ok, err, code = u:setoption("ipv6-add-membership", { multiaddr = "ff02::114", interface = H.LO })
      if H.WINE and code == "ENOPROTOOPT" then return pending("Wine " .. H.WINE .. " has no MCAST_JOIN_GROUP: " .. err) end
      assert.same({ 1 }, { ok, err, code })
      assert.same({ nil, "address already in use", "EADDRINUSE" }, { u:join("ff02::114", H.LO) })
      assert.equal(1, u:setoption("ipv6-drop-membership", { multiaddr = "ff02::114", interface = H.LO_NAME }))
      assert.same({ nil, "address not available", "EADDRNOTAVAIL" }, { u:leave("ff02::114", H.LO) })
    end
  end)

  it("membership options and ip-multicast-if take LuaSocket's unspecified interface", function()
    local why = H.needs_multicast("the unspecified multicast interface"); if why then return pending(why) end
    -- LuaSocket's documented interface is "0.0.0.0" (INADDR_ANY): the system chooses
    local d = sock("udp", "dual")
    assert.equal(1, d:setoption("ip-multicast-if", H.LO_NAME))
    assert.equal(1, d:setoption("ip-multicast-if", "0.0.0.0"))
    assert.equal(0, d:getoption("multicast_if"))
    for _, family in ipairs({ "dual", "inet" }) do
      local u = sock("udp", family)
      for _, any in ipairs({ "0.0.0.0", "::", "*" }) do
        assert.same({ 1 }, { u:setoption("ip-multicast-if", any) }, family .. " ip-multicast-if " .. any)
        local ok, err, code = u:setoption("ip-add-membership", { multiaddr = "239.1.2.3", interface = any })
        if H.WINE and code == "ENOPROTOOPT" then return pending("Wine " .. H.WINE .. " has no MCAST_JOIN_GROUP: " .. err) end
        assert.same({ 1 }, { ok, err, code }, family .. " join via " .. any)
        assert.same({ 1 }, { u:setoption("ip-drop-membership", { multiaddr = "239.1.2.3", interface = any }) })
      end
    end
  end)

  it("a bad membership interface raises against the table argument, naming the field", function()
    local u = sock("udp", "inet")
    local ok, err = pcall(function()
      u:setoption("ip-add-membership", { multiaddr = "239.1.2.3", interface = "192.0.2.99" })
    end)
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'setoption' ('interface': no interface has address '192.0.2.99')", err, 1, true)
    H.raises("bad argument #2 to 'setoption' ('interface': unknown interface 'nosuchif0')", function()
      u:setoption("ip-add-membership", { multiaddr = "239.1.2.3", interface = "nosuchif0" })
    end)
    H.raises("bad argument #2 to 'setoption' ('interface': interface index out of range)", function()
      u:setoption("ip-add-membership", { multiaddr = "239.1.2.3", interface = -1 })
    end)
    H.raises("bad argument #2 to 'setoption' ('interface': interface expected, got boolean)", function()
      u:setoption("ip-add-membership", { multiaddr = "239.1.2.3", interface = true })
    end)
  end)

  it("membership options check their table and are write only", function()
    local u = sock("udp")
    H.raises("string 'multiaddr' field expected", function() u:setoption("ip-add-membership", {}) end)
    H.raises("'multiaddr' must be an IPv4 multicast group", function()
      u:setoption("ip-add-membership", { multiaddr = "ff02::1" })
    end)
    H.raises("'multiaddr' must be an IPv6 multicast group", function()
      u:setoption("ipv6-add-membership", { multiaddr = "10.0.0.1" })
    end)
    H.raises("option 'ip-add-membership' is write only", function() u:getoption("ip-add-membership") end)
    local t = sock("tcp")
    H.raises("udp socket expected for option 'ip-add-membership', got tcp socket", function()
      t:setoption("ip-add-membership", { multiaddr = "224.0.0.251" })
    end)
  end)

  it("an alias of a UDP-only option still refuses a TCP socket, by the name used", function()
    local t = sock("tcp")
    H.raises("udp socket expected for option 'ip-multicast-ttl', got tcp socket", function()
      t:setoption("ip-multicast-ttl", 1)
    end)
    H.raises("unknown option 'tcp-fastopen'", function() t:setoption("tcp-fastopen", 1) end)
  end)
end)

describe("LuaSocket method names", function()
  it("receivefrom is recvfrom", function()
    local a, pa = H.udp_bound("dual", "::1")
    local b = H.udp_bound("inet", "127.0.0.1")
    cleanup.keep(a); cleanup.keep(b)
    local _, pb = b:getsockname()
    assert.equal(1, b:sendto("one", "::ffff:127.0.0.1", pa) and 1)
    local r = sock("udp", "dual")
    assert.equal(1, r:setsockname("::", 0))
    local _, pr = r:getsockname()
    assert.equal(3, b:sendto("two", "127.0.0.1", pr))
    assert.same({ "two", "::ffff:127.0.0.1", pb }, { r:receivefrom() })
  end)

  it("setsockname is bind", function()
    local s = sock("tcp", "inet6")
    assert.equal(1, s:setsockname("::1", 0))
    local addr, port = s:getsockname()
    assert.equal("::1", addr)
    assert.is_true(port > 0)
    local t = sock("tcp", "inet6")
    assert.same({ nil, "address already in use", "EADDRINUSE" }, { t:setsockname("::1", port) })
  end)

  it("setpeername connects; setpeername(\"*\") disconnects a UDP socket", function()
    local a, pa = H.udp_bound("inet", "127.0.0.1")
    local b, pb = H.udp_bound("inet", "127.0.0.1")
    local c, pc = H.udp_bound("inet", "127.0.0.1")
    cleanup.keep(a); cleanup.keep(b); cleanup.keep(c)
    assert.equal(1, c:setpeername("127.0.0.1", pa))
    assert.same({ "127.0.0.1", pa }, { c:getpeername() })
    assert.equal(5, c:send("to-a1"))
    assert.same({ "to-a1", "127.0.0.1", pc }, { a:receivefrom() })
    -- connected: what another peer sends is not for c
    assert.equal(4, b:sendto("from-b", "127.0.0.1", pc) and 4)
    H.assert_idle(c)
    assert.equal(1, c:setpeername("*"))
    assert.same({ nil, "not connected", "ENOTCONN" }, { c:getpeername() })
    if not H.WINE then -- Wine sends it anyway, to an address of its own
      assert.same({ nil, "destination address required", 0, "EDESTADDRREQ" }, { c:send("x") })
    end
    assert.equal(4, c:sendto("to-b", "127.0.0.1", pb))
    -- Linux lets a port the system chose go on disconnect (the next send
    -- picks one again): it is read anew
    local _, now = c:getsockname()
    assert.same({ "to-b", "127.0.0.1", now }, { b:receivefrom() })
    assert.equal(6, b:sendto("from-b", "127.0.0.1", now))
    assert.same({ "from-b", "127.0.0.1", pb }, { c:receivefrom() })
  end)

  it("setpeername(\"*\") disconnects dual and inet6 UDP sockets too", function()
    for _, family in ipairs({ "dual", "inet6" }) do
      local a, pa = H.udp_bound("inet6", "::1")
      local c = sock("udp", family)
      cleanup.keep(a)
      assert.equal(1, c:setpeername("::1", pa))
      assert.equal(1, c:setpeername("*"))
      assert.same({ nil, "not connected", "ENOTCONN" }, { c:getpeername() })
      assert.equal(2, c:sendto("hi", "::1", pa))
      assert.equal("hi", (a:receivefrom()))
    end
  end)

  it("setpeername on TCP connects, and \"*\" raises", function()
    local l, port = H.listener("dual", "::")
    cleanup.keep(l)
    local c = sock("tcp", "inet")
    assert.equal(1, c:setpeername("127.0.0.1", port))
    assert.same({ "127.0.0.1", port }, { c:getpeername() })
    H.raises("bad argument #1 to 'setpeername' (udp socket expected for setpeername(\"*\") (disconnect), got tcp socket)",
      function() c:setpeername("*") end)
  end)
end)
