-- Inherited descriptors (issue 16, E1 and E3): core.fromfd adopts a raw
-- descriptor, reading its type, family and v6only; dualstack.inherit's
-- listen_fds takes systemd's sockets; inetd's stdin is fromfd(0). Real
-- traffic through every adopted socket, on 127.0.0.1 and ::1 only.
local H = require "helpers"
local ds = H.ds
local th = require "spec.testhelp"
local inherit = require "dualstack.inherit"

local cleanup = require "cleanup"
local keep = cleanup.keep
after_each(cleanup.close_all)

-- A raw descriptor of family ("inet", "inet6", "dual") and kind, made
-- behind dualstack's back.
local function raw(family, kind)
  local af = family == "inet" and "inet" or "inet6"
  local v6only
  if family ~= "inet" then v6only = family == "inet6" end
  return assert(th.socket(af, kind, v6only))
end

local function adopt(fd, kind)
  local s = H.ok(ds.fromfd(fd, kind))
  s:settimeout(H.WAIT)
  return keep(s)
end

-- Where each family's socket listens, and the address its client uses.
local HOST = { inet = "127.0.0.1", inet6 = "::1", dual = "::" }
local CLIENT = { inet = { "inet", "127.0.0.1" }, inet6 = { "inet6", "::1" }, dual = { "inet", "127.0.0.1" } }

