-- Local sockets (issue 17 D): ds.unix and ds.socketpair with paths for
-- addresses, real traffic through files in a private directory, abstract
-- names inside a network namespace of the spec's own (unshare -n).
local H = require "helpers"
local ds = H.ds
local N = require "namespace"

local open, dir

local function keep(s)
  open[#open + 1] = s
  return s
end

local function unix(kind)
  local s = keep(H.ok(ds.unix(kind and { type = kind })))
  s:settimeout(H.WAIT)
  return s
end

local function is_socket_file(path)
  return os.execute("test -S " .. N.shell_quote(path)) == true
end

before_each(function()
  open = {}
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
end)

after_each(function()
  H.close_all(open)
  os.execute("rm -rf " .. dir)
end)

-- A listening stream socket at DIR/name.
local function server(name)
  local s = unix()
  assert.equal(1, s:bind(dir .. "/" .. name))
  assert.equal(1, s:listen())
  return s
end

describe("ds.unix stream sockets", function()
  it("carry a line both ways, with paths for names", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local path = dir .. "/s.sock"
    local srv = server("s.sock")
    local c = unix()
    assert.equal(1, c:connect(path))
    local a = keep(H.ok(srv:accept()))
    a:settimeout(H.WAIT)
    assert.equal("unix", a:getfamily())
    assert.equal(path, a:getsockname())
    assert.equal("", a:getpeername())
    assert.equal(path, c:getpeername())
    assert.equal(2 + 6, c:send("hi there\n", 1, 9) - 1)
    assert.equal("hi there", a:receive("*l"))
    assert.equal(3, a:send("ok\n"))
    assert.equal("ok", c:receive())
  end)

  it("print as unix{type, fd N, name}", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local srv = server("t.sock")
    assert.equal(("unix{stream, fd %d, %s/t.sock}"):format(srv:getfd(), dir), tostring(srv))
    local d = unix("dgram")
    assert.equal(("unix{dgram, fd %d}"):format(d:getfd()), tostring(d))
    d:close()
    assert.equal("unix{closed}", tostring(d))
  end)

  it("refuse a path that exists: a socket file and a regular file (kept)", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local srv = server("s.sock")
    local again = unix()
    assert.same({ nil, "address already in use", "EADDRINUSE" }, { again:bind(dir .. "/s.sock") })
    srv:close()
    assert.same({ nil, "address already in use", "EADDRINUSE" }, { again:bind(dir .. "/s.sock") })
    assert.is_true(is_socket_file(dir .. "/s.sock"))
    local f = assert(io.open(dir .. "/plain", "w"))
    f:write("content")
    f:close()
    assert.same({ nil, "address already in use", "EADDRINUSE" },
                { again:bind(dir .. "/plain", { remove_stale = true }) })
    f = assert(io.open(dir .. "/plain"))
    assert.equal("content", f:read("a"))
    f:close()
  end)

  it("remove_stale replaces a stale socket file, never a live server", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    local path = dir .. "/s.sock"
    local old = server("s.sock")
    local live = unix()
    assert.same({ nil, "address already in use", "EADDRINUSE" }, { live:bind(path, { remove_stale = true }) })
    -- the probe that found it live is one connection, closed at once
    local probe = keep(H.ok(old:accept()))
    probe:settimeout(H.WAIT)
    assert.same({ nil, "closed", "", "EOF" }, { probe:receive() })
    -- and the server still answers
    local c = unix()
    assert.equal(1, c:connect(path))
    local a = keep(H.ok(old:accept()))
    c:send("ping\n")
    a:settimeout(H.WAIT)
    assert.equal("ping", a:receive())
    old:close() -- its file stays: stale now
    assert.equal(1, live:bind(path, { remove_stale = true }))
    assert.equal(1, live:listen())
    local c2 = unix()
    assert.equal(1, c2:connect(path))
    assert.truthy(live:accept())
  end)

  it("time out after the timeout, with elapsed >= 0.2", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local a = unix()
    local b = unix()
    local srv = server("w.sock")
    assert.equal(1, a:connect(dir .. "/w.sock"))
    b = keep(H.ok(srv:accept()))
    b:settimeout(0.2)
    local t0 = H.now()
    assert.same({ nil, "timeout", "", "ETIMEDOUT" }, { b:receive() })
    assert.is_true(H.now() - t0 >= 0.2 - 0.01)
  end)

  it("close at the end of a <close> block", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local fd
    do
      local s <close> = H.ok(ds.unix())
      fd = s:getfd()
      assert.is_true(fd >= 0)
      open[#open + 1] = s
    end
    assert.equal("unix{closed}", tostring(open[#open]))
  end)

  it("wake ds.select", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local srv = server("sel.sock")
    local c = unix()
    assert.equal(1, c:connect(dir .. "/sel.sock"))
    local r = ds.select({ srv }, nil, H.WAIT)
    assert.equal(srv, r[1])
    local a = keep(H.ok(srv:accept()))
    c:send("x")
    r = ds.select({ a }, nil, H.WAIT)
    assert.equal(a, r[1])
  end)

  it("raise for a path of 108 bytes, and keep tcp/udp refusing family unix", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local s = unix()
    local long = "/" .. ("p"):rep(107)
    H.raises("path too long (at most 107 bytes)", function() s:bind(long) end)
    H.raises("path too long (at most 107 bytes)", function() s:connect(long) end)
    assert.equal(1, s:bind(dir .. "/" .. ("q"):rep(107 - #dir - 1)))
    H.raises("bad field 'family'", function() ds.tcp({ family = "unix" }) end)
    H.raises("bad field 'family'", function() ds.udp({ family = "unix" }) end)
  end)

  it("take \"@name\" as a Linux abstract name, and fail with EAFNOSUPPORT where there are none", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local s = unix()
    local name = "@ds-none-" .. ds.getpid() -- no one binds it: nothing to reach
    local f = not H.WINDOWS and io.open("/proc/sys/kernel/ostype")
    local linux = f and f:read("l") == "Linux"
    if f then f:close() end
    if linux then
      assert.same({ nil, "connection refused", "ECONNREFUSED" }, { s:connect(name) })
    else
      local refused = { nil, "address family not supported", "EAFNOSUPPORT" }
      assert.same(refused, { s:connect(name) })
      assert.same(refused, { s:bind(name) })
      assert.same(refused, { s:bind("@") })
      assert.equal(1, s:bind(dir .. "/p.sock")) -- a path still binds
    end
  end)

  it("refuse IP-level options", function()
    local why = H.needs_unix("local sockets"); if why then return pending(why) end
    local s = unix()
    H.raises("option 'hoplimit' does not apply to a unix socket", function() s:setoption("hoplimit", 3) end)
    H.raises("option 'nodelay' does not apply to a unix socket", function() s:getoption("nodelay") end)
    assert.equal(1, s:setoption("rcvbuf", 65536))
  end)
end)

describe("ds.unix datagram sockets", function()
  it("give the sender's path, and \"\" for an unnamed one", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    local path = dir .. "/d.sock"
    local d = unix("dgram")
    assert.equal(1, d:bind(path))
    local e = unix("dgram")
    assert.equal(5, e:sendto("first", path))
    assert.same({ "first", "" }, { d:recvfrom() })
    assert.equal(1, e:bind(dir .. "/e.sock"))
    assert.equal(6, e:sendto("second", path))
    assert.same({ "second", dir .. "/e.sock" }, { d:recvfrom() })
    assert.equal(2, d:sendto("ok", dir .. "/e.sock"))
    assert.equal("ok", e:recv())
    H.raises("stream socket expected, got dgram socket", function() d:receive() end)
  end)

  it("keep seqpacket boundaries", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    local a, b = ds.socketpair("seqpacket")
    keep(a); keep(b)
    b:settimeout(H.WAIT)
    assert.equal(1, a:send("a"))
    assert.equal(2, a:send("bc"))
    assert.equal("a", b:recv())
    assert.equal("bc", b:recv())
    H.raises("stream socket expected, got seqpacket socket", function() b:receive() end)
  end)

  it("make socketpairs of each type", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    for _, kind in ipairs({ "stream", "dgram", "seqpacket" }) do
      local a, b = ds.socketpair(kind)
      assert.truthy(a, kind)
      keep(a); keep(b)
      b:settimeout(H.WAIT)
      assert.equal("unix", a:getfamily())
      assert.matches("^unix{" .. kind .. ", fd %d+}$", tostring(b))
      a:send("pair")
      assert.equal("pair", b:recv())
    end
    local x, y = ds.socketpair()
    assert.equal("unix{stream, fd " .. x:getfd() .. "}", tostring(keep(x)))
    keep(y)
  end)

  it("use abstract names inside a network namespace, the sender seen as @...", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    local ok, why = N.available("-n")
    if not ok then return pending(why) end
    local r, out = N.run("-n", "", [[
      local ds = require "dualstack"
      local name = "@ds-" .. ds.getpid() .. "-x"
      local d = assert(ds.unix({ type = "dgram" }))
      d:settimeout(2)
      assert(d:bind(name))
      report("name", d:getsockname())
      report("tostring", tostring(d))
      local again = assert(ds.unix({ type = "dgram" }))
      report("again", select(3, again:bind(name)))
      local e = assert(ds.unix({ type = "dgram" }))
      assert(e:bind("@ds-sender"))
      e:sendto("abstract", name)
      local data, from = d:recvfrom()
      report("data", data)
      report("from", from)
    ]])
    assert.equal("abstract", r.data, out)
    assert.equal("@ds-sender", r.from, out)
    assert.equal("EADDRINUSE", r.again, out)
    assert.matches("^@ds%-%d+%-x$", r.name, out)
    assert.matches("^unix{dgram, fd %d+, @ds%-%d+%-x}$", r.tostring, out)
  end)
end)

describe("ds.unix credentials", function()
  it("hear logger through a dgram socket with passcred: its pid, an unnamed sender", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    local path = dir .. "/log"
    local d = unix("dgram")
    assert.equal(1, d:bind(path))
    assert.equal(1, d:setoption("passcred", true))
    assert.is_true(d:getoption("passcred"))
    local p = assert(io.popen("sh -c 'echo $$; exec logger -u " .. path .. " -t ds-test \"hello there\"'"))
    local pid = tonumber(p:read("l"))
    p:close()
    local m = H.ok(d:recvmsg())
    assert.matches("^<13>.- ds%-test: hello there$", m.data)
    assert.equal("", m.addr)
    assert.is_nil(m.port)
    assert.equal(pid, m.cred.pid)
    assert.equal(#m.data, m.size)
    assert.is_false(m.truncated)
  end)

  it("give peercred of a child process, and of the parent to it", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    local path = dir .. "/cred.sock"
    local srv = server("cred.sock")
    local N2 = require "namespace"
    local child = dir .. "/child.lua"
    local f = assert(io.open(child, "w"))
    f:write(([[
      package.path = "lua/?.lua;" .. package.path
      package.cpath = "build/?.so;" .. package.cpath
      local ds = require "dualstack"
      local c = assert(ds.unix())
      c:settimeout(2)
      assert(c:connect(%q))
      io.stdout:write(ds.getpid(), " ", c:getoption("peercred").pid, "\n")
      io.stdout:flush()
      c:receive()
    ]]):format(path))
    f:close()
    local p = assert(io.popen("lua5.4 " .. N2.shell_quote(child)))
    local a = keep(H.ok(srv:accept()))
    local child_pid, parent_seen = p:read("n", "n")
    local cred = a:getoption("peercred")
    a:close()
    p:close()
    assert.equal(child_pid, cred.pid)
    assert.equal(ds.getpid(), parent_seen)
    assert.is_number(cred.uid)
    assert.is_number(cred.gid)
    H.raises("option 'peercred' is read only", function() srv:setoption("peercred", 1) end)
  end)

  it("end a stream or seqpacket connection in recvmsg as recv does: nil, \"closed\", \"EOF\"", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    for _, kind in ipairs({ "stream", "seqpacket" }) do
      local a, b = ds.socketpair(kind)
      keep(a); keep(b)
      b:settimeout(H.WAIT)
      assert.equal(4, a:send("last"))
      local kept = { data = "kept" }
      assert.equal("last", H.ok(b:recvmsg(nil, kept)).data, kind)
      a:close()
      kept.data = "untouched"
      assert.same({ nil, "closed", "EOF" }, { b:recvmsg(nil, kept) }, kind)
      assert.equal("untouched", kept.data, kind)
      assert.same({ nil, "closed", "EOF" }, { b:recv() }, kind)
    end
    -- an empty datagram, and an empty record carrying a descriptor, are messages
    local d, e = ds.socketpair("dgram")
    keep(d); keep(e)
    e:settimeout(H.WAIT)
    assert.equal(0, d:send(""))
    assert.same({ data = "", addr = "", size = 0, truncated = false, ctruncated = false }, H.ok(e:recvmsg()))
    local p, q = ds.socketpair("seqpacket")
    keep(p); keep(q)
    q:settimeout(H.WAIT)
    assert.equal(0, p:sendmsg({ data = "", fds = { d } }))
    local m = H.ok(q:recvmsg())
    assert.equal("", m.data)
    assert.matches("^unix{dgram, fd %d+}$", tostring(keep(m.fds[1])))
  end)

  it("send and receive message tables with paths", function()
    local why = H.needs_unix("local sockets", true); if why then return pending(why) end
    local d = unix("dgram")
    assert.equal(1, d:bind(dir .. "/m.sock"))
    local e = unix("dgram")
    assert.equal(1, e:bind(dir .. "/n.sock"))
    assert.equal(3, e:sendmsg({ data = "abc", addr = dir .. "/m.sock" }))
    local m = H.ok(d:recvmsg(2))
    assert.same({ data = "ab", addr = dir .. "/n.sock", size = 3, truncated = true, ctruncated = false }, m)
    m.dst, m.port = "stale", 9
    assert.equal(1, d:sendmsg({ data = "z", addr = dir .. "/n.sock" }))
    assert.equal(m, e:recvmsg(nil, m))
    assert.same({ data = "z", addr = dir .. "/m.sock", size = 1, truncated = false, ctruncated = false }, m)
    H.raises("bad field 'addr' in message (path too long (at most 107 bytes))",
             function() e:sendmsg({ data = "x", addr = ("x"):rep(108) }) end)
    -- a field read that closes the socket: a clean failure, not a raise
    local closing = setmetatable({}, { __index = function(_, k)
      if k == "data" then e:close() return "x" end
    end })
    assert.same({ nil, "bad file descriptor", "EBADF" }, { e:sendmsg(closing) })
    local opts = setmetatable({}, { __index = function() d:close() return true end })
    assert.same({ nil, "bad file descriptor", "EBADF" }, { d:bind(dir .. "/late.sock", opts) })
  end)
end)
