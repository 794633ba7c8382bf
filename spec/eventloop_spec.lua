-- dualstack sockets inside the event loops Lua users run: LuaSocket's
-- socket.select (getfd, dirty), cqueues (the pollable protocol: pollfd,
-- events, timeout) and luv (uv.new_socket_poll on getfd). Each proves real
-- traffic through a dual-stack socket with Debian's library; settimeout(0)
-- makes every call return at once so a scheduler can drive it.
local H = require "helpers"
local cleanup = require "cleanup"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

-- Loads an event-loop library, or marks the case pending with why not.
local function need(module, package)
  local ok, lib = pcall(require, module)
  if ok then return lib end
  pending(package .. " is not installed (make test installs it): " .. tostring(lib))
  return nil
end

-- A dual UDP socket on "*" with packet info, and a datagram waiting in it
-- from an IPv4 client. Returns the server, the client and the server port.
local function dual_udp_server()
  local srv, port = H.udp_bound("dual", "*")
  keep(srv)
  H.ok(srv:setoption("pktinfo", true))
  local cli = keep(H.udp_bound("inet", "127.0.0.2"))
  return srv, cli, port
end

-- Asserts a call returned nil, "timeout", "ETIMEDOUT" (code at position
-- `at`, 3 by default) without waiting, and that events() says direction.
local function assert_would_block(sock, direction, at, fn)
  local elapsed, _, v, err, third, fourth = H.timed(fn)
  assert.is_nil(v)
  assert.equal("timeout", err)
  assert.equal("ETIMEDOUT", (at or 3) == 3 and third or fourth)
  assert.is_true(elapsed < 0.05, "waited " .. elapsed .. " s")
  assert.equal(direction, sock:events())
end

