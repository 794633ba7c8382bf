-- Listeners (ds.listen, ds.udp_listen) in the reference's two models: one
-- dual-stack socket, and one v6-only socket plus one IPv4 socket on the same
-- port behind the same object. Real clients of both families on loopback.
local H = require "helpers"
local cleanup = require "cleanup"
local ds = H.ds

-- The two models. `v4peer` is an IPv4 client's address as the listener's
-- socket reports it: mapped on a dual socket, plain on an inet one.
local MODELS = {
  { name = "dual model (default)", opts = {}, families = { "dual" }, v4peer = "::ffff:127.0.0.1" },
  { name = "per-family model (dualstack = false)", opts = { dualstack = false },
    families = { "inet6", "inet" }, v4peer = "127.0.0.1" },
}

-- Sockets and listeners of the running case, closed after each one.
local keep = cleanup.keep
after_each(cleanup.close_all)

local copy = H.copy

local function families_of(listener)
  local out = {}
  for i, s in ipairs(listener:sockets()) do out[i] = s:getfamily() end
  return out
end

-- A TCP listener with a bounded accept; returns it and its port.
local function tcp_listener(host, opts)
  local l = keep(H.ok(ds.listen(host, 0, opts)))
  l:settimeout(H.WAIT)
  local _, port = H.ok(l:getsockname())
  return l, port
end

-- A client of family connected to host:port, kept for closing.
local function client(family, host, port)
  local c = keep(H.socket("tcp", family))
  H.ok(c:connect(host, port))
  return c
end

-- Accepts one client and checks the connection carries data both ways.
-- Returns the peer address as the server sees it.
local function accept_and_talk(l, clients)
  local a = keep(H.ok(l:accept()))
  assert.is_nil(a:gettimeout(), "an accepted socket blocks, whatever the listener's sockets do")
  a:settimeout(H.WAIT)
  local peer, peer_port = H.ok(a:getpeername())
  local c = clients[peer_port]
  assert(c, "accepted a connection from an unknown port " .. tostring(peer_port))
  assert.equal(6, c:send("hello\n"))
  assert.equal("hello", a:receive("*l"))
  assert.equal(4, a:send("bye\n"))
  assert.equal("bye", c:receive("*l"))
  return peer
end

