-- Security review, issue 11: socket ownership under memory errors, one
-- deadline per stream call, a bound on lines ("maxline"), read-ahead that a
-- finalizer uses in the middle of a receive, empty datagrams from send,
-- settimeout's modes and listen's backlog. Real loopback traffic throughout.
local H = require "helpers"
local N = require "namespace"
local C = require "cleanup"
local T = require "spec.testhelp"
local ds = H.ds

after_each(C.close_all)

local keep = C.keep

-- Every descriptor this process holds, after collecting what is garbage.
local function open_fds()
  collectgarbage()
  collectgarbage()
  return H.open_fds()
end

-- pcall(f, ...) with only n allocations allowed. Call records and stack
-- for the call are made first (a collection just before may have freed
-- them), so the memory error is raised inside f, not around pcall.
local function failing(n, f, ...)
  pcall(pcall, type, 1)
  T.failalloc(n)
  local ok, err = pcall(f, ...)
  T.failalloc(nil)
  return ok, err
end

-- A connected TCP pair on 127.0.0.1, all three kept for cleanup.
local function pair()
  local c, a, l = H.tcp_pair("dual", "127.0.0.1", "inet", "127.0.0.1")
  keep(c)
  keep(a)
  keep(l)
  return c, a
end

-- ---- 1. the userdata owns the descriptor from the start ---------------------------

describe("trust: ownership under memory errors", function()
  for _, kind in ipairs({ "udp", "tcp" }) do
    it("ds." .. kind .. " leaks no descriptor when the userdata cannot be made", function()
      local make, opts = ds[kind], { family = "inet" }
      local before = open_fds()
      local failed = 0
      for n = 0, 5 do
        local ok, s = failing(n, make, opts)
        if ok then
          assert(s, "ds." .. kind .. " failed with n = " .. n)
          s:close()
        else
          assert.equal("not enough memory", s)
          failed = failed + 1
        end
      end
      assert.is_true(failed > 0, "no allocation failed: the spec tests nothing")
      assert.equal(before, open_fds())
    end)
  end

  it("accept leaves the pending client queued when the userdata cannot be made", function()
    local l, port = H.listener("inet", "127.0.0.1")
    keep(l)
    l:settimeout(0.5)
    local c = keep(H.socket("tcp", "inet"))
    H.ok(c:connect("127.0.0.1", port))
    local accept = l.accept
    local before = open_fds()
    local ok, err = failing(0, accept, l)
    assert.is_false(ok)
    assert.equal("not enough memory", err)
    assert.equal(before, open_fds())
    local a = keep(H.ok(l:accept()))
    a:settimeout(H.WAIT)
    H.ok(c:send("x"))
    assert.equal("x", a:receive(1))
  end)
end)

-- ---- 2. one deadline per call ---------------------------------------------------

