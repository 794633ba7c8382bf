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

-- Seconds every loop below may run before the case fails.
local LIMIT = 10

-- The loop library, or nil after marking the case pending with why not
-- (musl, cross and Windows runs have neither; Linux native has both).
local function need(module)
  local ok, lib = pcall(require, module)
  if ok then return lib end
  pending(module .. " is not installed (make test installs lua-" .. module .. "): " .. tostring(lib):match("[^\n]*"))
  return nil
end

-- ---- running a body inside a loop, with a ticker ------------------------

-- Each runner calls body(env) in a coroutine of the loop while a ticker
-- counts env.ticks; env.spawn(fn) starts another coroutine of the loop,
-- env.sleep(s) sleeps in it. Raises what body raised.
local RUNNERS = {}

function RUNNERS.cqueues(body)
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

function RUNNERS.luv(body)
  local uv = need("luv")
  if not uv then return nil end
  local wait = require "dualstack.wait"
  local env = { ticks = 0, sleep = wait.luv.sleep, spawn = ds.luv.spawn }
  local failure
  local ticker = uv.new_timer()
  ticker:start(10, 10, function() env.ticks = env.ticks + 1 end)
  local watchdog = uv.new_timer()
  watchdog:start(LIMIT * 1000, 0, function()
    failure = failure or ("the luv loop did not finish in " .. LIMIT .. " s")
    uv.stop()
  end)
  -- The body starts from a callback of the running loop, as in a server.
  local go = uv.new_timer()
  go:start(0, 0, function()
    go:close()
    ds.luv.spawn(function()
      local ok, err = pcall(body, env)
      if not ok then failure = err end
      ticker:stop()
      ticker:close()
      watchdog:close()
    end)
  end)
  ds.luv.run()
  for _, h in ipairs { ticker, watchdog } do
    if not h:is_closing() then h:close() end
  end
  uv.run("nowait") -- lets the closes finish
  if failure then error(failure, 0) end
  return env
end

local LOOPS = { "cqueues", "luv" }

-- ---- (a) Happy Eyeballs race -----------------------------------------------

-- A listener on host with backlog 0 whose accept queue holds one client
-- it never accepts: Linux then drops further SYNs, so a connect to it
-- hangs without leaving the host. Returns the listener, or nil when the
-- kernel let no connect hang.
local function fill(family, host, port)
  for _ = 1, 8 do
    local c = keep(H.socket("tcp", family))
    c:settimeout(0.2)
    local ok, _, code = c:connect(host, port)
    if not ok then return code == "ETIMEDOUT" end
  end
  return false
end

-- ::1:P hangs, 127.0.0.1:P accepts (P free on both); nil after pending.
local function hanging_pair()
  for _ = 1, 20 do
    local l6 = keep(H.socket("tcp", "inet6"))
    H.ok(l6:bind("::1", 0))
    H.ok(l6:listen(0))
    local port = select(2, l6:getsockname())
    local l4 = keep(H.socket("tcp", "inet"))
    if l4:bind("127.0.0.1", port) then
      H.ok(l4:listen(8))
      if not fill("inet6", "::1", port) then
        pending("a full accept queue does not hold back connects on this kernel")
        return nil
      end
      return l6, l4, port
    end
    l6:close()
    l4:close()
  end
  error("no port is free on both ::1 and 127.0.0.1")
end

