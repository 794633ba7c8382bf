-- Review of issue 17's local-socket and ICMP code (second fresh-eyes
-- review): defects found, each case failing on the code before its fix.
local H = require "helpers"
local cleanup = require "cleanup"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

local dir

before_each(function()
  dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. dir))
end)

after_each(function() os.execute("rm -rf " .. dir) end)

describe("review2: local connect to a full backlog", function()
  -- Linux answers EAGAIN and poll calls the unconnected socket writable at
  -- once: the connect spun on the CPU for its whole timeout.
  it("waits out its timeout without spinning", function()
    local why = H.needs_unix("a full backlog", true); if why then return pending(why) end
    local path = dir .. "/full.sock"
    local srv = keep(H.ok(ds.unix()))
    assert.equal(1, srv:bind(path))
    assert.equal(1, srv:listen(1))
    local full
    for _ = 1, 16 do
      local c = keep(H.ok(ds.unix()))
      c:settimeout(0)
      local ok, _, code = c:connect(path)
      if not ok then
        assert.equal("ETIMEDOUT", code)
        full = true
        break
      end
    end
    assert.is_true(full, "the backlog filled")
    local c = keep(H.ok(ds.unix()))
    c:settimeout(0.4)
    local elapsed, cpu, ok, msg, code = H.timed(function() return c:connect(path) end)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { ok, msg, code })
    assert.is_true(elapsed >= 0.39 and elapsed < 1.5 and cpu < 0.15,
                   ("%.3f s, %.3f s CPU"):format(elapsed, cpu))
  end)
end)

describe("review2: a UDP socket received over a local socket", function()
  -- push_received is fromfd's twin and lacked fromfd's recverr adoption:
  -- the kernel's IP_RECVERR stayed on with no FIFO, so an ICMP error
  -- failed the next receive (and POLLERR spun its waits).
  it("keeps recverr: an ICMP error is queued, never a receive's failure", function()
    local why = H.needs_errqueue() or H.needs_unix("descriptor passing", true)
    if why then return pending(why) end
    local a, b = ds.socketpair("dgram")
    keep(a); keep(b)
    b:settimeout(H.WAIT)
    local u = keep(H.udp_bound("inet", "127.0.0.1"))
    H.ok(u:setoption("recverr", true))
    assert.equal(1, a:sendmsg({ data = "u", fds = { u } }))
    local t = keep(H.ok(b:recvmsg()).fds[1])
    u:close()
    assert.is_true(t:getoption("recverr"))
    local port = H.closed_port("inet", "127.0.0.2")
    assert.equal(3, H.ok(t:sendto("abc", "127.0.0.2", port)))
    assert.equal(t, ds.select({ t }, nil, 1)[1], "the ICMP error made the socket readable")
    t:settimeout(0.3)
    local elapsed, cpu, d, msg, code = H.timed(function() return t:recvfrom() end)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { d, msg, code })
    assert.is_true(elapsed >= 0.25 and elapsed < 1 and cpu < 0.1, ("%.3f s, %.3f s CPU"):format(elapsed, cpu))
    assert.equal(port, t:recverr().port)
  end)
end)