-- Connects clients in the given order before accepting anything, then
-- accepts them all: both underlying sockets must be served.
local function serve_in_order(model, order)
  local l, port = tcp_listener("*", model.opts)
  local clients, expected = {}, {}
  local host = { inet = "127.0.0.1", inet6 = "::1" }
  for _, family in ipairs(order) do
    local c = client(family, host[family], port)
    clients[select(2, c:getsockname())] = c
    expected[#expected + 1] = family == "inet" and model.v4peer or "::1"
  end
  local seen = {}
  for i = 1, #order do seen[i] = accept_and_talk(l, clients) end
  table.sort(seen)
  table.sort(expected)
  assert.same(expected, seen)
end

-- UDP: a client of family bound to host asks the listener on host and
-- checks the reply comes from exactly that address.
local UDP_CLIENTS = {
  { family = "inet", host = "127.0.0.1" },
  { family = "inet", host = "127.0.0.2" },
  { family = "inet6", host = "::1" },
}

local function udp_round_trip(l, port, case)
  local c = keep(H.udp_bound(case.family, case.host))
  assert.equal(4, c:sendto("ping", case.host, port))
  local msg = H.ok(l:recvmsg())
  assert.equal("ping", msg.data)
  assert.is_true(ds.same(case.host, msg.addr), "peer " .. msg.addr)
  assert.is_true(ds.same(case.host, msg.dst), "dst " .. tostring(msg.dst))
  assert.equal(H.LO, msg.ifindex)
  H.ok(l:reply(msg, "pong"))
  local data, from = H.ok(c:recvfrom())
  assert.equal("pong", data)
  assert.equal(case.host, from)
end

-- An operation on an idle listener with timeout t must give up after about t.
local function assert_bounded_timeout(l, t, op)
  l:settimeout(t)
  local elapsed, _, v, err, code = H.timed(function() return op(l) end)
  assert.is_nil(v)
  assert.equal("timeout", err)
  assert.equal("ETIMEDOUT", code)
  assert.is_true(elapsed >= t - 0.02, "returned early: " .. elapsed)
  assert.is_true(elapsed < t + 0.5, "waited too long: " .. elapsed)
end

for _, model in ipairs(MODELS) do
  describe("ds.listen on '*', " .. model.name, function()
    it("has the model's sockets, all on one port", function()
      local l, port = tcp_listener("*", model.opts)
      assert.same(model.families, families_of(l))
      assert.equal("integer", math.type(port))
      assert.is_true(port > 0)
      for _, s in ipairs(l:sockets()) do
        assert.equal(port, select(2, s:getsockname()))
      end
      assert.equal(l:sockets()[1]:getfd(), l:getfd())
      assert.matches("^tcp listener{tcp{", tostring(l))
    end)

    it("returns a new array from sockets(), not its own", function()
      local l = tcp_listener("*", model.opts)
      local list = l:sockets()
      list[1] = nil
      assert.equal(#model.families, #l:sockets())
    end)

    it("accepts an IPv4 and an IPv6 client, IPv4 connecting first", function()
      serve_in_order(model, { "inet", "inet6" })
    end)

    it("accepts an IPv6 and an IPv4 client, IPv6 connecting first", function()
      serve_in_order(model, { "inet6", "inet" })
    end)

    it("serves several clients of each family queued at once", function()
      serve_in_order(model, { "inet", "inet", "inet6", "inet6", "inet" })
    end)

    it("sets reuseaddr by default and leaves it off on request", function()
      local on = tcp_listener("*", model.opts)
      local off = tcp_listener("*", copy(model.opts, { reuseaddr = false }))
      -- On by default, but not on Windows, where reuseaddr would let another
      -- socket take the port (lua/dualstack/listen.lua).
      local default = not H.WINDOWS
      for _, s in ipairs(on:sockets()) do assert.equal(default, s:getoption("reuseaddr")) end
      for _, s in ipairs(off:sockets()) do assert.is_false(s:getoption("reuseaddr")) end
    end)

    it("fails with EADDRINUSE on a port already served, unless both use reuseport", function()
      local why = H.needs_reuseport("reuseport"); if why then return pending(why) end
      local _, port = tcp_listener("*", model.opts)
      local l2, _, code = ds.listen("*", port, model.opts)
      if l2 then keep(l2) end
      assert.is_nil(l2)
      assert.equal("EADDRINUSE", code)

      local shared = copy(model.opts, { reuseport = true })
      local _, port2 = tcp_listener("*", shared)
      local l3 = keep(H.ok(ds.listen("*", port2, shared)))
      assert.equal(port2, select(2, l3:getsockname()))
    end)

    it("closes every socket and releases their descriptors", function()
      local why = H.needs_proc_fds("counting sockets"); if why then return pending(why) end
      local before = H.socket_fds()
      local l, port = tcp_listener("*", model.opts)
      local fds = {}
      for i, s in ipairs(l:sockets()) do fds[i] = s:getfd() end
      assert.equal(before + #model.families, H.socket_fds())
      assert.equal(1, l:close())
      for i, s in ipairs(l:sockets()) do
        assert.equal(-1, s:getfd())
        assert.is_false(H.fd_is_socket(fds[i]))
      end
      assert.equal(before, H.socket_fds())
      assert.equal(1, l:close()) -- twice is harmless
      local why = H.needs_so_error("the refused connects to the closed port"); if why then return pending(why) end
      for _, host in ipairs({ "127.0.0.1", "::1" }) do
        local c = keep(H.socket("tcp", "dual"))
        assert.same({ nil, "connection refused", "ECONNREFUSED" }, { c:connect(host, port) })
      end
    end)

    it("is closed by <close> at the end of its scope", function()
      local why = H.needs_proc_fds("counting sockets"); if why then return pending(why) end
      local before = H.socket_fds()
      do
        local l <close> = H.ok(ds.listen("*", 0, model.opts))
        assert.equal(before + #model.families, H.socket_fds())
      end
      assert.equal(before, H.socket_fds())
    end)

    it("bounds accept on an idle listener by its timeout", function()
      local l = tcp_listener("*", model.opts)
      assert_bounded_timeout(l, 0.2, function(x) return x:accept() end)
      assert_bounded_timeout(l, 0, function(x) return x:accept() end)
    end)
  end)

  describe("ds.udp_listen on '*', " .. model.name, function()
    local function udp_listener(opts)
      local l = keep(H.ok(ds.udp_listen("*", 0, opts or model.opts)))
      l:settimeout(H.WAIT)
      return l, select(2, l:getsockname())
    end

    it("has the model's sockets with pktinfo on, all on one port", function()
      local l, port = udp_listener()
      assert.same(model.families, families_of(l))
      for _, s in ipairs(l:sockets()) do
        assert.equal(port, select(2, s:getsockname()))
        assert.is_true(s:getoption("pktinfo"))
      end
      assert.matches("^udp listener{udp{", tostring(l))
    end)

    it("leaves pktinfo off with opts.pktinfo = false", function()
      local l = udp_listener(copy(model.opts, { pktinfo = false }))
      for _, s in ipairs(l:sockets()) do assert.is_false(s:getoption("pktinfo")) end
    end)

    for _, case in ipairs(UDP_CLIENTS) do
      it("receives from a client at " .. case.host .. " and replies from " .. case.host, function()
        local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
        local why = case.host == "127.0.0.2" and H.needs_bound_source("a client bound to 127.0.0.2")
        if why then return pending(why) end
        local l, port = udp_listener()
        udp_round_trip(l, port, case)
      end)
    end

    it("serves all three clients queued at once", function()
      local why = H.needs_send_source("replies from 127.0.0.2"); if why then return pending(why) end
      local l, port = udp_listener()
      local clients = {}
      for i, case in ipairs(UDP_CLIENTS) do
        clients[i] = keep(H.udp_bound(case.family, case.host))
        assert.equal(1, clients[i]:sendto(tostring(i), case.host, port))
      end
      local got = {}
      for _ = 1, #UDP_CLIENTS do
        local msg = H.ok(l:recvmsg())
        got[#got + 1] = msg.data
        H.ok(l:reply(msg, "re" .. msg.data))
      end
      table.sort(got)
      assert.same({ "1", "2", "3" }, got)
      for i, case in ipairs(UDP_CLIENTS) do
        local data, from = H.ok(clients[i]:recvfrom())
        assert.equal("re" .. i, data)
        assert.equal(case.host, from)
      end
    end)

    it("gives recvfrom's data, address and port for both families", function()
      local l, port = udp_listener()
      for _, case in ipairs({ UDP_CLIENTS[1], UDP_CLIENTS[3] }) do
        local c, cport = H.udp_bound(case.family, case.host)
        keep(c)
        c:sendto("x", case.host, port)
        local data, addr, from_port = H.ok(l:recvfrom())
        assert.equal("x", data)
        assert.is_true(ds.same(case.host, addr))
        assert.equal(cport, from_port)
      end
    end)

    it("sends with sendto and sendmsg to either family", function()
      local l = udp_listener()
      for _, case in ipairs({ UDP_CLIENTS[1], UDP_CLIENTS[3] }) do
        local c, cport = H.udp_bound(case.family, case.host)
        keep(c)
        assert.equal(2, l:sendto("to", case.host, cport))
        assert.equal("to", (H.ok(c:recvfrom())))
        assert.equal(3, l:sendmsg { data = "msg", addr = case.host, port = cport })
        assert.equal("msg", (H.ok(c:recvfrom())))
      end
    end)

    it("bounds recvmsg and recvfrom on an idle listener by its timeout", function()
      local l = udp_listener()
      assert_bounded_timeout(l, 0.2, function(x) return x:recvmsg() end)
      assert_bounded_timeout(l, 0.2, function(x) return x:recvfrom() end)
      assert_bounded_timeout(l, 0, function(x) return x:recvmsg() end)
    end)

    it("closes every socket", function()
      local why = H.needs_proc_fds("counting sockets"); if why then return pending(why) end
      local before = H.socket_fds()
      local l = H.ok(ds.udp_listen("*", 0, model.opts))
      assert.equal(before + #model.families, H.socket_fds())
      l:close()
      assert.equal(before, H.socket_fds())
    end)
  end)
end

describe("ds.listen with v6only = true", function()
  it("opens one inet6 socket that refuses IPv4 clients and serves IPv6 ones", function()
    local why = H.needs_so_error("a refused connect's code"); if why then return pending(why) end
    local l, port = tcp_listener("*", { v6only = true })
    assert.same({ "inet6" }, families_of(l))
    local c4 = keep(H.socket("tcp", "inet"))
    assert.same({ nil, "connection refused", "ECONNREFUSED" }, { c4:connect("127.0.0.1", port) })
    local c6 = client("inet6", "::1", port)
    local clients = { [select(2, c6:getsockname())] = c6 }
    assert.equal("::1", accept_and_talk(l, clients))
  end)
end)

describe("ds.listen on one address", function()
  it("on 127.0.0.1 opens one inet socket that serves only 127.0.0.1", function()
    local why = H.needs_so_error("a refused connect's code"); if why then return pending(why) end
    local l, port = tcp_listener("127.0.0.1")
    assert.same({ "inet" }, families_of(l))
    assert.same({ "127.0.0.1", port }, { l:getsockname() })
    local c6 = keep(H.socket("tcp", "inet6"))
    assert.same({ nil, "connection refused", "ECONNREFUSED" }, { c6:connect("::1", port) })
    local c2 = keep(H.socket("tcp", "inet"))
    assert.same({ nil, "connection refused", "ECONNREFUSED" }, { c2:connect("127.0.0.2", port) })
    local c = client("inet", "127.0.0.1", port)
    assert.equal("127.0.0.1", accept_and_talk(l, { [select(2, c:getsockname())] = c }))
  end)

  it("on ::1 opens one inet6 socket", function()
    local l, port = tcp_listener("::1")
    assert.same({ "inet6" }, families_of(l))
    assert.same({ "::1", port }, { l:getsockname() })
  end)

  it("on 0.0.0.0 opens one inet socket", function()
    local l = tcp_listener("0.0.0.0")
    assert.same({ "inet" }, families_of(l))
  end)

  it("udp_listen on 127.0.0.2 answers from 127.0.0.2", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local why = H.needs_bound_source("a client bound to 127.0.0.2"); if why then return pending(why) end
    local l = keep(H.ok(ds.udp_listen("127.0.0.2", 0)))
    l:settimeout(H.WAIT)
    assert.same({ "inet" }, families_of(l))
    udp_round_trip(l, select(2, l:getsockname()), UDP_CLIENTS[2])
  end)
end)

describe("ds.listen arguments", function()
  -- Like every argument error, these name the function called.
  it("raises on a port out of range", function()
    local bad_port = "bad argument #2 to 'listen' (port must be an integer 0-65535)"
    assert.has_error(function() ds.listen("*", -1) end, bad_port)
    assert.has_error(function() ds.listen("*", 65536) end, bad_port)
    assert.has_error(function() ds.listen("*", 1.5) end, bad_port)
  end)

  it("raises on a host that is not a string", function()
    assert.has_error(function() ds.udp_listen(nil, 0) end, "bad argument #1 to 'udp_listen' (host string expected)")
  end)

  it("gives nil, message, code for a name that does not resolve", function()
    local l, msg, code = ds.listen("nonexistent.invalid", 0)
    assert.is_nil(l)
    assert.is_string(msg)
    assert.matches("^EAI_", code)
  end)
end)