-- The host's /etc/hosts may lack "::1 localhost", so the race runs in a
-- child with its own /etc/hosts (dualhost: ::1 and 127.0.0.1) and a
-- resolv.conf naming only 127.0.0.1, in a private mount namespace; the
-- listeners stay here. LOOP is cqueues or luv; WAITER "poll" passes
-- opts.waiter = the poll waiter.
local RACE = [[
local ds = require "dualstack"
local loop, use_poll = "LOOP", "WAITER" == "poll"
local ticks, done = 0, false
local function body()
  local opts = { timeout = 2 }
  if use_poll then opts.waiter = ds.waiters.poll end
  local t0 = ds.monotime()
  local s, err, code = ds.connect("dualhost", PORT, opts)
  report("elapsed", ds.monotime() - t0)
  report("ticks", ticks)
  report("waiter", (require("dualstack.wait").current(use_poll and opts or nil).name))
  if s then report("peer", (s:getpeername())) else report("err", err); report("code", code) end
  done = true
end
if loop == "cqueues" then
  local cqueues = require "cqueues"
  local cq = cqueues.new()
  cq:wrap(function() while not done do cqueues.sleep(0.01); ticks = ticks + 1 end end)
  cq:wrap(body)
  assert(cq:loop(5))
else
  local uv = require "luv"
  local tick = uv.new_timer()
  tick:start(10, 10, function() ticks = ticks + 1 end)
  local go = uv.new_timer()
  go:start(0, 0, function()
    go:close()
    ds.luv.spawn(function() body(); tick:close() end)
  end)
  ds.luv.run()
end
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

  local function race(loop, waiter, port)
    local script = RACE:gsub("LOOP", loop):gsub("WAITER", waiter):gsub("PORT", tostring(port))
    local setup = ("mount --bind %s /etc/hosts && mount --bind %s /etc/resolv.conf || exit 1")
      :format(files.hosts, files.resolv)
    local r, out = N.run("-m", setup, script)
    assert(r.elapsed and r.ticks, "child failed:\n" .. out)
    return r, out
  end

  for _, loop in ipairs(LOOPS) do
    it("keeps " .. loop .. " running while ::1 hangs and 127.0.0.1 wins after the attempt delay", function()
      if not need(loop) then return end
      if not usable then return pending(reason) end
      local l6, l4, port = hanging_pair()
      if not l6 then return end
      local r, out = race(loop, "auto", port)
      assert.equal(loop, r.waiter, out)
      assert.equal("127.0.0.1", r.peer, out)
      local elapsed, ticks = tonumber(r.elapsed), tonumber(r.ticks)
      assert.is_true(elapsed >= 0.2 and elapsed < 1.0, out)
      assert.is_true(ticks >= 10, "the ticker ticked " .. ticks .. " times in " .. elapsed .. " s:\n" .. out)
      assert.truthy(l4:accept())
    end)

    it("blocks " .. loop .. " for the whole race with opts.waiter = the poll waiter (no ticks)", function()
      if not need(loop) then return end
      if not usable then return pending(reason) end
      local l6, l4, port = hanging_pair()
      if not l6 then return end
      local r, out = race(loop, "poll", port)
      assert.equal("poll", r.waiter, out)
      assert.equal("127.0.0.1", r.peer, out)
      assert.is_true(tonumber(r.elapsed) >= 0.2, out)
      assert.equal("0", r.ticks, out)
      assert.truthy(l4:accept())
    end)
  end
end)

-- ---- (b) listeners ----------------------------------------------------------

-- Opens a listener of kind on "*" port 0 with opts; its sockets.
local function listener(kind, opts)
  local open = kind == "tcp" and ds.listen or ds.udp_listen
  local l = keep(H.ok(open("*", 0, opts)))
  return l, select(2, l:getsockname())
end

-- The receive calls of a UDP listener and what each gives for "hello".
local UDP_OPS = {
  recvfrom = function(l) local data, addr = l:recvfrom(); return data, addr end,
  recvmsg = function(l)
    local m, err, code = l:recvmsg()
    if not m then return nil, err, code end
    return m.data, m.addr
  end,
  recvmmsg = function(l)
    local list, err, code = l:recvmmsg(4)
    if not list then return nil, err, code end
    return list[1].data, list[1].addr
  end,
}

-- Two sockets (one per family: dualstack = false) and one dual socket.
local MODELS = {
  { name = "a two-socket", opts = { dualstack = false }, count = 2 },
  { name = "a one-socket", opts = {}, count = nil },
}

describe("the waiter in listener waits", function()
  for _, loop in ipairs(LOOPS) do
    for _, model in ipairs(MODELS) do
      it("keeps " .. loop .. " running while " .. model.name .. " TCP listener waits in accept (client after 150 ms)", function()
        local got
        local env = RUNNERS[loop](function(env)
          local l, port = listener("tcp", model.opts)
          if model.count then assert.equal(model.count, #l:sockets()) end
          l:settimeout(2)
          env.spawn(function()
            env.sleep(0.15)
            keep(H.ok(ds.connect("127.0.0.1", port, { timeout = 2 })))
          end)
          local t0 = H.now()
          local c, err, code = l:accept()
          got = { elapsed = H.now() - t0, ticks = env.ticks, c = c and keep(c), err = err, code = code }
        end)
        if not env then return end
        assert.truthy(got.c, tostring(got.err) .. " " .. tostring(got.code))
        assert.equal("127.0.0.1", ds.unmap((got.c:getpeername())))
        assert.is_true(got.elapsed >= 0.12 and got.elapsed < 1, "accepted after " .. got.elapsed .. " s")
        assert.is_true(got.ticks >= 10, "the ticker ticked " .. got.ticks .. " times")
      end)
    end

    for name, op in pairs(UDP_OPS) do
      it("keeps " .. loop .. " running while a two-socket UDP listener waits in " .. name .. " (datagram after 150 ms)", function()
        local got
        local env = RUNNERS[loop](function(env)
          local l, port = listener("udp", { dualstack = false })
          assert.equal(2, #l:sockets())
          l:settimeout(2)
          env.spawn(function()
            env.sleep(0.15)
            local c = keep(H.socket("udp", "inet6"))
            H.ok(c:sendto("hello", "::1", port))
          end)
          local t0 = H.now()
          local data, addr, code = op(l)
          got = { elapsed = H.now() - t0, ticks = env.ticks, data = data, addr = addr, code = code }
        end)
        if not env then return end
        assert.equal("hello", got.data, tostring(got.addr) .. " " .. tostring(got.code))
        assert.equal("::1", got.addr)
        assert.is_true(got.elapsed >= 0.12 and got.elapsed < 1, "received after " .. got.elapsed .. " s")
        assert.is_true(got.ticks >= 10, "the ticker ticked " .. got.ticks .. " times")
      end)
    end

    for _, kind in ipairs { "tcp", "udp" } do
      it("times out a two-socket " .. kind .. " listener's wait on time under " .. loop .. ", the loop running", function()
        local got
        local env = RUNNERS[loop](function(env)
          local l = listener(kind, { dualstack = false })
          l:settimeout(0.3)
          local t0 = H.now()
          local r
          if kind == "tcp" then r = table.pack(l:accept()) else r = table.pack(l:recvfrom()) end
          got = { elapsed = H.now() - t0, ticks = env.ticks, r = r }
        end)
        if not env then return end
        assert.same({ n = 3, nil, "timeout", "ETIMEDOUT" }, got.r)
        assert.is_true(got.elapsed >= 0.28 and got.elapsed < 0.6, "timed out after " .. got.elapsed .. " s")
        assert.is_true(got.ticks >= 15, "the ticker ticked " .. got.ticks .. " times")
      end)
    end

    it("blocks " .. loop .. " in a listener's wait with opts.waiter = the poll waiter (no ticks)", function()
      local got
      local env = RUNNERS[loop](function(env)
        local l = listener("tcp", { dualstack = false, waiter = ds.waiters.poll })
        l:settimeout(0.3)
        local t0 = H.now()
        local r = table.pack(l:accept())
        got = { elapsed = H.now() - t0, ticks = env.ticks, r = r }
      end)
      if not env then return end
      assert.same({ n = 3, nil, "timeout", "ETIMEDOUT" }, got.r)
      assert.is_true(got.elapsed >= 0.28, "timed out after " .. got.elapsed .. " s")
      assert.equal(0, got.ticks)
    end)
  end

  it("ds.wait waits on a settimeout(0) socket through the loop", function()
    local got
    local env = RUNNERS.cqueues(function(env)
      local u, port = H.udp_bound("inet", "127.0.0.1")
      keep(u)
      u:settimeout(0)
      env.spawn(function()
        env.sleep(0.15)
        local c = keep(H.socket("udp", "inet"))
        H.ok(c:sendto("x", "127.0.0.1", port))
      end)
      local t0 = H.now()
      local first = table.pack(ds.wait(u, 0.05))
      local ok = ds.wait(u, 2)
      got = { first = first, ok = ok, elapsed = H.now() - t0, ticks = env.ticks, data = u:recvfrom() }
    end)
    if not env then return end
    assert.same({ n = 3, nil, "timeout", "ETIMEDOUT" }, got.first)
    assert.is_true(got.ok)
    assert.equal("x", got.data)
    assert.is_true(got.elapsed >= 0.12 and got.elapsed < 1, "woke after " .. got.elapsed .. " s")
    assert.is_true(got.ticks >= 10, "the ticker ticked " .. got.ticks .. " times")
  end)
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
    local ok, err = pcall(RUNNERS.cqueues, function(env)
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
    local ok, err = pcall(RUNNERS.cqueues, function()
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

describe("the waiter's choice", function()
  it("is poll outside any loop, cqueues inside a cqueues coroutine, luv inside ds.luv.spawn", function()
    local wait = require "dualstack.wait"
    assert.equal("poll", wait.current().name)
    local names = {}
    local env = RUNNERS.cqueues(function()
      names.cqueues = wait.current().name
      names.nested = coroutine.wrap(function() return wait.current().name end)()
      names.explicit = wait.current({ waiter = ds.waiters.poll }).name
    end)
    if not env then return end
    assert.same({ cqueues = "cqueues", nested = "poll", explicit = "poll" }, names)
    env = RUNNERS.luv(function() names.luv = wait.current().name end)
    if not env then return end
    assert.equal("luv", names.luv)
    local old = ds.setwaiter(ds.waiters.poll)
    finally(function() ds.setwaiter(old) end)
    env = RUNNERS.luv(function() names.set = wait.current().name end)
    assert.equal("poll", names.set)
  end)

  it("reports an error raised in a ds.luv.spawn coroutine from ds.luv.run", function()
    local uv = need("luv")
    if not uv then return end
    local t = uv.new_timer()
    t:start(0, 0, function()
      t:close()
      ds.luv.spawn(function()
        require("dualstack.wait").luv.sleep(0.01)
        error("boom in a coroutine")
      end)
    end)
    local ok, err = pcall(ds.luv.run)
    uv.run("nowait")
    assert.is_false(ok)
    assert.matches("boom in a coroutine", err)
    assert.matches("stack traceback", err)
  end)
end)