describe("fromfd", function()
  for _, family in ipairs({ "inet", "inet6", "dual" }) do
    it("adopts a tcp " .. family .. " descriptor that then serves a client", function()
      local fd = raw(family, "tcp")
      local l = adopt(fd, "tcp")
      assert.equal(family, l:getfamily())
      assert.equal(fd, l:getfd())
      assert.matches("^tcp{" .. family .. ", fd " .. fd, tostring(l))
      H.ok(l:bind(HOST[family], 0))
      H.ok(l:listen())
      local _, port = l:getsockname()
      local c = keep(H.socket("tcp", CLIENT[family][1]))
      H.ok(c:connect(CLIENT[family][2], port))
      local a = keep(H.ok(l:accept()))
      a:settimeout(H.WAIT)
      assert.equal(family, a:getfamily())
      assert.equal(6, c:send("hello\n"))
      assert.equal("hello", a:receive())
      local peer = a:getpeername()
      assert.equal(family == "dual" and "::ffff:127.0.0.1" or CLIENT[family][2], peer)
    end)

    it("adopts a udp " .. family .. " descriptor that then receives and answers", function()
      local fd = raw(family, "udp")
      local u = adopt(fd) -- the kind is optional
      assert.equal(family, u:getfamily())
      assert.matches("^udp{" .. family, tostring(u))
      H.ok(u:bind(HOST[family], 0))
      local _, port = u:getsockname()
      local c, cport = H.udp_bound(CLIENT[family][1], CLIENT[family][2])
      keep(c)
      assert.equal(4, c:sendto("ping", CLIENT[family][2], port))
      -- on dual an IPv4 datagram arrives: the IPv4 arrival marker is on, as on
      -- a socket dualstack made (without it the datagram would be dropped as spoofed)
      local data, addr, p = u:receivefrom()
      assert.equal("ping", data)
      assert.equal(family == "dual" and "::ffff:127.0.0.1" or CLIENT[family][2], addr)
      assert.equal(cport, p)
      assert.equal(4, u:sendto("pong", addr, p))
      assert.equal("pong", (c:receivefrom()))
      assert.equal(0, u:spoofed())
    end)
  end

  it("keeps v6only free on an unbound descriptor and frozen on a bound one", function()
    local u = adopt(raw("dual", "udp"))
    assert.equal(1, u:setoption("v6only", true))
    assert.equal("inet6", u:getfamily())
    local s = H.socket("tcp", "dual")
    H.ok(s:bind("::", 0))
    H.ok(s:listen())
    local _, port = s:getsockname()
    local why = H.needs_posix("dup of a descriptor")
    if why then s:close(); return pending(why) end
    local fd = assert(th.dup(s:getfd()))
    s:close()
    local l = adopt(fd, "tcp")
    H.raises("option 'v6only' must be set before bind, connect or listen", function()
      l:setoption("v6only", true)
    end)
    -- still listening: the port the old socket bound serves a client
    local c = keep(H.socket("tcp", "inet6"))
    H.ok(c:connect("::1", port))
    assert.is_truthy(l:accept())
  end)

  it("reads the receive options already on (pktinfo)", function()
    local fd = raw("inet6", "udp")
    assert(th.setint(fd, th.IPPROTO_IPV6, th.IPV6_RECVPKTINFO, 1))
    local u = adopt(fd, "udp")
    assert.is_true(u:getoption("pktinfo"))
    H.ok(u:bind("::1", 0))
    local _, port = u:getsockname()
    local c = keep(H.socket("udp", "inet6"))
    assert.equal(1, c:sendto("x", "::1", port))
    local data, _, _, dst, ifindex = u:recvfrom()
    assert.equal("x", data)
    assert.equal("::1", dst)
    assert.equal(H.LO, ifindex)
  end)

  it("turns on both halves of a receive option on in one (dual): IPv4 datagrams still pass", function()
    -- IPv6 packet info on, IPv4's off: had recvopts believed the IPv4 half on,
    -- the IPv4 arrival marker would go off with the next option turned off,
    -- and every IPv4 datagram after it would be dropped as spoofed
    local fd = raw("dual", "udp")
    assert(th.setint(fd, th.IPPROTO_IPV6, th.IPV6_RECVPKTINFO, 1))
    local u = adopt(fd, "udp")
    H.ok(u:bind("::", 0))
    local _, port = u:getsockname()
    local c = keep(H.socket("udp", "inet"))
    local function check(label)
      assert.equal(#label, c:sendto(label, "127.0.0.1", port))
      local data, addr, _, dst = u:recvfrom()
      assert.same({ label, "::ffff:127.0.0.1", "::ffff:127.0.0.1" }, { data, addr, dst }, label)
    end
    check("adopted")
    H.ok(u:setoption("recvhoplimit", true))
    check("hoplimit on")
    H.ok(u:setoption("recvhoplimit", false))
    check("hoplimit off")
    assert.equal(0, u:spoofed())
  end)

  it("an inet6 socket turning dual turns on the IPv4 half of its receive options", function()
    local u = keep(H.socket("udp", "inet6"))
    H.ok(u:setoption("pktinfo", true))
    H.ok(u:setoption("v6only", false))
    H.ok(u:bind("::", 0))
    local _, port = u:getsockname()
    u:settimeout(H.WAIT)
    local c = keep(H.socket("udp", "inet"))
    for _, label in ipairs({ "dual", "hoplimit on", "hoplimit off" }) do
      if label == "hoplimit on" then H.ok(u:setoption("recvhoplimit", true)) end
      if label == "hoplimit off" then H.ok(u:setoption("recvhoplimit", false)) end
      assert.equal(#label, c:sendto(label, "127.0.0.1", port))
      local data, addr, _, dst = u:recvfrom()
      assert.same({ label, "::ffff:127.0.0.1", "::ffff:127.0.0.1" }, { data, addr, dst }, label)
    end
    assert.equal(0, u:spoofed())
  end)

  it("owns the descriptor: close closes it; it is close-on-exec", function()
    local fd = raw("inet", "tcp")
    local s = H.ok(ds.fromfd(fd, "tcp"))
    assert.is_true(th.cloexec(fd))
    assert.is_true(th.isopen(fd))
    s:close()
    assert.is_false(th.isopen(fd))
  end)

  it("detach gives the descriptor up open; fromfd adopts it into a working socket", function()
    local l = adopt(raw("inet", "tcp"), "tcp")
    H.ok(l:bind("127.0.0.1", 0))
    H.ok(l:listen())
    local _, port = l:getsockname()
    local fd = l:detach()
    assert.equal("integer", math.type(fd))
    assert.is_true(th.isopen(fd))
    assert.equal(-1, l:getfd())
    assert.equal("tcp{closed}", tostring(l))
    assert.has_error(function() l:accept() end, "attempt to use a closed socket")
    assert.has_error(function() l:detach() end, "attempt to use a closed socket")
    local again = adopt(fd, "tcp")
    assert.equal(fd, again:getfd())
    local c = keep(H.socket("tcp", "inet"))
    H.ok(c:connect("127.0.0.1", port))
    local a = keep(H.ok(again:accept()))
    a:settimeout(H.WAIT)
    assert.equal(3, c:send("hi\n"))
    assert.equal("hi", a:receive())
    l:close() -- closing the detached socket leaves the descriptor alone
    assert.is_true(th.isopen(fd))
  end)

  it("refuses a descriptor of the other kind, leaving it open", function()
    local u = raw("inet", "udp")
    assert.same({ nil, "descriptor " .. u .. " is a udp socket, tcp expected", "EPROTOTYPE" },
      { ds.fromfd(u, "tcp") })
    local t = raw("inet6", "tcp")
    assert.same({ nil, "descriptor " .. t .. " is a tcp socket, udp expected", "EPROTOTYPE" },
      { ds.fromfd(t, "udp") })
    collectgarbage()
    assert.is_true(th.isopen(u))
    assert.is_true(th.isopen(t))
    keep(adopt(u, "udp"))
    keep(adopt(t, "tcp"))
  end)

  it("refuses no socket, and a socket of the other kind; adopts a unix socket", function()
    local why = H.needs_posix("unix sockets and pipes"); if why then return pending(why) end
    local ux = assert(th.socket("unix", "tcp"))
    assert.same({ nil, "descriptor " .. ux .. " is a unix socket, tcp expected", "EPROTOTYPE" },
      { ds.fromfd(ux, "tcp") })
    assert.is_true(th.isopen(ux))
    local u = keep(H.ok(ds.fromfd(ux, "unix")))
    assert.equal("unix", u:getfamily())
    assert.equal("unix{stream, fd " .. ux .. "}", tostring(u))
    local ip = raw("inet", "udp")
    assert.same({ nil, "descriptor " .. ip .. " is not a unix socket", "EAFNOSUPPORT" },
      { ds.fromfd(ip, "unix") })
    th.closefd(ip)
    local r, w = assert(th.pipe())
    assert.same({ nil, "descriptor " .. r .. " is not a socket", "ENOTSOCK" }, { ds.fromfd(r, "tcp") })
    th.closefd(r)
    th.closefd(w)
    assert.same({ nil, "bad file descriptor", "EBADF" }, { ds.fromfd(r) })
  end)

  it("adopts an ICMP socket as icmp, refusing it as udp and a udp one as icmp", function()
    local why = H.needs_posix("SO_PROTOCOL"); if why then return pending(why) end
    local s, err, code = ds.icmp { family = "inet" } -- made, never sent on
    if not s then return pending("no ICMP socket here: " .. tostring(err) .. " " .. tostring(code)) end
    local kind = s:gettype()
    local fd = s:detach()
    finally(function() th.closefd(fd) end)
    assert.same({ nil, "descriptor " .. fd .. " is an icmp socket, udp expected", "EPROTOTYPE" },
      { ds.fromfd(fd, "udp") })
    assert.same({ nil, "descriptor " .. fd .. " is an icmp socket, tcp expected", "EPROTOTYPE" },
      { ds.fromfd(fd, "tcp") })
    local i = H.ok(ds.fromfd(fd, "icmp"))
    assert.equal("icmp{inet, " .. kind .. ", fd " .. fd .. "}", (tostring(i):gsub(", 0%.0%.0%.0:%d+}$", "}")))
    assert.equal(kind, i:gettype())
    assert.equal(fd, i:detach())
    local again = H.ok(ds.fromfd(fd))
    assert.matches("^icmp{inet, " .. kind .. ", fd %d+", tostring(again))
    assert.equal(fd, again:detach())
    local u = raw("inet", "udp")
    assert.same({ nil, "descriptor " .. u .. " is a udp socket, icmp expected", "EPROTOTYPE" },
      { ds.fromfd(u, "icmp") })
    th.closefd(u)
  end)

  it("checks its arguments", function()
    H.raises("descriptor out of range", function() ds.fromfd(-1) end)
    H.raises("descriptor out of range", function() ds.fromfd(math.maxinteger) end)
    H.raises("number has no integer representation", function() ds.fromfd(1.5) end)
    H.raises("invalid option 'sctp'", function() ds.fromfd(0, "sctp") end)
  end)
end)

-- ---- systemd socket activation and inetd, with a child lua5.4 ----

local ROOT = not H.WINDOWS and H.repo_root()

-- Writes a child script that finds the in-tree module; returns its path.
local function script(body)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(("package.path = %q .. package.path\npackage.cpath = %q .. package.cpath\n"):format(
    ROOT .. "/lua/?.lua;", ROOT .. "/build/?.so;"))
  f:write(body)
  f:close()
  return path
end

-- A port free on both 127.0.0.1 and ::1 right now.
local function free_port()
  local s = H.socket("tcp", "dual")
  H.ok(s:bind("::", 0))
  local _, port = s:getsockname()
  s:close()
  return port
end

-- Connects to host:port until the activator listens (it starts in the
-- background), within H.WAIT.
local function connect_soon(host, port)
  local deadline = ds.monotime() + H.WAIT
  repeat
    local c = H.socket("tcp", host:find(":") and "inet6" or "inet")
    if c:connect(host, port) then return keep(c) end
    c:close()
    ds.poll({}, {}, 0.02)
  until ds.monotime() > deadline
  error("nothing listens on " .. host .. " port " .. port)
end

-- Runs systemd-socket-activate with args and a child lua5.4 running body;
-- returns the pipe of its output and a function that stops it (an
-- activator in accept mode runs on after its children).
-- Why the systemd cases cannot run here (no POSIX shell, or no
-- systemd-socket-activate, as in a bare Debian chroot), or nil.
local function needs_activator()
  local why = H.needs_posix("systemd-socket-activate and a child lua5.4")
  if why then return why end
  if not os.execute("command -v systemd-socket-activate >/dev/null 2>&1") then
    return "needs systemd-socket-activate (Debian's systemd), which this system lacks"
  end
  return nil
end

local function activate(args, body)
  local path = script(body)
  local p = assert(io.popen(("exec 2>/dev/null; sh -c 'echo $$; exec timeout 10 systemd-socket-activate %s lua5.4 %s 2>&1'; rm -f %s"):format(
    args, path, path)))
  local pid = assert(math.tointeger(tonumber(p:read("l"))))
  return p, function() os.execute("kill " .. pid .. " 2>/dev/null") end
end

describe("inherited descriptors", function()
  it("listen_fds takes systemd's listeners with their names", function()
    local why = needs_activator(); if why then return pending(why) end
    local port = free_port()
    local p = activate(("-l 127.0.0.1:%d -l '[::1]:%d' --fdname=web:admin"):format(port, port), [[
local ds = require "dualstack"
local t = require("dualstack.inherit").listen_fds()
print(#t, t.names[1], t.names[2], t.web == t[1], t.admin == t[2])
for i, l in ipairs(t) do
  local c = assert(l:accept())
  assert(c:send(t.names[i] .. " " .. l:getfamily() .. " " .. c:getpeername() .. "\n"))
  c:close()
end
]])
    local a = connect_soon("127.0.0.1", port)
    assert.equal("web inet 127.0.0.1", a:receive())
    local b = connect_soon("::1", port)
    assert.equal("admin inet6 ::1", b:receive())
    local out = p:read("a")
    p:close()
    assert.matches("2\tweb\tadmin\ttrue\ttrue\n", out, 1, true)
  end)

  it("listen_fds with --datagram adopts a UDP socket that answers the first datagram", function()
    local why = needs_activator(); if why then return pending(why) end
    local port = free_port()
    local p = activate(("--datagram -l '[::1]:%d' --fdname=dns"):format(port), [[
local t = require("dualstack.inherit").listen_fds()
local u = t.dns
local data, addr, port = u:receivefrom()
assert(u:sendto(u:getfamily() .. " got " .. data, addr, port))
print("served", #t)
]])
    local c = keep(H.socket("udp", "inet6"))
    H.ok(c:bind("::1", 0))
    c:settimeout(0.1) -- the activator listens soon after it starts: asked again until then
    local got
    for _ = 1, H.WAIT / 0.1 do
      assert.equal(5, c:sendto("query", "::1", port))
      got = { c:receivefrom() }
      if got[1] then break end
    end
    assert.same({ "inet6 got query", "::1", port }, got)
    local out = p:read("a")
    p:close()
    assert.matches("served\t1\n", out, 1, true)
  end)

  it("an inetd-style service adopts its stdin with fromfd(0)", function()
    local why = needs_activator(); if why then return pending(why) end
    local port = free_port()
    local p, stop = activate(("--inetd --accept -l 127.0.0.1:%d"):format(port), [[
local ds = require "dualstack"
local s = assert(ds.fromfd(0, "tcp"))
local line = assert(s:receive())
assert(s:send("echo " .. line .. " " .. s:getfamily() .. "\n"))
s:close()
]])
    local c = connect_soon("127.0.0.1", port)
    assert.equal(6, c:send("hello\n"))
    local line = c:receive()
    stop()
    p:read("a")
    p:close()
    assert.equal("echo hello inet", line)
  end)

  it("listen_fds is empty when LISTEN_PID is another process's", function()
    local why = H.needs_posix("a child lua5.4 with its own environment"); if why then return pending(why) end
    local path = script([[
local t = require("dualstack.inherit").listen_fds()
print(#t, next(t.names))
]])
    local p = assert(io.popen(("LISTEN_PID=1 LISTEN_FDS=1 lua5.4 %s 3</dev/null; rm -f %s"):format(path, path)))
    local out = p:read("a")
    p:close()
    assert.equal("0\tnil\n", out)
  end)

  it("listen_fds leaves a descriptor it cannot adopt open, with the reason", function()
    local why = H.needs_posix("a child lua5.4 with inherited descriptors"); if why then return pending(why) end
    -- a shell whose exec keeps its pid: LISTEN_PID=$$ names lua5.4 itself
    local lua = ("package.path=[[%s/lua/?.lua;]]..package.path package.cpath=[[%s/build/?.so;]]..package.cpath " ..
      "local t=require([[dualstack.inherit]]).listen_fds() print(#t, t[1], t.names[1], t.pipe, t.errors[1])"):format(ROOT, ROOT)
    local p = assert(io.popen(("sh -c 'exec env LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=pipe lua5.4 -e \"%s\" 3</dev/null'"):format(lua)))
    local out = p:read("a")
    p:close()
    assert.equal("1\tfalse\tpipe\tnil\tdescriptor 3 is not a socket\n", out)
  end)

  it("listen_fds takes at most MAX_FDS descriptors, whatever LISTEN_FDS claims", function()
    local why = H.needs_posix("a child lua5.4 with its own environment"); if why then return pending(why) end
    -- a hostile environment: four billion descriptors would take hours to try
    local lua = ("package.path=[[%s/lua/?.lua;]]..package.path package.cpath=[[%s/build/?.so;]]..package.cpath " ..
      "local t=require([[dualstack.inherit]]).listen_fds() print(#t, t[1025], t.errors[1], t.errors[1024])"):format(ROOT, ROOT)
    local p = assert(io.popen(("timeout 20 sh -c 'exec env LISTEN_PID=$$ LISTEN_FDS=4000000000 lua5.4 -e \"%s\" 3</dev/null'"):format(lua)))
    local out = p:read("a")
    p:close()
    assert.equal("1024\tnil\tdescriptor 3 is not a socket\tbad file descriptor\n", out)
    assert.equal(1024, inherit.MAX_FDS)
  end)
end)
