-- The pluggable waiter (lua/dualstack/wait.lua): inside cqueues and luv,
-- dualstack's Lua-level waits (ds.connect's Happy Eyeballs race, the
-- listeners' accept and receives, name resolution) yield to the loop. Each
-- case MEASURES that: a ticker (a second cqueues coroutine, or a luv
-- timer, every 10 ms) counts while the call is in progress; a call that
-- blocks the thread leaves it at 0, which the poll-waiter cases show.
-- Traffic stays on 127.0.0.1/::1 and inside namespaces made here.
local H = require "helpers"
local cleanup = require "cleanup"
local N = require "namespace"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

-- The loop runner, its time limit and the check for a loop library are
-- shared with unix_loops_spec and recverr_loops_spec (spec/helpers.lua,
-- "Event loops").
local LIMIT = H.LOOP_LIMIT
-- Each marks the case pending when the loop library is missing.
local function need(module)
  local lib, why = H.loop_lib(module)
  if not lib then pending(why) end
  return lib
end
local function in_loop(...)
  local r, out = H.in_loop(...)
  if not r then pending(out) end
  return r, out
end

-- The cqueues loop in this process (cqueues reloads fine): body(env) runs
-- in a coroutine of it as in H.in_loop's child. Raises what body raised.
local function in_cqueues(body)
  local cqueues = need("cqueues")
  if not cqueues then return nil end
  local cq = cqueues.new()
  local env = { ticks = 0, done = false, sleep = cqueues.sleep }
  function env.spawn(fn) cq:wrap(fn) end
  local failure
  cq:wrap(function()
    while not env.done do
      cqueues.sleep(0.01)
      env.ticks = env.ticks + 1
    end
  end)
  cq:wrap(function()
    local ok, err = pcall(body, env)
    env.done = true
    if not ok then failure = err end
  end)
  local deadline = ds.monotime() + LIMIT
  while not cq:empty() do
    assert(ds.monotime() < deadline, "the cqueues loop did not finish in " .. LIMIT .. " s")
    local ok, err = cq:step(0.1)
    assert(ok, err)
  end
  if failure then error(failure, 0) end
  return env
end

local LOOPS = H.LOOPS
local number = H.loop_number

-- ---- (a) Happy Eyeballs race -----------------------------------------------

-- The host's /etc/hosts may lack "::1 localhost", so the race runs in a
-- child with its own /etc/hosts (dualhost: ::1 and 127.0.0.1) and a
-- resolv.conf naming only 127.0.0.1, in a private mount namespace; the
-- listeners stay here. USE_POLL passes opts.waiter = the poll waiter.
local RACE = [[
  local opts = { timeout = 2 }
  if USE_POLL then opts.waiter = ds.waiters.poll end
  local t0 = now()
  local s, err, code = ds.connect("dualhost", PORT, opts)
  report("elapsed", now() - t0)
  report("ticks", env.ticks)
  report("waiter", wait.current(USE_POLL and opts or nil).name)
  if s then report("peer", (s:getpeername())) else report("err", err); report("code", code) end
]]

local FILES = {
  hosts = "::1 dualhost\n127.0.0.1 dualhost\n127.0.0.1 localhost\n",
  resolv = "nameserver 127.0.0.1\n",
}

describe("the waiter during a Happy Eyeballs race", function()
  local usable, reason = N.available("-m")
  local files = {}
  lazy_setup(function()
    for name, text in pairs(FILES) do
      files[name] = os.tmpname()
      local f = assert(io.open(files[name], "w"))
      f:write(text)
      f:close()
    end
  end)
  lazy_teardown(function()
    for _, path in pairs(files) do os.remove(path) end
  end)

  local function race(loop, use_poll, port)
    local setup = ("mount --bind %s /etc/hosts && mount --bind %s /etc/resolv.conf || exit 1")
      :format(files.hosts, files.resolv)
    return in_loop(loop, RACE, { USE_POLL = tostring(use_poll), PORT = tostring(port) }, "-m", setup)
  end

  for _, loop in ipairs(LOOPS) do
    it("keeps " .. loop .. " running while ::1 hangs and 127.0.0.1 wins after the attempt delay", function()
      if not usable then return pending(reason) end
      if not need(loop) then return end
      local l6, l4, port = H.hanging_pair()
      if not l6 then return pending(l4) end
      local r, out = race(loop, false, port)
      assert.equal(loop, r.waiter, out)
      assert.equal("127.0.0.1", r.peer, out)
      local elapsed, ticks = number(r, "elapsed", out), number(r, "ticks", out)
      assert.is_true(elapsed >= 0.2 and elapsed < 1.0, out)
      assert.is_true(ticks >= 10, "the ticker ticked " .. ticks .. " times in " .. elapsed .. " s:\n" .. out)
      assert.truthy(l4:accept())
    end)

    it("blocks " .. loop .. " for the whole race with opts.waiter = the poll waiter (no ticks)", function()
      if not usable then return pending(reason) end
      if not need(loop) then return end
      local l6, l4, port = H.hanging_pair()
      if not l6 then return pending(l4) end
      local r, out = race(loop, true, port)
      assert.equal("poll", r.waiter, out)
      assert.equal("127.0.0.1", r.peer, out)
      assert.is_true(number(r, "elapsed", out) >= 0.2, out)
      assert.equal("0", r.ticks, out)
      assert.truthy(l4:accept())
    end)
  end
end)

