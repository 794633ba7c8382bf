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
