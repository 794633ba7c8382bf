-- The LuaSocket drop-in (dualstack.luasocket): LuaSocket 3.1's socket
-- table and results over dualstack sockets, with real traffic on
-- 127.0.0.1 and ::1. Covers what LuaSocket programs and copas depend on:
-- a "*" server for both families with unmapped peers, receive patterns,
-- send(i, j), settimeout(0) giving nil, "timeout" on every call, connect's
-- progress texts, closed sockets answering nil, "closed", classes and
-- tostring, UDP receivefrom/sendto/setpeername("*"), select, dns,
-- try/protect and LTN12 sinks/sources.
local H = require "helpers"
local cleanup = require "cleanup"
local socket = require "dualstack.luasocket"

local keep = cleanup.keep
after_each(cleanup.close_all)

-- The first two results (a failure adds dualstack's code after them).
local function two(a, b) return { a, b } end

-- A "*" server and its port.
local function server()
  local srv = keep(H.ok(socket.bind("*", 0)))
  local _, port = srv:getsockname()
  return srv, port
end

-- A connected pair over host: the client and the accepted socket.
local function pair(host)
  local srv, port = server()
  local c = keep(H.ok(socket.connect(host or "127.0.0.1", port)))
  srv:settimeout(H.WAIT)
  local a = keep(H.ok(srv:accept()))
  a:settimeout(H.WAIT)
  c:settimeout(H.WAIT)
  return c, a, port
end

-- Sends until the kernel's buffers are full (settimeout(0) then send
-- gives "timeout"); returns the results of that send.
local function fill(c)
  c:setoption("send-buffer-size", 4096)
  c:settimeout(0)
  local chunk = string.rep("x", 65536)
  for _ = 1, 10000 do
    local last, err, partial = c:send(chunk)
    if not last then return last, err, partial end
  end
  error("the send buffer never filled")
end