-- A child that connects to 127.0.0.1:port and sends one byte every 0.1 s
-- for 3 s (it stops early once the connection is gone). Returns the pipe.
local function trickle(port)
  local root = io.popen("pwd"):read("l")
  local script = string.format([[
package.path = %q .. package.path
package.cpath = %q .. package.cpath
local ds = require "dualstack"
local c = assert(ds.tcp({ family = "inet" }))
c:settimeout(2)
assert(c:connect("127.0.0.1", %d))
local pause = assert(ds.udp({ family = "inet" }))
pause:settimeout(0.1)
for _ = 1, 30 do
  if not c:send("x") then break end
  pause:receive()
end
]], root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;", root .. "/build/?.so;", port)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(script)
  f:close()
  local p = assert(io.popen("timeout 10 lua5.4 " .. file .. "; rm -f " .. file))
  return p
end

describe("trust: one deadline per stream call", function()
  for _, pattern in ipairs({ 30, "*l", "*a" }) do
    it("receive(" .. tostring(pattern) .. ") times out although a byte comes every 0.1 s", function()
      local why = H.needs_posix("a child lua5.4 that trickles bytes"); if why then return pending(why) end
      local l, port = H.listener("inet", "127.0.0.1")
      keep(l)
      local child = trickle(port)
      local a = H.ok(l:accept())
      a:settimeout(0.5)
      local data, msg, partial, code = a:receive(pattern)
      a:close()
      l:close()
      child:close()
      assert.is_nil(data)
      assert.equal("timeout", msg)
      assert.equal("string", type(partial))
      assert.is_true(#partial < 30, "partial of " .. #partial .. " bytes: the deadline restarted")
      assert.equal("ETIMEDOUT", code)
    end)
  end
end)

-- ---- 3. maxline -------------------------------------------------------------------

describe("trust: maxline", function()
  it("is 0 (no limit) by default and reads back what was set", function()
    local c = keep(H.socket("tcp", "inet"))
    assert.equal(0, c:getoption("maxline"))
    assert.equal(1, c:setoption("maxline", 10))
    assert.equal(10, c:getoption("maxline"))
  end)

  it("stops a longer line: nil, 'line too long', the first maxline bytes, 'EMSGSIZE'", function()
    local c, a = pair()
    H.ok(a:setoption("maxline", 10))
    H.ok(c:send("0123456789abc\n"))
    local data, msg, partial, code = a:receive("*l")
    assert.is_nil(data)
    assert.equal("line too long", msg)
    assert.equal("0123456789", partial)
    assert.equal("EMSGSIZE", code)
    -- the rest of the line stays unread
    assert.equal("abc", a:receive("*l"))
  end)

  it("accepts a line of exactly maxline bytes (CRs are not counted)", function()
    local c, a = pair()
    H.ok(a:setoption("maxline", 10))
    H.ok(c:send("0123456789\n0123456789\r\nabcdefghij"))
    assert.equal("0123456789", a:receive("*l"))
    assert.equal("0123456789", a:receive("*l"))
    c:close()
    local data, msg, partial, code = a:receive("*l")
    assert.same({ nil, "closed", "abcdefghij", "EOF" }, { data, msg, partial, code })
  end)

  it("limit 0 means unlimited", function()
    local c, a = pair()
    H.ok(a:setoption("maxline", 10))
    H.ok(a:setoption("maxline", 0))
    local long = string.rep("y", 20000)
    H.ok(c:send(long .. "\n"))
    assert.equal(long, a:receive("*l"))
  end)

  it("counts line bytes, not the prefix", function()
    local c, a = pair()
    H.ok(a:setoption("maxline", 3))
    H.ok(c:send("abc\n"))
    assert.equal("prefix-abc", a:receive("*l", "prefix-"))
  end)

  local function setter(value)
    return function()
      local s = keep(H.socket("tcp", "inet"))
      return s.setoption(s, "maxline", value) -- not s:setoption: the message counts s
    end
  end
  for _, case in ipairs({
    { -1, "bad argument #3 to 'setoption' (maxline out of range)" },
    { 1.5, "bad argument #3 to 'setoption' (number has no integer representation)" },
    { "ten", "bad argument #3 to 'setoption' (number expected, got string)" },
  }) do
    it("setoption('maxline', " .. tostring(case[1]) .. ") raises naming argument 3", function()
      assert.has_error(setter(case[1]), case[2])
    end)
  end

  it("needs a tcp socket", function()
    local s = keep(H.socket("udp", "inet"))
    assert.has_error(function() return s.setoption(s, "maxline", 1) end,
      "bad argument #2 to 'setoption' (tcp socket expected for option 'maxline', got udp socket)")
  end)
end)

-- ---- 4. a finalizer that receives in the middle of a receive ------------------

-- Records "%06d\n", count of them: every byte tells where in the stream it was.
local function records(first, count)
  local t = {}
  for i = first, first + count - 1 do t[#t + 1] = string.format("%06d\n", i) end
  return table.concat(t)
end

-- Asserts that what the outer and the inner (finalizer's) receive got is
-- the expected stream: inner is one slice of it, outer all the rest, each
-- in order and no byte twice.
local function assert_split(expected, outer, inner)
  assert.equal(#expected, #outer + #inner, "bytes lost or doubled")
  local at = 1
  repeat
    local p = expected:find(inner, at, true)
    if p and expected:sub(1, p - 1) .. expected:sub(p + #inner) == outer then return end
    at = p and p + 1
  until not p
  error("the two receives do not add up to the stream")
end

-- Makes the collector run a whole cycle (finalizers included) on every
-- allocation check, and keeps one object with fin as __gc always pending:
-- the first allocation inside the next socket call runs fin there.
local function finalizer_trap(fin)
  local state = { armed = false, stopped = false }
  local mt = {}
  mt.__gc = function()
    if state.stopped then return end
    if state.armed then
      state.armed = false
      state.ran = true
      fin()
    end
    setmetatable({}, mt) -- the next cycle's victim
  end
  collectgarbage()
  setmetatable({}, mt)
  local restore = H.gc_incremental(1, 1000, 40, 2) -- a step is a whole cycle
  function state.arm()
    collectgarbage("step") -- a full cycle: the debt is now 0
    collectgarbage("step")
    state.armed = true
  end
  function state.release()
    state.stopped = true
    restore()
    collectgarbage()
  end
  return state
end

describe("trust: read-ahead used by a finalizer during a receive", function()
  -- The server side holds read-ahead: "first\n" then records, of which a
  -- receive("*l") left 8186 bytes buffered (well over a luaL_Buffer's
  -- first box, so the big receive must allocate).
  local function setup(count)
    local c, a = pair()
    local stream = records(1, count)
    H.ok(c:send("first\n" .. stream))
    c:close()
    assert.equal("first", a:receive("*l"))
    assert.is_true(a:dirty())
    return a, stream
  end

  local outer_cases = {
    { "receive('*a')", function(a) return a:receive("*a") end },
    { "recv(60000)", function(a) return a:recv(60000) end },
  }
  for _, case in ipairs(outer_cases) do
    it(case[1] .. " and a finalizer's receive('*l') split the stream", function()
      local a, stream = setup(3000)
      local inner
      local trap = finalizer_trap(function() inner = a:receive("*l") end)
      trap.arm()
      local ok, outer = pcall(case[2], a)
      trap.release()
      assert(ok, outer)
      assert.is_true(trap.ran, "the finalizer did not run inside the receive")
      assert.equal("string", type(inner))
      local rest = a:receive("*a") -- recv takes only the read-ahead
      assert_split(stream, outer .. rest, inner .. "\n")
    end)
  end

  -- Without read-ahead: the finalizer, run while receive("*a") reserves
  -- room, fills the read-ahead; those bytes come before the socket's.
  it("receive('*a') with no read-ahead and a finalizer's receive('*l') split the stream", function()
    local c, a = pair()
    local stream = records(1, 3000)
    H.ok(c:send(stream))
    c:close()
    assert.is_false(a:dirty())
    local inner
    local trap = finalizer_trap(function() inner = a:receive("*l") end)
    trap.arm()
    local ok, outer = pcall(a.receive, a, "*a")
    trap.release()
    assert(ok, outer)
    assert.is_true(trap.ran, "the finalizer did not run inside the receive")
    assert.equal("string", type(inner))
    assert_split(stream, outer, inner .. "\n")
  end)

  it("receive(n, prefix) and a finalizer's receive(n) split the stream", function()
    local c, a = pair()
    local stream = records(1, 300)
    H.ok(c:send(stream))
    c:close()
    assert.equal(stream:sub(1, 700), a:receive(700)) -- a scratch buffer of 700 bytes exists
    -- A long string: copying it allocates (a short one may be interned already).
    local prefix = ("prefix:"):rep(8)
    local inner
    local trap = finalizer_trap(function() inner = a:receive(70) end)
    trap.arm()
    local ok, outer = pcall(a.receive, a, 700, prefix)
    trap.release()
    assert(ok, outer)
    assert.is_true(trap.ran, "the finalizer did not run inside the receive")
    assert.equal("string", type(inner))
    assert.equal(prefix, outer:sub(1, #prefix))
    local rest = a:receive("*a")
    assert_split(stream:sub(701), outer:sub(#prefix + 1) .. rest, inner)
  end)
end)

-- ---- 5. send of an empty datagram --------------------------------------------

describe("trust: empty datagrams from send", function()
  for _, host in ipairs({ "127.0.0.1", "::1" }) do
    for _, case in ipairs({
      { 'send("")', function(s) return s:send("") end },
      { 'send("abc", 3, 2)', function(s) return s:send("abc", 3, 2) end },
      { 'send("abc", 10, 20)', function(s) return s:send("abc", 10, 20) end },
    }) do
      it(case[1] .. " on a connected udp socket sends an empty datagram to " .. host, function()
        local r, port = H.udp_bound("dual", host)
        keep(r)
        local s = keep(H.socket("udp", "dual"))
        H.ok(s:connect(host, port))
        assert.equal(0, case[2](s))
        H.ok(s:send("after"))
        local data, addr, rport = r:recvfrom()
        assert.equal("", data)
        assert.equal("string", type(addr))
        assert.equal(select(2, s:getsockname()), rport)
        assert.equal("after", r:recvfrom())
      end)
    end
  end

  it('send("") on a tcp socket still sends nothing and returns 0', function()
    local c, a = pair()
    assert.equal(0, c:send(""))
    H.ok(c:send("z"))
    assert.equal("z", a:receive(1))
  end)
end)

-- ---- 6. settimeout's modes -------------------------------------------------------

describe("trust: settimeout modes", function()
  for _, mode in ipairs({ "b", "t" }) do
    it("accepts '" .. mode .. "': the timeout bounds the whole call", function()
      local s = keep(H.socket("udp", "inet"))
      assert.equal(1, s:settimeout(0.25, mode))
      assert.equal(0.25, s:gettimeout())
      local wall, _, data, msg = H.timed(function() return s:receive() end)
      assert.is_nil(data)
      assert.equal("timeout", msg)
      assert.is_true(wall < 2)
    end)
  end

  for _, mode in ipairs({ "bogus", "tb", "B", "" }) do
    it("raises for mode '" .. mode .. "'", function()
      local s = keep(H.socket("udp", "inet"))
      assert.has_error(function() return s.settimeout(s, 1, mode) end,
        "bad argument #3 to 'settimeout' (invalid option '" .. mode .. "')")
    end)
  end
end)

-- ---- 7. listen's backlog --------------------------------------------------------

-- The Send-Q ss reports for the TCP listener on port (the backlog).
local function listen_queue(port)
  local p = assert(io.popen("ss -ltnH 'sport = :" .. port .. "' 2>/dev/null"))
  local line = p:read("a")
  p:close()
  return tonumber(line:match("^%S+%s+%d+%s+(%d+)")), line
end

describe("trust: listen backlog", function()
  it("listen(4096) keeps min(4096, net.core.somaxconn)", function()
    local s = keep(H.socket("tcp", "inet"))
    H.ok(s:bind("127.0.0.1", 0))
    H.ok(s:listen(4096))
    local _, port = s:getsockname()
    local queue, line = listen_queue(port)
    if not queue then return pending("ss did not report the listener: " .. line) end
    local somaxconn = assert(io.open("/proc/sys/net/core/somaxconn")):read("n")
    assert.equal(math.min(4096, somaxconn), queue)
  end)

  -- The header's SOMAXCONN (4096 on glibc, 128 on musl) is no limit of its
  -- own: in a namespace whose somaxconn is raised, a larger backlog holds.
  it("a backlog above the header's SOMAXCONN is capped by the kernel only", function()
    local ok, why = N.available("-n")
    if not ok then return pending(why) end
    local results, out = N.run("-n", "ip link set lo up && sysctl -qw net.core.somaxconn=8192", [[
local ds = require "dualstack"
local s = assert(ds.tcp({ family = "inet" }))
assert(s:bind("127.0.0.1", 0))
assert(s:listen(6000))
local _, port = s:getsockname()
local p = assert(io.popen("ss -ltnH 'sport = :" .. port .. "' 2>/dev/null"))
local line = p:read("a")
p:close()
report("queue", line:match("^%S+%s+%d+%s+(%d+)"))
]])
    assert.equal("6000", results.queue, out)
  end)
end)