describe("review2: raw ICMPv4 receive sizes", function()
  local function raw4()
    if H.WINDOWS then return nil, "raw ICMP on Windows needs an administrator" end
    local s, msg = ds.icmp { family = "inet", raw = true }
    if not s then return nil, "raw ICMP sockets need CAP_NET_RAW here: " .. msg end
    keep(s)
    s:settimeout(2)
    return s
  end
  local ID = 0x4f00 + (ds.getpid() % 256)
  local function ours(data, seq)
    return data:sub(1, 1) == "\0" and data:byte(5) * 256 + data:byte(6) == ID
      and data:byte(7) * 256 + data:byte(8) == seq
  end

  -- size counts the ICMP message's bytes, as on a datagram ICMP socket:
  -- a size below the IPv4 header's 20 bytes dropped every reply.
  it("recvfrom(8) gives the 8-byte echo header", function()
    local s, why = raw4()
    if not s then return pending(why) end
    H.ok(s:sendto(ds.icmp_echo { family = "inet", id = ID, seq = 1, data = "size8" }, "127.0.0.1"))
    local d
    repeat d = H.ok(s:recvfrom(8)) until ours(d, 1)
    assert.equal(8, #d)
  end)

  it("recvmsg(30) gives 30 bytes, the real size and truncated", function()
    local s, why = raw4()
    if not s then return pending(why) end
    local data = string.rep("z", 100)
    local echo = ds.icmp_echo { family = "inet", id = ID, seq = 2, data = data }
    H.ok(s:sendto(echo, "127.0.0.1"))
    local m
    repeat m = H.ok(s:recvmsg(30)) until #m.data >= 8 and ours(m.data, 2)
    assert.same({ 30, 108, true }, { #m.data, m.size, m.truncated })
    assert.equal(echo:sub(5, 30), m.data:sub(5, 30))
  end)

  it("recvmmsg(1, 16) gives 16 bytes of each reply", function()
    local s, why = raw4()
    if not s then return pending(why) end
    H.ok(s:sendto(ds.icmp_echo { family = "inet", id = ID, seq = 3, data = "sixteen-bytes+" }, "127.0.0.1"))
    local m
    repeat m = H.ok(s:recvmmsg(1, 16))[1] until #m.data >= 8 and ours(m.data, 3)
    assert.same({ 16, 22, true }, { #m.data, m.size, m.truncated })
  end)
end)

-- Runs fn while the collector calls a long queue of finalizers, each of
-- which runs action (anchor_spec.lua's during_finalizer_queue): with a
-- step at every allocation, fn's own calls run a few at each.
local function during_finalizer_queue(count, action, fn)
  local armed, started = false, false
  local mt = { __gc = function()
    if not armed then return end
    started = true
    action()
  end }
  local restore = H.gc_incremental(1, 100, 1, 8)
  local held = {}
  for i = 1, count do held[i] = setmetatable({}, mt) end
  collectgarbage()
  held = nil -- luacheck: ignore (dropped for the collector)
  armed = true
  local spins = 0
  while not started and spins < 10000000 do
    local _ = { spins }
    spins = spins + 1
  end
  local results = table.pack(pcall(fn))
  armed = false
  restore()
  collectgarbage()
  assert(started, "the collector called no finalizer")
  assert(results[1], results[2])
  return table.unpack(results, 2, results.n)
end

describe("review2: a local recvmsg filling a table", function()
  -- Rule 2, strings first, then raw stores: the fill pushed key strings
  -- (a collection step each) and made the fds table and its objects
  -- between stores, so a finalizer receiving into the same table left it
  -- with one message's data and another's descriptors.
  it("holds one message's fields when a finalizer receives into the same table", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local th = require "spec.testhelp"
    local a1, a2 = ds.socketpair("dgram")
    local b1, b2 = ds.socketpair("dgram")
    for _, s in ipairs { a1, a2, b1, b2 } do keep(s):settimeout(H.WAIT) end
    local r, w = assert(th.pipe())
    assert.equal(5, a1:sendmsg({ data = "for-a", fds = { r } }))
    th.closefd(r)
    th.closefd(w)
    assert.equal(5, b1:sendmsg({ data = "for-b" }))
    local msg, inner, outer = {}, nil, false
    local got = during_finalizer_queue(20000, function()
      if outer and not inner and rawget(msg, "data") == "for-a" then
        inner = table.pack(b2:recvmsg(nil, msg))
      end
    end, function()
      outer = true
      local m = H.ok(a2:recvmsg(nil, msg))
      outer = false
      return m
    end)
    assert.equal(msg, got)
    if inner then assert.same({ n = 1, msg }, inner) end
    local fds = msg.fds and #msg.fds
    assert.same(msg.data == "for-a" and { "for-a", 5, 1 } or { "for-b", 5, nil }, { msg.data, msg.size, fds })
    if msg.fds then msg.fds[1]:close() end
  end)
end)