describe("settimeout(0)", function()
  it("makes recvmsg, recvfrom, receive, recv and accept return at once", function()
    local u = keep(H.udp_bound("dual", "*"))
    u:settimeout(0)
    assert_would_block(u, "r", 3, function() return u:recvmsg() end)
    assert_would_block(u, "r", 3, function() return u:recvfrom() end)

    local c, a, l = H.tcp_pair("dual", "*", "inet", "127.0.0.1")
    keep(c); keep(a); keep(l)
    a:settimeout(0)
    assert_would_block(a, "r", 4, function() return a:receive(10) end)
    assert_would_block(a, "r", 3, function() return a:recv() end)
    l:settimeout(0)
    assert_would_block(l, "r", 3, function() return l:accept() end)
  end)

  it("makes send return the last byte sent and timeout on a full buffer, with events 'w'", function()
    local c, a, l = H.tcp_pair("dual", "*", "inet6", "::1")
    keep(c); keep(a); keep(l)
    a:settimeout(0)
    local chunk = string.rep("x", 1 << 20)
    local sent, err, last, code
    for _ = 1, 256 do -- loopback buffers hold a few MiB at most
      sent, err, last, code = a:send(chunk)
      if not sent then break end
    end
    assert.same({ "timeout", "ETIMEDOUT" }, { err, code })
    assert.is_true(last >= 0 and last < #chunk)
    assert.equal("w", a:events())
  end)

  it("exposes the pollable protocol: pollfd is getfd, no timeout of its own", function()
    local u = keep(H.udp_bound("dual", "*"))
    assert.equal(u:getfd(), u:pollfd())
    assert.is_nil(u:timeout())
    assert.equal("r", u:events())
  end)
end)

describe("LuaSocket's socket.select", function()
  it("sees a dual socket readable when an IPv4 datagram arrives", function()
    local socket = need("socket", "lua-socket")
    if not socket then return end
    local srv, cli, port = dual_udp_server()
    local r, _, err = socket.select({ srv }, nil, 0.1)
    assert.equal("timeout", err)
    assert.same({}, r)

    H.ok(cli:sendto("ping", "127.0.0.2", port))
    r, _, err = socket.select({ srv }, nil, 1)
    assert.is_nil(err)
    assert.equal(srv, r[1])
    assert.equal(1, r[srv])
    local msg = H.ok(srv:recvmsg())
    assert.equal("ping", msg.data)
    assert.equal("::ffff:127.0.0.2", msg.dst)
  end)

  it("sees buffered data through dirty() and a TCP accept through getfd()", function()
    local socket = need("socket", "lua-socket")
    if not socket then return end
    local l, port = H.listener("dual", "*")
    keep(l)
    local c = keep(H.socket("tcp", "inet6"))
    H.ok(c:connect("::1", port))
    local r = socket.select({ l }, nil, 1)
    assert.equal(l, r[1])
    local a = keep(H.ok(l:accept()))
    a:settimeout(H.WAIT)
    c:send("one\ntwo\n")
    assert.equal("one", a:receive("*l"))
    local elapsed, _, rr = H.timed(function() return socket.select({ a }, nil, 5) end)
    assert.equal(a, rr[1])
    assert.is_true(elapsed < 0.5, "waited " .. elapsed .. " s for buffered data")
  end)
end)

describe("cqueues", function()
  -- Runs the controller until it is empty, every step bounded; raises any
  -- error a coroutine raised.
  local function run(cq, limit)
    local deadline = ds.monotime() + limit
    while not cq:empty() do
      assert(ds.monotime() < deadline, "cqueues loop did not finish in " .. limit .. " s")
      local ok, err = cq:step(0.1)
      assert(ok, err)
    end
  end

  -- Calls op until it stops saying "timeout", letting cqueues wait on sock
  -- in between; counts the waits so the spec knows the loop was used.
  local function drive(cqueues, sock, waits, op)
    while true do
      local a, b, c, d = op()
      if a or (c ~= "ETIMEDOUT" and d ~= "ETIMEDOUT") then return a, b, c, d end
      waits[#waits + 1] = sock:events()
      cqueues.poll(sock)
    end
  end

  it("serves a UDP request and a TCP accept on settimeout(0) dual sockets", function()
    local cqueues = need("cqueues", "lua-cqueues")
    if not cqueues then return end
    local udp, cli, uport = dual_udp_server()
    udp:settimeout(0)
    local tcp, tport = H.listener("dual", "*")
    keep(tcp)
    tcp:settimeout(0)
    local waits, got = {}, {}
    local cq = cqueues.new()

    cq:wrap(function() -- UDP server: one request, answered from where it was sent
      local msg = H.ok(drive(cqueues, udp, waits, function() return udp:recvmsg() end))
      got.udp = msg.data
      H.ok(udp:reply(msg, "pong"))
    end)
    cq:wrap(function() -- TCP server: one client, one line
      local a = keep(H.ok(drive(cqueues, tcp, waits, function() return tcp:accept() end)))
      a:settimeout(0)
      got.tcp = H.ok(drive(cqueues, a, waits, function() return a:receive("*l") end))
    end)
    cq:wrap(function() -- clients, after the servers are waiting
      cqueues.sleep(0.05)
      H.ok(cli:sendto("ping", "127.0.0.2", uport))
      local c = keep(H.socket("tcp", "inet6"))
      H.ok(c:connect("::1", tport))
      H.ok(c:send("hello\n"))
    end)
    run(cq, 3)

    assert.equal("ping", got.udp)
    assert.equal("hello", got.tcp)
    assert.is_true(#waits >= 2, "the servers never waited in cqueues")
    for _, w in ipairs(waits) do assert.equal("r", w) end
    local data, from = H.ok(cli:recvfrom())
    assert.equal("pong", data)
    assert.equal("127.0.0.2", from)
  end)

  it("waits for writability when a connect is in progress", function()
    local cqueues = need("cqueues", "lua-cqueues")
    if not cqueues then return end
    local l, port = H.listener("dual", "*")
    keep(l)
    local c = keep(H.socket("tcp", "dual"))
    c:settimeout(0)
    local result = {}
    local cq = cqueues.new()
    cq:wrap(function()
      local ok, _, code = c:connect("127.0.0.1", port)
      if not ok and code == "ETIMEDOUT" then
        result.events = c:events()
        cqueues.poll(c)
        ok, _, code = c:connect("127.0.0.1", port)
      end
      result.ok = ok == 1 or code == "EISCONN"
    end)
    run(cq, 3)
    assert.is_true(result.ok)
    assert.equal("w", result.events, "the connect never waited (Linux always returns EINPROGRESS here)")
    assert.equal("::ffff:127.0.0.1", (c:getpeername()))
  end)
end)

describe("luv", function()
  it("polls a dual socket's descriptor and reads the datagram in the callback", function()
    local uv = need("luv", "lua-luv")
    if not uv then return end
    local srv, cli, port = dual_udp_server()
    srv:settimeout(0)
    local got, timed_out
    local poll = uv.new_socket_poll(srv:getfd())
    local timer = uv.new_timer()
    local function finish()
      poll:stop(); poll:close()
      timer:stop(); timer:close()
      uv.stop()
    end
    poll:start("r", function(err)
      assert(not err, err)
      got = H.ok(srv:recvmsg())
      finish()
    end)
    timer:start(H.WAIT * 1000, 0, function()
      timed_out = true
      finish()
    end)
    local sender = uv.new_timer() -- send once the loop is running
    sender:start(20, 0, function()
      sender:close()
      H.ok(cli:sendto("ping", "127.0.0.2", port))
    end)
    local elapsed = H.timed(function() uv.run("default") end)
    uv.run("nowait") -- let the closed handles finish closing

    assert.is_nil(timed_out, "no datagram within " .. H.WAIT .. " s")
    assert.is_true(elapsed < H.WAIT)
    assert.equal("ping", got.data)
    assert.equal("::ffff:127.0.0.2", got.dst)
    assert.equal("::ffff:127.0.0.2", got.addr)
    assert.equal(select(2, cli:getsockname()), got.port)
  end)
end)