-- ---- (b) listeners ----------------------------------------------------------

-- A client arrives 150 ms after the listener (OPTS) starts waiting in accept.
local ACCEPT = [[
  local l, port = listener("tcp", OPTS)
  report("sockets", #l:sockets())
  l:settimeout(2)
  env.spawn(function()
    env.sleep(0.15)
    assert(ds.connect("127.0.0.1", port, { timeout = 2 }))
  end)
  local t0 = now()
  local c, err, code = l:accept()
  report("elapsed", now() - t0)
  report("ticks", env.ticks)
  report("peer", c and ds.unmap((c:getpeername())) or (tostring(err) .. " " .. tostring(code)))
]]

-- A datagram from ::1 arrives 150 ms after a two-socket UDP listener
-- starts waiting in OP.
local RECEIVE = [[
  local l, port = listener("udp", { dualstack = false })
  report("sockets", #l:sockets())
  l:settimeout(2)
  env.spawn(function()
    env.sleep(0.15)
    local c = assert(ds.udp { family = "inet6" })
    assert(c:sendto("hello", "::1", port))
  end)
  local t0 = now()
  local data, addr
  if "OP" == "recvfrom" then
    data, addr = l:recvfrom()
  elseif "OP" == "recvmsg" then
    local m = l:recvmsg()
    data, addr = m and m.data, m and m.addr
  else
    local list = l:recvmmsg(4)
    data, addr = list and list[1].data, list and list[1].addr
  end
  report("elapsed", now() - t0)
  report("ticks", env.ticks)
  report("data", data)
  report("addr", addr)
]]

-- A two-socket listener of KIND with timeout 0.3 and nothing arriving.
local TIMEOUT = [[
  local opts = { dualstack = false }
  if USE_POLL then opts.waiter = ds.waiters.poll end
  local l = listener("KIND", opts)
  l:settimeout(0.3)
  local t0 = now()
  local r
  if "KIND" == "tcp" then r = table.pack(l:accept()) else r = table.pack(l:recvfrom()) end
  report("elapsed", now() - t0)
  report("ticks", env.ticks)
  report("result", r.n .. " " .. tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
]]

-- ds.wait on a settimeout(0) socket: a 0.05 s wait times out, then a
-- datagram sent after 0.15 s wakes it.
local DS_WAIT = [[
  local u = assert(ds.udp { family = "inet" })
  assert(u:bind("127.0.0.1", 0))
  local port = select(2, u:getsockname())
  u:settimeout(0)
  env.spawn(function()
    env.sleep(0.15)
    assert(assert(ds.udp { family = "inet" }):sendto("x", "127.0.0.1", port))
  end)
  local t0 = now()
  local a, b, c = ds.wait(u, 0.05)
  report("first", tostring(a) .. " " .. tostring(b) .. " " .. tostring(c))
  report("second", tostring(ds.wait(u, 2)))
  report("elapsed", now() - t0)
  report("ticks", env.ticks)
  report("data", (u:recvfrom()))
]]

local MODELS = {
  { name = "a two-socket", opts = "{ dualstack = false }", count = "2" },
  { name = "a one-socket", opts = "{}", count = "1" },
}

describe("the waiter in listener waits", function()
  local waited, ticked = H.loop_waited, H.loop_ticked

  for _, loop in ipairs(LOOPS) do
    for _, model in ipairs(MODELS) do
      it("keeps " .. loop .. " running while " .. model.name .. " TCP listener waits in accept (client after 150 ms)", function()
        local r, out = in_loop(loop, ACCEPT, { OPTS = model.opts })
        if not r then return end
        assert.equal(model.count, r.sockets, out)
        assert.equal("127.0.0.1", r.peer, out)
        waited(r, out, 0.12, 1)
        ticked(r, out, 10)
      end)
    end

    for _, op in ipairs { "recvfrom", "recvmsg", "recvmmsg" } do
      it("keeps " .. loop .. " running while a two-socket UDP listener waits in " .. op .. " (datagram after 150 ms)", function()
        local r, out = in_loop(loop, RECEIVE, { OP = op })
        if not r then return end
        assert.equal("2", r.sockets, out)
        assert.equal("hello", r.data, out)
        assert.equal("::1", r.addr, out)
        waited(r, out, 0.12, 1)
        ticked(r, out, 10)
      end)
    end

    for _, kind in ipairs { "tcp", "udp" } do
      it("times out a two-socket " .. kind .. " listener's wait on time under " .. loop .. ", the loop running", function()
        local r, out = in_loop(loop, TIMEOUT, { KIND = kind, USE_POLL = "false" })
        if not r then return end
        assert.equal("3 nil timeout ETIMEDOUT", r.result, out)
        waited(r, out, 0.28, 0.6)
        ticked(r, out, 15)
      end)
    end

    it("blocks " .. loop .. " in a listener's wait with opts.waiter = the poll waiter (no ticks)", function()
      local r, out = in_loop(loop, TIMEOUT, { KIND = "tcp", USE_POLL = "true" })
      if not r then return end
      assert.equal("3 nil timeout ETIMEDOUT", r.result, out)
      waited(r, out, 0.28, 0.6)
      assert.equal("0", r.ticks, out)
    end)

    it("ds.wait waits on a settimeout(0) socket through " .. loop, function()
      local r, out = in_loop(loop, DS_WAIT)
      if not r then return end
      assert.equal("nil timeout ETIMEDOUT", r.first, out)
      assert.equal("true", r.second, out)
      assert.equal("x", r.data, out)
      waited(r, out, 0.12, 1)
      ticked(r, out, 10)
    end)
  end
end)

-- ---- (c) and (d) name resolution -------------------------------------------

-- Starts spec/dns_stub.lua on 127.0.0.1 (any port) answering after delay
-- seconds; returns its port and stop(), which ends it and returns the
-- queries it saw (each "NAME TYPE").
local function start_stub(delay)
  local p = assert(io.popen("lua5.4 spec/dns_stub.lua 127.0.0.1 0 " .. delay .. " 5"))
  local port = tonumber((p:read("l") or ""):match("^stub_port=(%d+)$"))
  assert(port, "the DNS stub did not start")
  local function stop()
    local q = H.socket("udp", "inet")
    q:sendto("quit", "127.0.0.1", port)
    q:close()
    local out = p:read("a")
    p:close()
    local queries = {}
    for line in out:gmatch("stub_query=([^\n]*)") do queries[#queries + 1] = line end
    assert(out:match("stub_queries=(%d+)"), "the DNS stub did not finish:\n" .. out)
    return queries
  end
  return port, stop
end

-- A cqueues resolver pool that asks only the stub (no /etc/hosts).
local function stub_pool(cqueues_port)
  local config = require "cqueues.dns.config"
  local resolvers = require "cqueues.dns.resolvers"
  return resolvers.new(config.new { nameserver = { "[127.0.0.1]:" .. cqueues_port }, lookup = { "bind" } })
end

-- luv resolves with glibc, which reads /etc/resolv.conf only: the child
-- runs in its own network and mount namespaces, where 127.0.0.1:53 is the
-- stub and resolv.conf names it. It connects to slow.test (the stub's
-- ::1) on a dual listener of its own.
local LUV_RESOLVE = [[
local ds = require "dualstack"
local uv = require "luv"
local stub = io.popen("lua5.4 spec/dns_stub.lua 127.0.0.1 53 0.3 5")
report("stub", stub:read("l"))
local l = assert(ds.listen("*", 0))
local port = select(2, l:getsockname())
local ticks = 0
local tick = uv.new_timer()
tick:start(10, 10, function() ticks = ticks + 1 end)
local go = uv.new_timer()
go:start(0, 0, function()
  go:close()
  ds.luv.spawn(function()
    local t0 = ds.monotime()
    local s, err, code = ds.connect("slow.test", port, { timeout = 3 })
    report("elapsed", ds.monotime() - t0)
    report("ticks", ticks)
    if s then report("peer", (s:getpeername())) else report("err", err); report("code", code) end
    tick:close()
  end)
end)
ds.luv.run()
local q = ds.udp { family = "inet" }
q:sendto("quit", "127.0.0.1", 53)
local out = stub:read("a")
report("queries", out:match("stub_queries=(%d+)"))
]]

describe("the waiter during name resolution", function()
  it("keeps cqueues running while a slow DNS answer comes (opts.resolver pool on the stub)", function()
    if not need("cqueues") then return end
    local port, stop = start_stub(0.3)
    local got
    local ok, err = pcall(in_cqueues, function(env)
      local t0 = H.now()
      local list, e, code = ds.resolve("slow.test", 80, { socktype = "stream", resolver = stub_pool(port) })
      got = { elapsed = H.now() - t0, ticks = env.ticks, list = list, err = e, code = code }
    end)
    local queries = stop()
    assert(ok, err)
    assert.truthy(got.list, tostring(got.err) .. " " .. tostring(got.code))
    local addrs = {}
    for i, r in ipairs(got.list) do addrs[i] = r.family .. " " .. r.addr .. " " .. r.port .. " " .. r.socktype end
    assert.same({ "inet6 ::1 80 stream", "inet 127.0.0.1 80 stream" }, addrs)
    assert.same({ "slow.test AAAA", "slow.test A" }, queries)
    assert.is_true(got.elapsed >= 0.55 and got.elapsed < 2, "resolved after " .. got.elapsed .. " s")
    assert.is_true(got.ticks >= 20, "the ticker ticked " .. got.ticks .. " times")
  end)

  it("keeps luv running while ds.connect resolves a slow name through uv.getaddrinfo", function()
    if not need("luv") then return end
    local usable, reason = N.available("-n -m")
    if not usable then return pending(reason) end
    local resolv = os.tmpname()
    local f = assert(io.open(resolv, "w"))
    f:write(FILES.resolv)
    f:close()
    local setup = "ip link set lo up && mount --bind " .. resolv .. " /etc/resolv.conf || exit 1"
    local r, out = N.run("-n -m", setup, LUV_RESOLVE)
    os.remove(resolv)
    assert.equal("stub_port=53", r.stub, out)
    assert.equal("::1", r.peer, out)
    local elapsed, ticks = tonumber(r.elapsed), tonumber(r.ticks)
    assert.is_true(elapsed >= 0.25 and elapsed < 2.5, out)
    assert.is_true(ticks >= 20, "the ticker ticked " .. tostring(ticks) .. " times:\n" .. out)
    assert.is_true(tonumber(r.queries) >= 1, out)
  end)

  it("refuses a name in numeric mode without any lookup (the stub sees no query)", function()
    if not need("cqueues") then return end
    local port, stop = start_stub(0)
    local l, lport = H.listener("inet", "127.0.0.1")
    keep(l)
    local got = {}
    local ok, err = pcall(in_cqueues, function()
      local opts = { numeric = true, resolver = stub_pool(port), timeout = 2 }
      got.connect = table.pack(ds.connect("localhost", lport, opts))
      got.resolve = table.pack(ds.resolve("localhost", lport, opts))
      got.listen = table.pack(ds.listen("localhost", 0, { numeric = true }))
      got.udp_listen = table.pack(ds.udp_listen("localhost", 0, { numeric = true }))
      got.numeric = ds.connect("127.0.0.1", lport, opts)
    end)
    local queries = stop()
    assert(ok, err)
    local refused = { n = 3, nil, "a numeric address is required: 'localhost'", "EAI_NONAME" }
    for _, call in ipairs { "connect", "resolve", "listen", "udp_listen" } do
      assert.same(refused, got[call], call)
    end
    assert.truthy(got.numeric, "numeric text still connects")
    keep(got.numeric)
    assert.same({}, queries)
  end)
end)

-- ---- choosing and reporting -------------------------------------------------

local CHOICE = [[
  report("inside", wait.current().name)
  report("nested", coroutine.wrap(function() return wait.current().name end)())
  report("explicit", wait.current({ waiter = ds.waiters.poll }).name)
  local old = ds.setwaiter(ds.waiters.poll)
  report("set", wait.current().name)
  ds.setwaiter(old)
  report("restored", wait.current().name)
]]

-- An error in a spawned coroutine, once under ds.luv.run (rethrown) and
-- once under a plain uv.run (written to stderr).
local SPAWN_ERROR = [[
local ds = require "dualstack"
local uv = require "luv"
local function later(message)
  local t = uv.new_timer()
  t:start(0, 0, function()
    t:close()
    ds.luv.spawn(function()
      require("dualstack.wait").luv.sleep(0.01)
      error(message)
    end)
  end)
end
later("boom under run")
local ok, err = pcall(ds.luv.run)
report("ok", ok)
report("err", (tostring(err):gsub("\n", " | ")))
later("boom under uv.run")
uv.run()
report("after", "yes")
local ok2, err2 = pcall(ds.luv.run) -- nothing failed under it: nothing to raise
report("later", tostring(ok2) .. " " .. (tostring(err2):match("[^\n]*")))
]]

describe("the waiter's choice", function()
  it("is poll outside any loop", function()
    assert.equal("poll", require("dualstack.wait").current().name)
  end)

  for _, loop in ipairs(LOOPS) do
    it("is " .. loop .. " inside a " .. loop .. " coroutine, poll in a plain coroutine inside it, opts.waiter and setwaiter first", function()
      local r, out = in_loop(loop, CHOICE)
      if not r then return end
      assert.same({ loop, "poll", "poll", "poll", loop },
        { r.inside, r.nested, r.explicit, r.set, r.restored }, out)
    end)
  end

  it("reports an error raised in a ds.luv.spawn coroutine: ds.luv.run rethrows it, a plain uv.run run writes it to stderr", function()
    if not need("luv") then return end
    local r, out = N.run("", "", SPAWN_ERROR)
    assert.equal("false", r.ok, out)
    assert.matches("boom under run", r.err, 1, true)
    assert.matches("stack traceback", r.err, 1, true)
    assert.equal("yes", r.after, out)
    assert.matches("dualstack.luv: error in a spawned coroutine: [^\n]*boom under uv.run", out)
    assert.matches("^true ", r.later, out) -- the stderr one is not kept for a later run
  end)
end)

-- ---- (e) review fixes: shared descriptors, huge timeouts, closing, shapes ---

-- Two coroutines ds.wait on one socket (one poll handle under luv, one fd
-- under cqueues), a datagram after 50 ms wakes both; then two acceptors on
-- one listener, one client: one gets it, the other times out.
local SHARED_FD = [[
  local u = assert(ds.udp { family = "inet" })
  assert(u:bind("127.0.0.1", 0))
  local port = select(2, u:getsockname())
  u:settimeout(0)
  local got = {}
  local left = 3
  for i = 1, 2 do
    env.spawn(function()
      local r = table.pack(ds.wait(u, 2))
      got[i] = table.concat({ tostring(r[1]), tostring(r[2]), tostring(r[3]) }, " ")
      left = left - 1
    end)
  end
  env.spawn(function()
    env.sleep(0.05)
    assert(assert(ds.udp { family = "inet" }):sendto("x", "127.0.0.1", port))
    left = left - 1
  end)
  while left > 0 do env.sleep(0.01) end
  report("wait1", got[1])
  report("wait2", got[2])
  -- one coroutine waits to read, another to write: the writer returns at
  -- once, the reader still wakes for the datagram after it
  left = 2
  env.spawn(function()
    local r = table.pack(ds.wait(u, 2))
    got.reader = tostring(r[1]) .. " " .. tostring(r[2])
    left = left - 1
  end)
  env.spawn(function()
    local r, w = wait.current().wait({}, { u:getfd() }, 2)
    got.writer = tostring(r and next(r)) .. " " .. tostring(w and w[u:getfd()])
    env.sleep(0.05)
    assert(assert(ds.udp { family = "inet" }):sendto("y", "127.0.0.1", port))
    left = left - 1
  end)
  while left > 0 do env.sleep(0.01) end
  report("writer", got.writer)
  report("reader", got.reader)
  local l, lport = listener("tcp", {})
  l:settimeout(0.4)
  local accepted, timedout, n = 0, 0, 2
  for _ = 1, 2 do
    env.spawn(function()
      local c, err, code = l:accept()
      if c then accepted = accepted + 1 elseif code == "ETIMEDOUT" then timedout = timedout + 1
      else report("accept_error", tostring(err) .. " " .. tostring(code)) end
      n = n - 1
    end)
  end
  env.sleep(0.05)
  local c = assert(ds.connect("127.0.0.1", lport, { timeout = 2 }))
  while n > 0 do env.sleep(0.01) end
  report("accepted", accepted)
  report("timedout", timedout)
  c:close()
]]

-- ds.wait with timeouts too long for a luv timer, woken by a datagram.
local HUGE = [[
  local u = assert(ds.udp { family = "inet" })
  assert(u:bind("127.0.0.1", 0))
  local port = select(2, u:getsockname())
  u:settimeout(0)
  local out = {}
  for i, t in ipairs { 1e10, 1e300, math.huge } do
    env.spawn(function()
      env.sleep(0.02)
      assert(assert(ds.udp { family = "inet" }):sendto("x", "127.0.0.1", port))
    end)
    local ok, r = pcall(ds.wait, u, t)
    out[i] = tostring(ok) .. " " .. tostring(r)
    u:recvfrom()
  end
  report("huge", table.concat(out, ", "))
]]

-- A coroutine closes, after 50 ms, the socket one coroutine waits on and
-- the two-socket listener another one receives on.
local CLOSED = [[
  local u = assert(ds.udp { family = "inet" })
  assert(u:bind("127.0.0.1", 0))
  u:settimeout(0)
  local l = listener("udp", { dualstack = false })
  l:settimeout(1)
  local left = 2
  env.spawn(function()
    local r = table.pack(l:recvfrom())
    report("recv", r.n .. " " .. tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
    left = left - 1
  end)
  env.spawn(function()
    env.sleep(0.05)
    u:close()
    l:close()
    left = left - 1
  end)
  local t0 = now()
  local r = table.pack(ds.wait(u, 0.3))
  report("wait", r.n .. " " .. tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
  while left > 0 do env.sleep(0.01) end
  report("elapsed", now() - t0)
]]

-- A coroutine closes, after 50 ms, a two-socket listener another one
-- receives on (timeout 2), then opens a socket (which may reuse a number).
local LISTENER_CLOSED = [[
  local l = listener("udp", { dualstack = false })
  l:settimeout(2)
  local left = 1
  env.spawn(function()
    env.sleep(0.05)
    l:close()
    local u = assert(ds.udp { family = "inet" })
    env.sleep(0.1)
    u:close()
    left = left - 1
  end)
  local t0 = now()
  local r = table.pack(l:recvfrom())
  report("recv", r.n .. " " .. tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
  report("elapsed", now() - t0)
  while left > 0 do env.sleep(0.01) end
]]

-- The resolver's results and errors, beside core.getaddrinfo's.
local SHAPES = [[
  local function show(list, err, code)
    if not list then return "nil " .. tostring(err) .. " " .. tostring(code) end
    local parts = {}
    for i, r in ipairs(list) do
      parts[i] = table.concat({ r.family, r.addr, r.port, r.socktype, r.protocol }, " ")
    end
    table.sort(parts)
    return table.concat(parts, ", ")
  end
  local hints = { socktype = "stream", family = "inet" }
  report("loop_ok", show(ds.resolve("localhost", "http", hints)))
  report("core_ok", show(ds.getaddrinfo("localhost", "http", hints)))
  report("loop_nx", show(ds.resolve("no-such-host.invalid", 80)))
  report("core_nx", show(ds.getaddrinfo("no-such-host.invalid", 80)))
]]

-- A coroutine another caller resumes while its name is looked up.
-- The lookup must still be pending when the timer resumes the coroutine:
-- a fast resolver (musl reads /etc/hosts at once) answered first, so each
-- of libuv's 4 threads is kept busy for 0.3 s and the lookup queues.
local INTERRUPTED = [[
  local uv = require "luv"
  local co = coroutine.running()
  local busy = uv.new_work(function() os.execute("sleep 0.3") end, function() end)
  for _ = 1, 4 do busy:queue() end
  local t = uv.new_timer()
  t:start(0, 0, function() t:close(); coroutine.resume(co) end)
  local r = table.pack(ds.resolve("localhost", 80))
  report("interrupted", r.n .. " " .. tostring(r[1]) .. " " .. tostring(r[2]) .. " " .. tostring(r[3]))
]]

describe("the waiters with several coroutines, odd timeouts and closes", function()
  for _, loop in ipairs(LOOPS) do
    it("wakes two coroutines waiting on one socket, and serves two acceptors on one listener, under " .. loop, function()
      local r, out = in_loop(loop, SHARED_FD)
      if not r then return end
      assert.equal("true nil nil", r.wait1, out)
      assert.equal("true nil nil", r.wait2, out)
      assert.equal("nil true", r.writer, out)
      assert.equal("true nil", r.reader, out)
      assert.is_nil(r.accept_error, out)
      assert.equal("1", r.accepted, out)
      assert.equal("1", r.timedout, out)
    end)

    it("takes timeouts of 1e10, 1e300 and math.huge under " .. loop, function()
      local r, out = in_loop(loop, HUGE)
      if not r then return end
      assert.equal("true true, true true, true true", r.huge, out)
    end)

    it("gives the resolver's results and errors the shape of core.getaddrinfo's under " .. loop, function()
      local r, out = in_loop(loop, SHAPES)
      if not r then return end
      assert.equal("inet 127.0.0.1 80 stream 6", r.core_ok, out)
      assert.equal(r.core_ok, r.loop_ok, out)
      assert.matches("^nil [^ ].* EAI_", r.core_nx, out)
      assert.equal(r.core_nx, r.loop_nx, out)
    end)
  end

  for _, loop in ipairs(LOOPS) do
    it("wakes a coroutine receiving on a listener another " .. loop .. " coroutine closes, and the loop runs on", function()
      local r, out = in_loop(loop, LISTENER_CLOSED)
      if not r then return end
      assert.equal("3 nil closed EBADF", r.recv, out)
      local elapsed = number(r, "elapsed", out)
      assert.is_true(elapsed >= 0.04 and elapsed < 0.5, "woke after " .. elapsed .. " s:\n" .. out)
    end)
  end

  it("wakes no cqueues coroutine without readiness when another one on the same socket stops waiting", function()
    if not need("cqueues") then return end
    local u = keep(H.socket("udp", "inet"))
    H.ok(u:bind("127.0.0.1", 0))
    u:settimeout(0)
    local got = {}
    in_cqueues(function(env)
      local left = 2
      env.spawn(function()
        got.a = table.pack(ds.wait(u, 0.1))
        left = left - 1
      end)
      env.spawn(function()
        local t0 = H.now()
        got.b = table.pack(ds.wait(u, 0.5))
        got.b_elapsed = H.now() - t0
        left = left - 1
      end)
      while left > 0 do env.sleep(0.01) end
    end)
    assert.same({ n = 3, nil, "timeout", "ETIMEDOUT" }, got.a)
    assert.same({ n = 3, nil, "timeout", "ETIMEDOUT" }, got.b)
    assert.is_true(got.b_elapsed >= 0.45, "B returned after " .. got.b_elapsed .. " s")
  end)

  it("returns nil, 'closed', 'EBADF' from ds.wait and a listener's receive when another luv coroutine closes the socket", function()
    local r, out = in_loop("luv", CLOSED)
    if not r then return end
    assert.equal("3 nil closed EBADF", r.wait, out)
    assert.equal("3 nil closed EBADF", r.recv, out)
  end)

  it("gives an honest error to a luv coroutine resumed by another caller during a lookup", function()
    local r, out = in_loop("luv", INTERRUPTED)
    if not r then return end
    assert.equal("3 nil lookup interrupted: the coroutine was resumed while it waited for the name EINTR",
      r.interrupted, out)
  end)

  it("refuses a listener opts.waiter that is no waiter, as ds.connect does", function()
    for _, open in ipairs { "listen", "udp_listen" } do
      local ok, err = pcall(ds[open], "127.0.0.1", 0, { waiter = {} })
      assert.is_false(ok)
      assert.matches("bad argument #3 to '" .. open .. "' (option 'waiter': a table with wait and resolve expected)",
        err, 1, true)
    end
    local ok, err = pcall(ds.connect, "127.0.0.1", 1, { waiter = {} })
    assert.is_false(ok)
    assert.matches("bad argument #3 to 'connect' (option 'waiter': a table with wait and resolve expected)", err, 1, true)
  end)
end)

-- ---- (f) listener sends wait for room in the send buffer ---------------------

-- The child's va (10.9.9.1/24) has a peer end nobody answers ARP on: a
-- datagram to 10.9.9.N waits in the neighbour queue, holding the sending
-- socket's buffer (sndbuf 1: the kernel's minimum, two datagrams), until
-- the resolution fails after 0.5 s and frees it. So the third send finds
-- the buffer full for about 0.5 s.
local UNANSWERED = [[
set -e
ip link set lo up
ip link add va type veth peer name vb
ip addr add 10.9.9.1/24 dev va
ip link set va up
ip link set vb up
sysctl -qw net.ipv4.neigh.va.retrans_time_ms=500 net.ipv4.neigh.va.mcast_solicit=1 \
  net.ipv4.neigh.va.app_solicit=0 net.ipv4.neigh.va.ucast_solicit=0
]]

-- Each case a fresh listener (of MODEL) and a fresh neighbour; reports
-- "CASE=results" and "CASE_elapsed=seconds".
local SENDS = [[
local ds = require "dualstack"
local data = ("x"):rep(1200)
local neighbour = 1
local function case(name, timeout, fn)
  local l
  if "MODEL" == "two" then
    l = assert(ds.udp_listen("*", 0, { dualstack = false }))
  else
    l = assert(ds.udp_listen("10.9.9.1", 0))
  end
  report(name .. "_sockets", #l:sockets())
  assert(l:setoption("sndbuf", 1))
  l:settimeout(timeout)
  neighbour = neighbour + 1
  local to = "10.9.9." .. neighbour
  local t0 = ds.monotime()
  local r = table.pack(fn(l, to))
  report(name .. "_elapsed", ds.monotime() - t0)
  local parts = {}
  for i = 1, r.n do parts[i] = tostring(r[i]) end
  report(name, table.concat(parts, " "))
  l:close()
end
local function three(send)
  return function(l, to)
    local out = {}
    for i = 1, 3 do
      local n, err, code = send(l, to)
      out[i] = n or (tostring(err) .. "/" .. tostring(code))
    end
    return table.concat(out, ",")
  end
end
local function msgs(to, n)
  local list = {}
  for i = 1, n do list[i] = { data = data, addr = to, port = 9 } end
  return list
end
local function reqs(to, n)
  local list, answers = {}, {}
  for i = 1, n do list[i], answers[i] = { addr = to, port = 9, dst = "10.9.9.1" }, data end
  return list, answers
end
case("sendto", nil, three(function(l, to) return l:sendto(data, to, 9) end))
case("sendto_timeout", 0.2, three(function(l, to) return l:sendto(data, to, 9) end))
case("sendmsg", nil, three(function(l, to) return l:sendmsg { data = data, addr = to, port = 9 } end))
case("reply", nil, three(function(l, to) return l:reply({ addr = to, port = 9, dst = "10.9.9.1" }, data) end))
case("sendmmsg", nil, function(l, to) return l:sendmmsg(msgs(to, 4)) end)
case("sendmmsg_timeout", 0.2, function(l, to) return l:sendmmsg(msgs(to, 4)) end)
case("replymmsg", nil, function(l, to) return l:replymmsg(reqs(to, 4)) end)
case("replymmsg_timeout", 0.2, function(l, to) return l:replymmsg(reqs(to, 4)) end)
]]

describe("a UDP listener's sends", function()
  local usable, reason = N.available("-n")
  for _, model in ipairs { { "one", "1" }, { "two", "2" } } do
    it("wait for room in a full send buffer within the listener's timeout (" .. model[1] .. " socket model)", function()
      if not usable then return pending(reason) end
      local r, out = N.run("-n", UNANSWERED, (SENDS:gsub("MODEL", model[1])))
      assert.equal(model[2], r.sendto_sockets, out)
      local function elapsed(name, from, to)
        local v = tonumber(r[name .. "_elapsed"])
        assert(v, "no " .. name .. "_elapsed:\n" .. out)
        assert.is_true(v >= from and v < to, name .. " took " .. v .. " s:\n" .. out)
      end
      -- timeout nil: the third send waits until the buffer has room
      for _, name in ipairs { "sendto", "sendmsg", "reply" } do
        assert.equal("1200,1200,1200", r[name], out)
        elapsed(name, 0.3, 3)
      end
      -- a timeout bounds the wait: the third fails after it, not at once
      assert.equal("1200,1200,timeout/ETIMEDOUT", r.sendto_timeout, out)
      elapsed("sendto_timeout", 0.18, 0.45)
      -- batches: all sent, or the documented partial result
      for _, name in ipairs { "sendmmsg", "replymmsg" } do
        assert.equal("4", r[name], out)
        elapsed(name, 0.3, 3)
        assert.equal("nil timeout ETIMEDOUT 2", r[name .. "_timeout"], out)
        elapsed(name .. "_timeout", 0.18, 0.45)
      end
    end)
  end
end)
