-- Sockets over real loopback traffic: one dual-stack socket serving IPv4 and
-- IPv6 peers, v6-only and IPv4-only sockets refusing the other family,
-- timeouts, error codes, and the release of file descriptors.
local H = require "helpers"
local ds = H.ds

-- The clients a dual listener on "*" must serve. Each client binds to the
-- address it connects to, so both ends of the conversation use `host`:
-- `seen` is that address as the dual socket reports it, `native` as the
-- client's own socket does.
local CLIENTS = {
  { name = "IPv4 client to 127.0.0.1", family = "inet", host = "127.0.0.1",
    seen = "::ffff:127.0.0.1", native = "127.0.0.1" },
  { name = "IPv4 client to 127.0.0.2", family = "inet", host = "127.0.0.2",
    seen = "::ffff:127.0.0.2", native = "127.0.0.2" },
  { name = "IPv6 client to ::1", family = "inet6", host = "::1",
    seen = "::1", native = "::1" },
}

-- Open sockets of the running case, closed after each one.
local open

-- Registers the sockets among the values for closing, and returns all.
local function keep(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "userdata" then open[#open + 1] = v end
  end
  return ...
end

before_each(function() open = {} end)
after_each(function() H.close_all(open) end)

-- Checks that the client's view of the connection and the server's agree,
-- each in its own socket's address form.
local function assert_tcp_names(case, c, a)
  local peer, peer_port = H.ok(a:getpeername())
  assert.equal(case.seen, peer)
  assert.equal("integer", math.type(peer_port))
  local local_addr, local_port = H.ok(c:getsockname())
  assert.equal(case.native, local_addr)
  assert.equal(local_port, peer_port)

  local server_addr, server_port = H.ok(a:getsockname())
  assert.equal(case.seen, server_addr)
  local c_peer, c_peer_port = H.ok(c:getpeername())
  assert.equal(case.native, c_peer)
  assert.equal(server_port, c_peer_port)
end

-- Sends data and checks every receive pattern on the other end.
local function assert_receive_patterns(from, to)
  assert.equal(25, from:send("line one\r\nline two\nabcdef"))
  assert.same({ "line one" }, { to:receive("*l") }) -- CR is dropped, as in LuaSocket
  assert.same({ "line two" }, { to:receive("l") })
  assert.same({ "abc" }, { to:receive(3) })
  assert.same({ ">>def" }, { to:receive(3, ">>") })

  assert.equal(5, from:send("hello"))
  assert.same({ "hello" }, { to:recv() })

  -- LuaSocket's send(data, i, j) answers with the index of the last byte sent.
  assert.equal(10, from:send("0123456789", 5))
  assert.equal(3, from:send("abcdef", 2, 3))
  assert.same({ "456789bc" }, { to:receive(8) })

  assert.equal(4, from:send("tail"))
  H.ok(from:shutdown("send"))
  assert.same({ "tail" }, { to:receive("*a") })
  assert.same({ nil, "closed", "", "EOF" }, { to:receive(1) })
  assert.same({ nil, "closed", "EOF" }, { to:recv() })
end

describe("a dual TCP listener on '*'", function()
  it("is AF_INET6 with v6only off and listens on [::]", function()
    local l, port = keep(H.listener("dual", "*"))
    assert.equal("dual", l:getfamily())
    assert.is_false(l:getoption("v6only"))
    assert.same({ "::", port }, { l:getsockname() })
  end)

  for _, case in ipairs(CLIENTS) do
    describe("accepts an " .. case.name, function()
      local c, a
      before_each(function()
        c, a = keep(H.tcp_pair("dual", "*", case.family, case.host, case.host))
      end)

      it("and both ends see the peer names", function()
        assert.equal("dual", a:getfamily())
        assert_tcp_names(case, c, a)
      end)

      it("and carries data client to server", function()
        assert_receive_patterns(c, a)
      end)

      it("and carries data server to client", function()
        assert_receive_patterns(a, c)
      end)
    end)
  end
end)

describe("a dual UDP socket on '*'", function()
  for _, case in ipairs(CLIENTS) do
    it("exchanges datagrams with an " .. case.name, function()
      local why = case.host == "127.0.0.2" and H.needs_bound_source("a client bound to 127.0.0.2")
      if why then return pending(why) end
      local server, port = keep(H.udp_bound("dual", "*"))
      local client, client_port = keep(H.udp_bound(case.family, case.host))

      assert.equal(4, client:sendto("ping", case.host, port))
      local data, addr, from_port = server:recvfrom()
      assert.same({ "ping", case.seen, client_port }, { data, addr, from_port })
      assert.equal("integer", math.type(from_port))

      -- Answer to the address exactly as recvfrom gave it (mapped for IPv4):
      -- the plain client must get it, from the server's port, and see the
      -- source in its own (unmapped) form. Which loopback address a wildcard
      -- socket answers from is the kernel's choice here; answering from the
      -- address asked is issue 3's recvmsg/reply.
      assert.equal(4, server:sendto("pong", addr, from_port))
      local answer, source, source_port = client:recvfrom()
      assert.same({ "pong", port }, { answer, source_port })
      assert.equal(ds.family(case.host), ds.family(source))
      assert.is_false(ds.is_mapped(source))
    end)
  end

  it("receives one datagram per call, truncated to the size asked for", function()
    local server, port = keep(H.udp_bound("dual", "*"))
    local client = keep(H.socket("udp", "inet"))
    client:sendto("abcdef", "127.0.0.1", port)
    client:sendto("second", "127.0.0.1", port)
    assert.same({ "abc" }, { server:receive(3) })
    assert.same({ "second" }, { server:receive() })
  end)

  it("sends and receives on a connected socket", function()
    local server, port = keep(H.udp_bound("dual", "*"))
    local client = keep(H.socket("udp", "dual"))
    H.ok(client:connect("127.0.0.1", port))
    assert.equal(2, client:send("hi"))
    local _, addr, from_port = server:recvfrom()
    assert.equal("::ffff:127.0.0.1", addr)
    server:sendto("ho", addr, from_port)
    assert.same({ "ho" }, { client:receive() })
  end)
end)

describe("automatic mapping of IPv4 text on a dual socket", function()
  it("binds 127.0.0.1 as ::ffff:127.0.0.1", function()
    for _, kind in ipairs { "tcp", "udp" } do
      local s = keep(H.socket(kind, "dual"))
      H.ok(s:bind("127.0.0.1", 0))
      assert.equal("::ffff:127.0.0.1", (s:getsockname()))
    end
  end)

  it("connects to IPv4 text and reports the mapped peer", function()
    local _, port = keep(H.listener("inet", "127.0.0.2"))
    local c = keep(H.socket("tcp", "dual"))
    H.ok(c:connect("127.0.0.2", port))
    assert.same({ "::ffff:127.0.0.2", port }, { c:getpeername() })
  end)

  it("leaves addresses plain on an inet socket, and unmaps mapped text there", function()
    local s = keep(H.socket("udp", "inet"))
    H.ok(s:bind("::ffff:127.0.0.1", 0))
    assert.equal("127.0.0.1", (s:getsockname()))
  end)
end)

describe("an inet6 (v6-only) socket", function()
  it("listens on '*' as [::] and refuses IPv4 clients", function()
    local why = H.needs_so_error("a refused connect's code"); if why then return pending(why) end
    local l, port = keep(H.listener("inet6", "*"))
    assert.equal("inet6", l:getfamily())
    assert.is_true(l:getoption("v6only"))
    local c = keep(H.socket("tcp", "inet"))
    local ok, msg, code = c:connect("127.0.0.1", port)
    assert.same({ nil, "ECONNREFUSED" }, { ok, code })
    assert.is_string(msg)
  end)

  it("still serves IPv6 clients", function()
    local c, a = keep(H.tcp_pair("inet6", "*", "inet6", "::1"))
    assert.equal("::1", (a:getpeername()))
    assert_receive_patterns(c, a)
  end)

  -- Every way to hand IPv4 to a v6-only socket fails with EAFNOSUPPORT and
  -- a message that names the address; none raises.
  for _, addr in ipairs { "127.0.0.1", "::ffff:127.0.0.1" } do
    it("refuses " .. addr .. " in connect, sendto and bind", function()
      local t = keep(H.socket("tcp", "inet6"))
      local u = keep(H.socket("udp", "inet6"))
      for _, call in ipairs {
        function() return t:connect(addr, 9) end,
        function() return u:sendto("x", addr, 9) end,
        function() return u:bind(addr, 0) end,
      } do
        local ok, msg, code = call()
        assert.is_nil(ok)
        assert.equal("EAFNOSUPPORT", code)
        assert.truthy(msg:find(addr, 1, true), msg)
      end
    end)
  end

  -- The reference's pitfall: a mapped address learnt on a dual socket is
  -- useless on a v6-only socket.
  it("cannot use a mapped peer address learnt on a dual socket", function()
    local _, a = keep(H.tcp_pair("dual", "*", "inet", "127.0.0.1"))
    local mapped = a:getpeername()
    assert.is_true(ds.is_mapped(mapped))
    local _, port = keep(H.listener("dual", "127.0.0.1"))
    local v6only = keep(H.socket("tcp", "inet6"))
    local ok, _, code = v6only:connect(mapped, port)
    assert.same({ nil, "EAFNOSUPPORT" }, { ok, code })
    -- The same address works on a dual socket.
    local dual = keep(H.socket("tcp", "dual"))
    assert.equal(1, dual:connect(mapped, port))
  end)
end)

describe("an inet socket", function()
  it("refuses native IPv6 with EAFNOSUPPORT", function()
    local s = keep(H.socket("udp", "inet"))
    local ok, msg, code = s:sendto("x", "::1", 9)
    assert.same({ nil, "EAFNOSUPPORT" }, { ok, code })
    assert.is_string(msg)
  end)
end)

describe("v6only", function()
  it("is reflected by getfamily and getoption", function()
    local s = keep(H.socket("udp", "dual"))
    assert.same({ "dual", false }, { s:getfamily(), s:getoption("v6only") })
    assert.equal(1, s:setoption("v6only", true))
    assert.same({ "inet6", true }, { s:getfamily(), s:getoption("v6only") })
    local ok, _, code = s:sendto("x", "127.0.0.1", 9)
    assert.same({ nil, "EAFNOSUPPORT" }, { ok, code })
    assert.equal(1, s:setoption("v6only", false))
    assert.same({ "dual", false }, { s:getfamily(), s:getoption("v6only") })
  end)

  it("turns an inet6 socket into a dual one when cleared before bind", function()
    local s = keep(H.socket("tcp", "inet6"))
    s:setoption("v6only", false)
    assert.equal("dual", s:getfamily())
    H.ok(s:bind("127.0.0.1", 0))
    assert.equal("::ffff:127.0.0.1", (s:getsockname()))
  end)

  it("raises when set after bind, listen or connect", function()
    local bound = keep(H.udp_bound("dual", "::1"))
    local listening = keep(H.listener("dual", "::1"))
    local _, port = listening:getsockname()
    local connected = keep(H.socket("tcp", "dual"))
    H.ok(connected:connect("::1", port))
    for _, s in ipairs { bound, listening, connected } do
      H.raises("option 'v6only' must be set before bind, connect or listen",
        function() s:setoption("v6only", true) end)
    end
  end)

  it("cannot be set on an inet socket", function()
    local s = keep(H.socket("udp", "inet"))
    assert.has_error(function() s:setoption("v6only", true) end,
      "bad argument #1 to 'setoption' (option 'v6only' does not apply to an inet socket)")
  end)
end)

-- Waits that must end after about `timeout` seconds: each returns the
-- values of a call expected to time out on an idle socket.
local IDLE_CALLS = {
  { name = "receive on TCP", expect = { nil, "timeout", "", "ETIMEDOUT" }, call = function()
    local _, a = keep(H.tcp_pair("dual", "::1", "inet6", "::1"))
    return a, function() return a:receive("*l") end
  end },
  { name = "recv on TCP", expect = { nil, "timeout", "ETIMEDOUT" }, call = function()
    local c = keep(H.tcp_pair("dual", "127.0.0.1", "inet", "127.0.0.1"))
    return c, function() return c:recv() end
  end },
  { name = "accept", expect = { nil, "timeout", "ETIMEDOUT" }, call = function()
    local l = keep(H.listener("dual", "*"))
    return l, function() return l:accept() end
  end },
  { name = "recvfrom on UDP", expect = { nil, "timeout", "ETIMEDOUT" }, call = function()
    local u = keep(H.udp_bound("dual", "*"))
    return u, function() return u:recvfrom() end
  end },
}

describe("timeouts", function()
  for _, case in ipairs(IDLE_CALLS) do
    it("bound " .. case.name .. " with settimeout(0.2)", function()
      local s, call = case.call()
      s:settimeout(0.2)
      assert.equal(0.2, s:gettimeout())
      local wall, cpu, r1, r2, r3, r4 = H.timed(call)
      assert.same(case.expect, { r1, r2, r3, r4 })
      assert.is_true(wall >= 0.15, "returned after only " .. wall .. " s")
      assert.is_true(wall <= 2, "took " .. wall .. " s")
      -- Waiting is poll(2), not a busy loop. Measured where os.clock is
      -- CPU time: Windows' clock() counts wall time.
      if not H.WINDOWS then assert.is_true(cpu < 0.1, "spent " .. cpu .. " s of CPU waiting") end
    end)

    it("return " .. case.name .. " at once with settimeout(0)", function()
      local s, call = case.call()
      s:settimeout(0)
      local wall, _, r1, r2 = H.timed(call)
      assert.same({ nil, "timeout" }, { r1, r2 })
      assert.is_true(wall < 0.1, "took " .. wall .. " s")
    end)
  end

  it("keep the partial data of a receive that timed out", function()
    local c, a = keep(H.tcp_pair("dual", "*", "inet", "127.0.0.1"))
    c:send("abc")
    a:settimeout(0.2)
    assert.same({ nil, "timeout", "abc", "ETIMEDOUT" }, { a:receive(10) })
  end)

  it("are cleared by settimeout(nil) and negative values", function()
    local s = keep(H.socket("udp", "dual"))
    assert.equal(H.WAIT, s:gettimeout())
    assert.equal(1, s:settimeout(nil))
    assert.is_nil(s:gettimeout())
    s:settimeout(1)
    s:settimeout(-1)
    assert.is_nil(s:gettimeout())
  end)
end)

describe("error codes", function()
  -- Where a family's loopback address lives.
  local LOOPBACKS = {
    { family = "dual", host = "127.0.0.1" },
    { family = "dual", host = "::1" },
    { family = "inet", host = "127.0.0.1" },
    { family = "inet6", host = "::1" },
  }

  for _, case in ipairs(LOOPBACKS) do
    local where = case.family .. " socket on " .. case.host

    it("EADDRINUSE binding a port in use, " .. where, function()
      local _, port = keep(H.listener(case.family, case.host))
      local s = keep(H.socket("tcp", case.family))
      local ok, msg, code = s:bind(case.host, port)
      assert.same({ nil, "EADDRINUSE" }, { ok, code })
      assert.is_string(msg)
    end)

    it("ECONNREFUSED connecting to a closed port, " .. where, function()
      local why = H.needs_so_error("a refused connect's code"); if why then return pending(why) end
      local port = H.closed_port(case.family, case.host)
      local s = keep(H.socket("tcp", case.family))
      local ok, msg, code = s:connect(case.host, port)
      assert.same({ nil, "ECONNREFUSED" }, { ok, code })
      assert.is_string(msg)
    end)
  end

  it("EAI_NONAME for a name that does not resolve", function()
    local s = keep(H.socket("udp", "dual"))
    local ok, msg, code = s:connect("no-such-host.invalid", 9)
    assert.same({ nil, "EAI_NONAME" }, { ok, code })
    assert.is_string(msg)
  end)

  it("ECONNRESET / closed when the peer resets", function()
    local why = H.WINE and ("a reset peer: Wine " .. H.WINE .. " reports a TCP reset (linger 0) as end of stream, recv 0, not WSAECONNRESET"); if why then return pending(why) end
    local c, a = keep(H.tcp_pair("dual", "*", "inet6", "::1"))
    c:setoption("linger", 0)
    c:close()
    assert.same({ nil, "closed", "ECONNRESET" }, { a:recv() })
  end)
end)

describe("programming errors raise", function()
  -- Each bad port and why it is refused.
  local function each_port_case(fn)
    local range, not_int = "port out of range (0-65535)", "number has no integer representation"
    for _, case in ipairs { { 65536, range }, { -1, range }, { 1.5, not_int }, { 70000, range } } do
      fn(case[1], case[2])
    end
  end

  it("for ports out of range or not integers", function()
    local s = keep(H.socket("udp", "dual"))
    each_port_case(function(port, why)
      assert.has_error(function() s:bind("::1", port) end, "bad argument #2 to 'bind' (" .. why .. ")")
      assert.has_error(function() s:connect("::1", port) end, "bad argument #2 to 'connect' (" .. why .. ")")
      assert.has_error(function() s:sendto("x", "::1", port) end, "bad argument #3 to 'sendto' (" .. why .. ")")
    end)
  end)

  it("for malformed numeric addresses", function()
    local s = keep(H.socket("udp", "dual"))
    H.raises("malformed IPv4 address: '1.2.3'", function() s:bind("1.2.3", 0) end)
    assert.has_error(function() s:connect("::1::2", 9) end,
      "bad argument #1 to 'connect' (malformed IPv6 address: '::1::2')")
    assert.has_error(function() s:sendto("x", "1.2.3.256", 9) end,
      "bad argument #2 to 'sendto' (malformed IPv4 address: '1.2.3.256')")
  end)

  it("for wrong argument types", function()
    local s = keep(H.socket("udp", "dual"))
    assert.has_error(function() s:bind({}, 0) end, "bad argument #1 to 'bind' (string expected, got table)")
    assert.has_error(function() s:sendto({}, "::1", 9) end, "bad argument #1 to 'sendto' (string expected, got table)")
    assert.has_error(function() s:settimeout("soon") end, "bad argument #1 to 'settimeout' (number expected, got string)")
    assert.has_error(function() ds.udp { family = "ipx" } end,
      "bad field 'family' (one of 'dual' 'inet6' 'inet' expected)")
  end)

  -- Every method that touches the fd (close, getfd, gettimeout, getfamily,
  -- dirty and tostring only read state kept in Lua and may answer).
  local CLOSED_CALLS = {
    bind = { "::1", 0 }, listen = {}, accept = {}, connect = { "::1", 9 },
    send = { "x" }, receive = {}, recv = {}, sendto = { "x", "::1", 9 }, recvfrom = {},
    shutdown = {}, getsockname = {}, getpeername = {}, setoption = { "reuseaddr", true },
    getoption = { "reuseaddr" }, settimeout = { 1 },
  }

  it("for use of a closed socket, while close stays idempotent", function()
    local s = ds.tcp()
    assert.equal(1, s:close())
    assert.equal(1, s:close())
    assert.equal(-1, s:getfd())
    assert.equal("tcp{closed}", tostring(s))
    for name, args in pairs(CLOSED_CALLS) do
      H.raises("attempt to use a closed socket", function() s[name](s, table.unpack(args)) end, name)
    end
  end)
end)

describe("file descriptors", function()
  -- Opens n sockets of mixed kinds, some connected (with accepted ends).
  local function open_some()
    local c, a, l = H.tcp_pair("dual", "*", "inet", "127.0.0.1")
    return { c, a, l, ds.udp(), ds.udp { family = "inet" }, ds.tcp { family = "inet6" } }
  end

  -- Sockets other specs dropped must not be collected mid-count.
  before_each(function()
    collectgarbage()
    collectgarbage()
  end)

  it("are released by close", function()
    local why = H.needs_proc_fds("counting sockets"); if why then return pending(why) end
    local before = H.socket_fds()
    local list = open_some()
    assert.equal(before + #list, H.socket_fds())
    H.close_all(list)
    assert.equal(before, H.socket_fds())
  end)

  it("are released by <close> at the end of a scope", function()
    local why = H.needs_proc_fds("counting sockets"); if why then return pending(why) end
    local before = H.socket_fds()
    local fd
    do
      local s <close> = H.ok(ds.udp())
      fd = s:getfd()
      assert.is_true(H.fd_is_socket(fd))
      assert.equal(before + 1, H.socket_fds())
    end
    assert.equal(before, H.socket_fds())
  end)

  it("are released by the collector for sockets dropped without close", function()
    local why = H.needs_proc_fds("counting sockets"); if why then return pending(why) end
    local before = H.socket_fds()
    local list = open_some()
    assert.equal(before + #list, H.socket_fds())
    list = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.equal(before, H.socket_fds())
  end)

  it("are not closed twice by the collector after close", function()
    local why = H.needs_proc_fds("counting sockets"); if why then return pending(why) end
    local s = ds.udp()
    s:close()
    -- The fd number is reused by the next socket; collecting the closed
    -- one must leave it open.
    local other = keep(ds.udp())
    s = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_true(H.fd_is_socket(other:getfd()))
  end)
end)

describe("tostring and __name", function()
  it("name the kind, family, fd and local address", function()
    local l, port = keep(H.listener("dual", "*"))
    assert.equal(("tcp{dual, fd %d, [::]:%d}"):format(l:getfd(), port), tostring(l))
    local u, uport = keep(H.udp_bound("inet", "127.0.0.2"))
    assert.equal(("udp{inet, fd %d, 127.0.0.2:%d}"):format(u:getfd(), uport), tostring(u))
    local m, mport = keep(H.udp_bound("dual", "127.0.0.1"))
    assert.equal(("udp{dual, fd %d, [::ffff:127.0.0.1]:%d}"):format(m:getfd(), mport), tostring(m))
    local v, vport = keep(H.udp_bound("inet6", "::1"))
    assert.equal(("udp{inet6, fd %d, [::1]:%d}"):format(v:getfd(), vport), tostring(v))
  end)

  it("is dualstack.socket for every kind", function()
    for _, s in ipairs { keep(ds.tcp()), keep(ds.udp { family = "inet" }) } do
      assert.equal("dualstack.socket", getmetatable(s).__name)
    end
  end)
end)