describe("dualstack.luasocket module", function()
  it("has LuaSocket 3.1's socket table", function()
    for _, name in ipairs { "tcp", "udp", "tcp4", "tcp6", "udp4", "udp6", "bind", "connect", "connect4",
      "connect6", "select", "gettime", "sleep", "try", "newtry", "protect", "skip", "choose", "sink",
      "source", "install" } do
      assert.equal("function", type(socket[name]), name)
    end
    for _, name in ipairs { "toip", "tohostname", "gethostname", "getaddrinfo", "getnameinfo" } do
      assert.equal("function", type(socket.dns[name]), "dns." .. name)
    end
    assert.equal("table", type(socket.sinkt))
    assert.equal("table", type(socket.sourcet))
    assert.equal(2048, socket.BLOCKSIZE)
    assert.equal(8192, socket._DATAGRAMSIZE)
    assert.equal(H.ds.POLL_MAX, socket._SETSIZE)
    assert.matches("^LuaSocket 3%.1%.0 %(dualstack [%d.]+%)$", socket._VERSION)
  end)

  it("install() makes require 'socket' and 'socket.core' give it", function()
    local old, oldcore = package.loaded.socket, package.loaded["socket.core"]
    assert.equal(socket, socket.install())
    local got, gotcore = require "socket", require "socket.core"
    package.loaded.socket, package.loaded["socket.core"] = old, oldcore
    assert.equal(socket, got)
    assert.equal(socket, gotcore)
  end)

  it("install() gives socket.http dualstack's sockets: a GET over 127.0.0.1 and ::1", function()
    local why = H.needs_posix("an HTTP server in a child lua5.4")
    if why then return pending(why) end
    local root = H.repo_root()
    local server = ([[
package.path = %q .. package.path; package.cpath = %q .. package.cpath
io.stdout:setvbuf("line")
local ds = require "dualstack"
local l = assert(ds.listen("*", 0)); l:settimeout(5)
print(select(2, l:getsockname()))
for _ = 1, 2 do
  local c = assert(l:accept()); c:settimeout(5)
  local agent
  repeat
    local line = c:receive()
    agent = agent or (line and line:match("^[Uu]ser%%-[Aa]gent: (.*)"))
  until line == "" or not line
  local body = "hello " .. c:getpeername() .. " from " .. tostring(agent)
  c:send("HTTP/1.0 200 OK\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body)
  c:close()
end]]):format(root .. "/lua/?.lua;", root .. "/build/?.so;")
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write(server)
    f:close()
    local child = assert(io.popen("timeout 10 lua5.4 " .. file))
    local port = assert(math.tointeger(tonumber(child:read("l"))), "the server gave no port")
    local saved = {}
    for _, name in ipairs { "socket", "socket.core", "socket.http" } do saved[name] = package.loaded[name] end
    package.loaded["socket.http"] = nil
    socket.install()
    local ok, http = pcall(require, "socket.http")
    local r4 = ok and { http.request("http://127.0.0.1:" .. port .. "/") }
    local r6 = ok and { http.request("http://[::1]:" .. port .. "/") }
    for name in pairs(saved) do package.loaded[name] = saved[name] end
    child:close()
    os.remove(file)
    if not ok then return pending("socket.http (lua-socket) is not installed: " .. tostring(http)) end
    -- socket.http's user agent is socket._VERSION: the drop-in's
    assert.same({ "hello ::ffff:127.0.0.1 from " .. socket._VERSION, 200 }, { r4[1], r4[2] })
    assert.same({ "hello ::1 from " .. socket._VERSION, 200 }, { r6[1], r6[2] })
  end)

  it("gettime is the wall clock and sleep waits", function()
    assert.is_true(math.abs(socket.gettime() - os.time()) < 2)
    local t0 = H.now()
    socket.sleep(0.2)
    local dt = H.now() - t0
    assert.is_true(dt >= 0.15 and dt < 1, "slept " .. dt)
    socket.sleep(-1) -- returns at once
  end)

  it("DUALSTACK_LUASOCKET_DEBUG sets _DEBUG and appends elapsed seconds", function()
    assert.is_nil(socket._DEBUG)
    local getenv = os.getenv
    package.loaded["dualstack.luasocket"] = nil
    os.getenv = function(name) -- luacheck: ignore
      if name == "DUALSTACK_LUASOCKET_DEBUG" then return "1" end
      return getenv(name)
    end
    local ok, dbg = pcall(require, "dualstack.luasocket")
    os.getenv = getenv -- luacheck: ignore
    package.loaded["dualstack.luasocket"] = socket
    assert(ok, dbg)
    assert.is_true(dbg._DEBUG)
    local srv = keep(H.ok(dbg.bind("127.0.0.1", 0)))
    local _, port = srv:getsockname()
    local c = keep(H.ok(dbg.connect("127.0.0.1", port)))
    local a = keep(H.ok(srv:accept()))
    local last, e1, p1, sent_elapsed = c:send("hi\n")
    assert.same({ 3, nil, nil }, { last, e1, p1 })
    assert.equal(4, select("#", c:send("x")))
    assert.equal("number", type(sent_elapsed))
    local line, e2, p2, elapsed = a:receive()
    assert.same({ "hi", nil, nil }, { line, e2, p2 })
    assert.is_true(elapsed >= 0 and elapsed < 1)
  end)
end)

describe("dualstack.luasocket TCP", function()
  it("a bind('*') server accepts IPv4 and IPv6 clients with unmapped peers", function()
    local srv, port = server()
    assert.equal("tcp{server}", srv.class)
    local c4 = keep(H.ok(socket.connect("127.0.0.1", port)))
    local c6 = keep(H.ok(socket.connect("::1", port)))
    srv:settimeout(H.WAIT)
    local a4 = keep(H.ok(srv:accept()))
    local a6 = keep(H.ok(srv:accept()))
    local _, p4 = c4:getsockname()
    local _, p6 = c6:getsockname()
    assert.same({ "127.0.0.1", p4, "inet" }, { a4:getpeername() })
    assert.same({ "::1", p6, "inet6" }, { a6:getpeername() })
    assert.same({ "127.0.0.1", port, "inet" }, { a4:getsockname() })
    assert.same({ "127.0.0.1", port, "inet" }, { c4:getpeername() })
    assert.same({ "::1", port, "inet6" }, { c6:getpeername() })
    assert.equal("tcp{client}", a4.class)
    assert.equal("tcp{client}", c6.class)
  end)

  it("receives LuaSocket's patterns: *l, a count, a prefix, *a", function()
    local c, a = pair()
    assert.equal(26, c:send("one\r\ntwo\nthreefour rest..."))
    assert.equal(3, select("#", a:receive(1))) -- LuaSocket's three values
    assert.same({ "ne", nil, nil }, { a:receive() })
    assert.same({ "two", nil, nil }, { a:receive("*l") })
    assert.same({ "three", nil, nil }, { a:receive(5) })
    assert.same({ "pre:four", nil, nil }, { a:receive(8, "pre:") }) -- the count includes the prefix
    assert.same({ "longprefix", nil, nil }, { a:receive(4, "longprefix") }) -- reads nothing
    c:close()
    assert.same({ " rest...", nil, nil }, { a:receive("*a") })
    local v, err, partial = a:receive()
    assert.same({ nil, "closed", "" }, { v, err, partial })
  end)

  it("says 'closed' to a second '*a' at the end of the stream", function()
    local c, a = pair()
    c:send("all of it")
    c:close()
    assert.same({ "all of it", nil, nil }, { a:receive("*a") })
    local v, err, partial = a:receive("*a")
    assert.same({ nil, "closed", "" }, { v, err, partial })
  end)

  it("gives the partial line and 'closed' when the peer closes mid-line", function()
    local c, a = pair("::1")
    c:send("little string")
    c:close()
    local v, err, partial = a:receive()
    assert.same({ nil, "closed", "little string" }, { v, err, partial })
  end)

  it("send(data, i, j) returns the index of the last byte sent", function()
    local c, a = pair()
    assert.same({ 7, nil, nil }, { c:send("0123456789", 3, 7) })
    assert.same({ 10, nil, nil }, { c:send("0123456789", -2) })
    assert.same({ "2345689", nil, nil }, { a:receive(7) })
    assert.equal(7, (a:getstats()))
    assert.equal(7, select(2, c:getstats()))
  end)

  it("counts getstats and takes setstats", function()
    local c, a = pair()
    c:send("abc\n")
    a:receive()
    local r, s, age = a:getstats()
    assert.same({ 4, 0 }, { r, s })
    assert.is_true(age >= 0 and age < 5)
    assert.same({ 0, 4 }, two(c:getstats()))
    assert.equal(1, a:setstats(10, 20, 100))
    r, s, age = a:getstats()
    assert.same({ 10, 20 }, { r, s })
    assert.is_true(age >= 100 and age < 101)
  end)

  it("has LuaSocket's classes, tostring and methods", function()
    local t = keep(socket.tcp())
    assert.equal("tcp{master}", t.class)
    assert.matches("^tcp{master}: 0x%x+$", tostring(t))
    for _, m in ipairs { "accept", "bind", "close", "connect", "dirty", "getfamily", "getfd", "getoption",
      "getpeername", "getsockname", "getstats", "setstats", "listen", "receive", "send", "setfd",
      "setoption", "setpeername", "setsockname", "settimeout", "gettimeout", "shutdown" } do
      assert.equal("function", type(t[m]), m)
    end
    assert.equal(-1, t:getfd()) -- LuaSocket's tcp() has no descriptor until used
    assert.equal(1, t:bind("*", 0))
    assert.is_true(t:getfd() >= 0)
    assert.equal(false, t:getoption("ipv6-v6only")) -- dual: both families
    assert.equal(1, t:listen())
    assert.equal("tcp{server}", t.class)
    assert.matches("^tcp{server}: 0x", tostring(t))
    H.raises("calling 'send' on bad self (tcp{client} expected)", function() t:send("x") end)
    assert.equal("userdata", type(t:dualstack()))
    assert.equal("dual", t:dualstack():getfamily())
    assert.equal("r", t:events()) -- forwarded to the dualstack socket
  end)

  it("tcp4 is IPv4, tcp6 IPv6-only as LuaSocket's", function()
    local t4 = keep(socket.tcp4())
    local t6 = keep(socket.tcp6())
    assert.equal("inet4", t4:getfamily())
    assert.equal("inet6", t6:getfamily())
    assert.equal(true, t6:getoption("ipv6-v6only"))
    local srv, port = server()
    t6:settimeout(H.WAIT)
    local ok, err = t6:connect("::ffff:127.0.0.1", port)
    assert.is_nil(ok)
    assert.equal("string", type(err))
    assert.equal(1, keep(socket.tcp4()):connect("127.0.0.1", port))
    srv:close()
  end)

  it("sockets start blocking, as LuaSocket's: bind's, connect's and accepted ones", function()
    local srv, port = server()
    local c = keep(H.ok(socket.connect("::1", port)))
    local a = keep(H.ok(srv:accept()))
    for _, s in ipairs { srv, c, a } do
      assert.same({ -1, -1 }, { s:gettimeout() })
      assert.is_nil(s:dualstack():gettimeout())
    end
  end)

  it("settimeout/gettimeout keep LuaSocket's block and total", function()
    local t = keep(socket.tcp())
    assert.same({ -1, -1 }, { t:gettimeout() })
    assert.equal(1, t:settimeout(2))
    assert.equal(1, t:settimeout(5, "t"))
    assert.same({ 2, 5 }, { t:gettimeout() })
    t:bind("127.0.0.1", 0)
    assert.equal(2, t:dualstack():gettimeout())
  end)

  it("takes LuaSocket's option names, read back under dualstack's", function()
    local c = pair()
    assert.equal(1, c:setoption("tcp-nodelay", true))
    assert.is_true(c:dualstack():getoption("nodelay"))
    assert.is_true(c:getoption("tcp-nodelay"))
    assert.equal(1, c:setoption("keepalive", true))
    assert.is_true(c:dualstack():getoption("keepalive"))
    assert.equal(1, c:setoption("linger", { on = true, timeout = 3 }))
    assert.equal(3, c:dualstack():getoption("linger"))
    assert.same({ on = true, timeout = 3 }, c:getoption("linger"))
    assert.equal(1, c:setoption("linger", { on = false, timeout = 0 }))
    assert.same({ on = false, timeout = 0 }, c:getoption("linger"))
    assert.equal(1, c:setoption("recv-buffer-size", 65536))
    assert.equal(c:dualstack():getoption("rcvbuf"), c:getoption("recv-buffer-size"))
    H.raises("unsupported option `nodelay'", function() c:setoption("nodelay", true) end)
  end)
end)

describe("dualstack.luasocket, what copas depends on", function()
  it("accept on a non-blocking listener returns nil, 'timeout'", function()
    local srv = server()
    srv:settimeout(0)
    local t0 = H.now()
    assert.same({ nil, "timeout" }, two(srv:accept()))
    assert.is_true(H.now() - t0 < 0.05)
  end)

  it("receive with nothing to read returns nil, 'timeout', partial", function()
    local c, a = pair()
    a:settimeout(0)
    c:send("abc")
    H.ok(socket.select({ a }, nil, H.WAIT)[1])
    local v, err, partial = a:receive()
    assert.same({ nil, "timeout", "abc" }, { v, err, partial })
  end)

  it("send on a full buffer returns nil, 'timeout', the last index sent", function()
    local c = pair()
    local last, err, partial = fill(c)
    assert.is_nil(last)
    assert.equal("timeout", err)
    assert.is_true(partial >= 0 and partial < 65536)
  end)

  it("receivefrom with nothing to read returns nil, 'timeout'", function()
    local u = keep(socket.udp())
    u:setsockname("*", 0)
    u:settimeout(0)
    assert.same({ nil, "timeout" }, two(u:receivefrom()))
  end)

  it("connect: 'timeout' in progress, then 1, then 'already connected'", function()
    local _, port = server()
    local t = keep(socket.tcp())
    t:settimeout(0)
    assert.same({ nil, "timeout" }, two(t:connect("127.0.0.1", port)))
    assert.equal("tcp{client}", t.class)
    local _, w = socket.select(nil, { t }, H.WAIT)
    assert.equal(1, w[t])
    if H.WINDOWS then -- Windows says it at once (copas takes it for done)
      assert.same({ nil, "already connected" }, two(t:connect("127.0.0.1", port)))
    else
      assert.equal(1, t:connect("127.0.0.1", port))
    end
    local ok, err = t:connect("127.0.0.1", port)
    assert.same({ nil, "already connected" }, { ok, err })
  end)

  it("a second connect while the first is pending says 'Operation already in progress'", function()
    local why = H.needs_posix("a full accept queue dropping SYNs (Linux)")
    if why then return pending(why) end
    local srv = keep(H.ok(socket.bind("127.0.0.1", 0, 0)))
    local _, port = srv:getsockname()
    local first = keep(socket.tcp())
    first:settimeout(0)
    first:connect("127.0.0.1", port)
    H.ok(select(2, socket.select(nil, { first }, H.WAIT))[1]) -- queued: the queue is full
    local t = keep(socket.tcp())
    t:settimeout(0)
    assert.same({ nil, "timeout" }, two(t:connect("127.0.0.1", port)))
    local ok, err = t:connect("127.0.0.1", port)
    assert.same({ nil, "Operation already in progress" }, { ok, err })
  end)

  it("getfd, dirty and the tostring prefix", function()
    local c, a = pair()
    assert.equal("tcp", tostring(c):sub(1, 3))
    assert.equal("udp", tostring(keep(socket.udp())):sub(1, 3))
    assert.equal(c:dualstack():getfd(), c:getfd())
    c:send("ab\ncd")
    H.ok(socket.select({ a }, nil, H.WAIT)[1])
    assert.is_false(a:dirty())
    assert.equal("ab", a:receive())
    assert.is_true(a:dirty())
    local r = socket.select({ a }, nil, 0)
    assert.equal(1, r[a])
    assert.equal(a, r[1])
  end)

  it("a closed socket answers nil, 'closed' to every call", function()
    local c, a = pair()
    a:close()
    assert.equal(1, a:close())
    for _, call in ipairs {
      function() return a:receive() end,
      function() return a:send("x") end,
      function() return a:getpeername() end,
      function() return a:getsockname() end,
      function() return a:recvmsg() end, -- forwarded to the dualstack socket
    } do
      local v, err = call()
      assert.same({ nil, "closed" }, { v, err })
    end
    assert.equal(-1, a:getfd())
    assert.is_false(a:dirty())
    assert.same({ nil, "closed" }, two(a:setoption("keepalive", true)))
    assert.same({ nil, "closed" }, two(a:getoption("keepalive")))
    local srv = server()
    srv:close()
    assert.same({ nil, "closed" }, two(srv:accept()))
    local u = keep(socket.udp())
    u:close()
    assert.same({ nil, "closed" }, two(u:receivefrom()))
    local r, _, e = socket.select({ a, u }, nil, 0.05)
    assert.same({}, r)
    assert.equal("timeout", e)
    c:close()
  end)
end)

describe("dualstack.luasocket UDP", function()
  it("receivefrom and sendto with IPv4 and IPv6 peers, unmapped", function()
    local u = keep(socket.udp())
    assert.equal("udp{unconnected}", u.class)
    assert.equal(1, u:setsockname("*", 0))
    u:settimeout(H.WAIT)
    local _, port = u:getsockname()
    local c4 = keep(socket.udp4())
    local c6 = keep(socket.udp6())
    assert.equal(5, c4:sendto("hello", "127.0.0.1", port))
    local data, ip, p, extra = u:receivefrom()
    local _, p4 = c4:getsockname()
    assert.same({ "hello", "127.0.0.1", p4 }, { data, ip, p })
    assert.is_nil(extra)
    assert.equal(2, u:sendto("ok", ip, p))
    c4:settimeout(H.WAIT)
    assert.same({ "ok", "127.0.0.1", port }, { c4:receivefrom() })
    assert.equal(3, c6:sendto("six", "::1", port))
    data, ip = u:receivefrom()
    assert.same({ "six", "::1" }, { data, ip })
    local v, err = u:sendto("x", "localhost", port) -- numeric only, as LuaSocket's
    assert.same({ nil, "Name or service not known" }, { v, err })
  end)

  it("setpeername connects and setpeername('*') disconnects", function()
    local srv = keep(socket.udp())
    srv:setsockname("127.0.0.1", 0)
    srv:settimeout(H.WAIT)
    local _, port = srv:getsockname()
    local u = keep(socket.udp())
    assert.equal(1, u:setpeername("127.0.0.1", port))
    assert.equal("udp{connected}", u.class)
    assert.same({ "127.0.0.1", port, "inet" }, { u:getpeername() })
    assert.equal(3, u:send("one"))
    assert.equal("one", srv:receive())
    H.raises("calling 'sendto' on bad self (udp{unconnected} expected)", function() u:sendto("x", "127.0.0.1", port) end)
    assert.equal(1, u:setpeername("*"))
    assert.equal("udp{unconnected}", u.class)
    assert.equal(3, u:sendto("two", "127.0.0.1", port))
    assert.equal("two", srv:receive())
    local ok, err = u:getpeername()
    assert.is_nil(ok)
    assert.equal("string", type(err))
  end)

  it("a refused connected datagram reports 'connection refused', as LuaSocket's", function()
    local why = H.needs_icmp_errors("a refused datagram")
    if why then return pending(why) end
    local port = H.closed_port("inet", "127.0.0.1")
    local u = keep(socket.udp())
    u:setpeername("127.0.0.1", port)
    u:send("x")
    u:settimeout(H.WAIT)
    local v, err = u:receive()
    assert.same({ nil, "connection refused" }, { v, err })
  end)
end)

describe("dualstack.luasocket connect/bind", function()
  it("connect4 and connect6 pick the family; connect takes a local address", function()
    local _, port = server()
    local c4 = keep(H.ok(socket.connect4("127.0.0.1", port)))
    assert.equal("inet4", c4:getfamily())
    local c6 = keep(H.ok(socket.connect6("::1", port)))
    assert.equal("inet6", c6:getfamily())
    local c = keep(H.ok(socket.connect("127.0.0.1", port, "127.0.0.1", 0)))
    assert.equal("127.0.0.1", (c:getsockname()))
    local v, err = socket.connect("127.0.0.1", H.closed_port("inet", "127.0.0.1"))
    assert.same({ nil, "connection refused" }, { v, err })
  end)

  it("bind on a taken port fails as LuaSocket's", function()
    local srv = keep(H.ok(socket.bind("127.0.0.1", 0)))
    local i, p = srv:getsockname()
    local s = keep(socket.tcp())
    s:setoption("reuseaddr", false)
    local r, err = s:bind(i, p)
    assert.same({ nil, "address already in use" }, { r, err })
  end)
end)

describe("dualstack.luasocket dns", function()
  it("toip, tohostname, getaddrinfo, getnameinfo, gethostname", function()
    local ip, t = socket.dns.toip("localhost")
    assert.equal("127.0.0.1", ip)
    assert.equal("127.0.0.1", t.ip[1])
    assert.equal("table", type(t.alias))
    assert.equal("127.0.0.1", (socket.dns.toip("127.0.0.1")))
    assert.equal("::1", (socket.dns.toip("::1"))) -- numeric text as it is (LuaSocket: IPv4 only)
    assert.same({ nil, "host not found" }, { socket.dns.toip("host.is.invalid") })
    assert.equal("localhost", (socket.dns.tohostname("127.0.0.1")))
    local list = H.ok(socket.dns.getaddrinfo("::1"))
    assert.same({ { family = "inet6", addr = "::1" } }, list)
    list = H.ok(socket.dns.getaddrinfo("localhost"))
    assert.same({ family = "inet", addr = "127.0.0.1" }, list[1])
    local names, service = socket.dns.getnameinfo("127.0.0.1", 80)
    assert.same({ { "localhost" }, "http" }, { names, service })
    assert.same({ {}, "http" }, { socket.dns.getnameinfo(nil, 80) })
    assert.same({ nil, "host or service not provided, or not known" }, two(socket.dns.getaddrinfo("host.is.invalid")))
    assert.same({ nil, "host or service not provided, or not known" }, two(socket.connect("host.is.invalid", 1)))
    local name = socket.dns.gethostname()
    assert.equal(require("dualstack").gethostname(), name)
    local f = io.open("/proc/sys/kernel/hostname") -- Linux says it there too
    if f then
      assert.equal(f:read("l"), name)
      f:close()
    end
  end)
end)

describe("dualstack.luasocket try/protect", function()
  it("try returns its values or raises to protect, which returns nil, err", function()
    local finalized = false
    local f = socket.protect(function(fail, ...)
      local try = socket.newtry(function() finalized = true end)
      if fail then error(fail, 0) end
      return try(...)
    end)
    assert.same({ 1, 2, 3 }, { f(false, 1, 2, 3) })
    assert.is_false(finalized)
    assert.same({ nil, "bad" }, { f(false, nil, "bad") })
    assert.is_true(finalized)
    local other = { key = "value" }
    local ok, err = pcall(f, other)
    assert.is_false(ok)
    assert.equal(other, err)
    assert.is_false(pcall(socket.try, false, "raised"))
    assert.same({ 2, 3 }, { socket.skip(1, 1, 2, 3) })
    local pick = socket.choose { default = function(x) return "d" .. x end, a = function(x) return "a" .. x end }
    assert.equal("a1", pick("a", 1))
    assert.equal("d2", pick(2))
    H.raises("unknown key (b)", function() pick("b", 1) end)
  end)
end)

describe("dualstack.luasocket sink/source", function()
  it("pumps a stream through ltn12 with sink and source", function()
    local ok, ltn12 = pcall(require, "ltn12")
    if not ok then return pending("ltn12 (lua-socket) is not installed") end
    local c, a = pair("::1")
    local text = string.rep("0123456789", 1000)
    assert.equal(1, ltn12.pump.all(ltn12.source.string(text), socket.sink("close-when-done", c)))
    assert.equal(-1, c:getfd())
    local got = {}
    assert.equal(1, ltn12.pump.all(socket.source("until-closed", a), (ltn12.sink.table(got))))
    assert.equal(text, table.concat(got))
    local c2, a2 = pair()
    c2:send("exactly12345trailing")
    got = {}
    assert.equal(1, ltn12.pump.all(socket.source("by-length", a2, 12), (ltn12.sink.table(got))))
    assert.equal("exactly12345", table.concat(got))
    assert.equal(1, ltn12.pump.all(ltn12.source.string("kept"), socket.sink(c2)))
    assert.is_true(c2:getfd() >= 0) -- keep-open, the default
  end)
end)

describe("dualstack.luasocket setfd", function()
  it("setfd(-1) gives the descriptor up open and keeps nothing of the old socket (LuaSec's ssl.wrap)", function()
    local th = require "spec.testhelp"
    local c, a = pair()
    local fd = c:getfd()
    local weak = setmetatable({ c:dualstack() }, { __mode = "v" })
    assert.is_nil(c:setfd(-1))
    assert.equal(-1, c:getfd())
    collectgarbage()
    collectgarbage()
    assert.is_nil(weak[1]) -- the old dualstack socket is garbage
    assert.is_true(th.isopen(fd)) -- and collecting it closed nothing
    local again = H.ok(H.ds.fromfd(fd, "tcp"))
    again:settimeout(H.WAIT)
    assert.equal(3, again:send("hi\n"))
    assert.equal("hi", a:receive())
    again:close()
  end)

  it("setfd(fd) adopts a descriptor (a number as text too)", function()
    local c, a = pair()
    local fd = c:dualstack():detach()
    local t = keep(socket.tcp())
    assert.is_nil(t:setfd(tostring(fd)))
    assert.equal(fd, t:getfd())
    t:settimeout(H.WAIT)
    assert.equal(3, a:send("yo\n"))
    assert.equal("yo", t:dualstack():receive()) -- still tcp{master}, as LuaSocket's setfd leaves it
  end)
end)

describe("dualstack.luasocket addresses and ports", function()
  it("a bad address is a failure, as LuaSocket's getaddrinfo makes it", function()
    local NONAME = "host or service not provided, or not known"
    assert.same({ nil, NONAME }, two(keep(socket.tcp()):bind("999.1.1.1", 0)))
    assert.same({ nil, NONAME }, two(keep(socket.tcp()):connect("1.2.3.999", 80)))
    assert.same({ nil, NONAME }, two(keep(socket.udp()):setsockname("999.1.1.1", 0)))
    assert.same({ nil, NONAME }, two(keep(socket.udp()):setpeername("1.2.3.999", 80)))
    assert.same({ nil, NONAME }, two(socket.connect("1.2.3.999", 80)))
    assert.same({ nil, NONAME }, two(socket.bind("999.1.1.1", 0)))
  end)

  it("a service name is looked up; a port out of range or unknown service is a failure", function()
    local u = keep(socket.udp())
    assert.equal(1, u:setpeername("127.0.0.1", "echo"))
    assert.same({ "127.0.0.1", 7, "inet" }, { u:getpeername() })
    assert.same({ nil, "connection refused" }, two(keep(socket.tcp()):connect("127.0.0.1", "echo")))
    local SERVICE = "service not supported for socket type"
    assert.same({ nil, SERVICE }, two(keep(socket.tcp()):connect("127.0.0.1", 99999)))
    assert.same({ nil, SERVICE }, two(keep(socket.tcp()):bind("127.0.0.1", -1)))
    assert.same({ nil, SERVICE }, two(keep(socket.tcp()):connect("127.0.0.1", "no-such-service")))
    assert.same({ nil, SERVICE }, two(socket.connect("127.0.0.1", 99999)))
    assert.same({ nil, SERVICE }, two(socket.bind("127.0.0.1", 99999)))
    local srv = keep(H.ok(socket.bind("127.0.0.1", "0")))
    assert.equal("tcp{server}", srv.class)
  end)
end)

describe("dualstack.luasocket number and text arguments, as LuaSocket coerces them", function()
  it("receive, send, settimeout, sleep and select take numeric text and floats", function()
    local c, a = pair()
    a:send("abcdefghijklmnop")
    assert.same({ "abc", nil, nil }, { c:receive("3") })
    assert.same({ "de", nil, nil }, { c:receive(2.7) })
    assert.same({ "5", nil, nil }, { c:receive(1, 5) }) -- a number prefix is its text
    assert.same({ "5fg", nil, nil }, { c:receive(3, 5) })
    assert.same({ 6, nil, nil }, { c:send("abcdef", "2") })
    assert.same({ 6, nil, nil }, { c:send("abcdef", 2.5) })
    assert.same({ 2, nil, nil }, { c:send(12) })
    assert.equal(1, c:settimeout("1"))
    assert.same({ 1, -1 }, { c:gettimeout() })
    socket.sleep("0.01")
    local r, w = socket.select({ a }, nil, "0")
    assert.same({ a, {} }, { r[1], w })
  end)
end)

describe("dualstack.luasocket getstats and lines", function()
  it("counts every byte a line consumed and drops every CR of it, as LuaSocket", function()
    local c, a = pair()
    a:send("a\rb\r\nline2\nX\r\r\n")
    assert.same({ "ab", "line2", "X" }, { c:receive(), c:receive(), c:receive() })
    assert.equal(15, (c:getstats()))
    a:send("pq\rr")
    a:close()
    local v, err, partial = c:receive()
    assert.same({ nil, "closed", "pqr" }, { v, err, partial })
    assert.equal(19, (c:getstats()))
    assert.same({ "P\rQ" }, { (c:receive(0, "P\rQ")) })
  end)

  it("rests on the dualstack socket's raw line pattern \"L\": CRs and the LF kept", function()
    local c, a = pair()
    a:send("a\rb\r\nc\r\nrest")
    local inner = c:dualstack()
    assert.equal("a\rb\r\n", inner:receive("L"))
    assert.equal("p:c\r\n", inner:receive("L", "p:"))
    a:close()
    local v, err, partial = inner:receive("L")
    assert.same({ nil, "closed", "rest" }, { v, err, partial })
  end)
end)

describe("dualstack.luasocket select", function()
  it("skips entries without getfd, as LuaSocket", function()
    local c, a = pair()
    c:send("x")
    local r = socket.select({ {}, "text", a, 42 }, nil, H.WAIT)
    assert.same({ a }, { r[1], r[2] })
    assert.equal(1, r[a])
  end)
end)

describe("dualstack.luasocket shapes", function()
  it("getfamily reports the family the socket serves", function()
    local t = keep(socket.tcp())
    assert.equal("inet4", t:getfamily())
    assert.equal(1, t:bind("127.0.0.1", 0))
    assert.equal("inet4", t:getfamily())
    local t6 = keep(socket.tcp())
    assert.equal(1, t6:bind("::1", 0))
    assert.equal("inet6", t6:getfamily())
    local c = pair("127.0.0.1")
    assert.equal("inet4", c:getfamily())
  end)

  it("has _SOCKETINVALID and __unload", function()
    assert.equal(-1, socket._SOCKETINVALID)
    assert.equal("function", type(socket.__unload))
  end)
end)

describe("dualstack.luasocket argument errors", function()
  it("name the caller's line and LuaSocket's texts", function()
    local c = pair()
    for _, call in ipairs {
      function() c:receive({}) end,
      function() c:receive("*x") end,
      function() c:send({}) end,
      function() c:settimeout("soon") end,
      function() c:connect(nil, 80) end,
      function() c:setoption("keepalive", {}) end,
      function() socket.sleep("x") end,
      function() socket.connect({}, 80) end,
      function() socket.select("x") end,
    } do
      local ok, err = pcall(call)
      assert.is_false(ok)
      assert.matches("^spec[/\\]luasocket_spec%.lua:%d+: ", err)
    end
    H.raises("calling 'receive' on bad self (tcp{client} expected)", function() keep(socket.tcp()):receive() end)
  end)
end)
