-- ds.connect: resolution and Happy Eyeballs v2 (RFC 8305) over loopback.
-- A connection attempt that hangs is made honestly: a listener with
-- listen(1) whose accept queue is already full drops further SYNs, so a
-- connect to it waits (Linux retries the SYN after a second).
local H = require "helpers"
local cleanup = require "cleanup"
local N = require "namespace"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

-- A listener on host with backlog 1, on port (0 = any); returns it and its port.
local function small_listener(family, host, port)
  local l = keep(H.socket("tcp", family))
  H.ok(l:bind(host, port or 0))
  H.ok(l:listen(1))
  return l, select(2, l:getsockname())
end

-- A listener on host whose every new connection attempt hangs.
local function hanging_listener(family, host, port)
  local l, p = small_listener(family, host, port)
  if not H.fill_backlog(family, host, p) then
    pending("a full accept queue does not hold back connects on this kernel")
    return nil
  end
  return l, p
end

-- Checks that c reached listener l: accept it and exchange a line.
local function assert_connected(c, l)
  local a = keep(H.ok(l:accept()))
  a:settimeout(H.WAIT)
  assert.equal(3, c:send("hi\n"))
  assert.equal("hi", a:receive("*l"))
  assert.equal(4, a:send("yes\n"))
  c:settimeout(H.WAIT)
  assert.equal("yes", c:receive("*l"))
end

local function timed_connect(host, port, opts)
  local elapsed, _, s, err, code = H.timed(function() return ds.connect(host, port, opts) end)
  if s then keep(s) end
  return elapsed, s, err, code
end

describe("ds.connect", function()
  it("reaches 'localhost' with only 127.0.0.1 listening in well under a second", function()
    local l, port = H.listener("inet", "127.0.0.1")
    keep(l)
    local elapsed, c, err = timed_connect("localhost", port, { timeout = H.WAIT })
    assert(c, err)
    assert.is_true(elapsed < 0.5, "took " .. elapsed .. " s")
    assert.same({ "127.0.0.1", port }, { c:getpeername() })
    assert_connected(c, l)
  end)

  local NUMERIC = {
    { host = "::1", family = "inet6" },
    { host = "127.0.0.1", family = "inet" },
  }
  for _, case in ipairs(NUMERIC) do
    it("connects to numeric " .. case.host .. " and returns a blocking socket", function()
      local l, port = H.listener("dual", "*")
      keep(l)
      local elapsed, c, err = timed_connect(case.host, port, { timeout = H.WAIT })
      assert(c, err)
      assert.is_true(elapsed < 0.5, "took " .. elapsed .. " s")
      assert.equal(case.family, c:getfamily())
      assert.same({ case.host, port }, { c:getpeername() })
      assert.is_nil(c:gettimeout())
      assert_connected(c, l)
    end)
  end

  it("connects without a timeout option", function()
    local l, port = H.listener("inet", "127.0.0.1")
    keep(l)
    local _, c, err = timed_connect("127.0.0.1", port)
    assert(c, err)
    assert_connected(c, l)
  end)

  for _, host in ipairs({ "127.0.0.1", "::1", "localhost" }) do
    it("gives nil, message, ECONNREFUSED at once for a closed port on " .. host, function()
      local port = H.closed_port("dual", "*")
      local elapsed, c, err, code = timed_connect(host, port, { timeout = H.WAIT })
      assert.is_nil(c)
      assert.is_string(err)
      assert.equal("ECONNREFUSED", code)
      assert.is_true(elapsed < 0.5, "took " .. elapsed .. " s")
    end)
  end

  it("honours opts.timeout against a peer that never answers, and closes its attempt", function()
    local why = H.needs_proc_fds("counting sockets"); if why then return pending(why) end
    local l, port = hanging_listener("inet", "127.0.0.1")
    if not l then return end
    local before = H.socket_fds()
    local elapsed, c, err, code = timed_connect("127.0.0.1", port, { timeout = 0.3 })
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { c, err, code })
    assert.is_true(elapsed >= 0.28, "returned early: " .. elapsed)
    assert.is_true(elapsed < 1.0, "took " .. elapsed .. " s")
    assert.equal(before, H.socket_fds())
  end)

  it("gives nil, message and an EAI_ code for a name that does not resolve", function()
    local elapsed, c, err, code = timed_connect("nonexistent.invalid", 80, { timeout = H.WAIT })
    assert.is_nil(c)
    assert.is_string(err)
    assert.matches("^EAI_", code)
    assert.is_true(elapsed < H.WAIT + 0.5)
  end)
end)

-- Happy Eyeballs needs a name with both an IPv6 and an IPv4 address. The
-- host's /etc/hosts may have none, so a child in a private mount namespace
-- gets its own /etc/hosts; the listeners stay in this process.
local CHILD = [[
local ds = require "dualstack"
local t0 = ds.monotime()
local s, err, code = ds.connect("dualhost", PORT, { timeout = TIMEOUT })
report("elapsed", ds.monotime() - t0)
if s then
  report("peer", (s:getpeername()))
  report("family", s:getfamily())
else
  report("err", err)
  report("code", code)
end
]]

local HOSTS = "::1 dualhost\n127.0.0.1 dualhost\n"

describe("ds.connect Happy Eyeballs on a name with ::1 and 127.0.0.1", function()
  local usable, reason = N.available("-m")
  local hosts_file

  lazy_setup(function()
    hosts_file = os.tmpname()
    local f = assert(io.open(hosts_file, "w"))
    f:write(HOSTS)
    f:close()
  end)
  lazy_teardown(function() os.remove(hosts_file) end)

  -- Runs the child's connect to dualhost:port; returns its reported values.
  local function race(port, timeout)
    local script = CHILD:gsub("PORT", tostring(port)):gsub("TIMEOUT", tostring(timeout))
    local setup = "mount --bind " .. hosts_file .. " /etc/hosts || exit 1"
    local r, out = N.run("-m", setup, script)
    assert(r.elapsed, "child failed:\n" .. out)
    r.elapsed = tonumber(r.elapsed)
    return r, out
  end

  local function check(name, fn)
    it(name, function()
      if not usable then return pending(reason) end
      fn()
    end)
  end

  -- Peers that answer or refuse at once: the race must end at once too
  -- (a refused attempt starts the next without the attempt delay).
  local QUICK = {
    { name = "prefers IPv6 when both families answer", family = "dual", host = "*", peer = "::1" },
    { name = "falls back to IPv4 at once when IPv6 is refused", family = "inet",
      host = "127.0.0.1", peer = "127.0.0.1" },
    { name = "uses IPv6 when IPv4 is refused", family = "inet6", host = "::1", peer = "::1" },
  }
  for _, case in ipairs(QUICK) do
    check(case.name, function()
      local l, port = H.listener(case.family, case.host)
      keep(l)
      local r, out = race(port, H.WAIT)
      assert.equal(case.peer, r.peer, out)
      assert.is_true(r.elapsed < 0.2, "took too long: " .. out)
    end)
  end

  check("starts IPv4 after the 250 ms attempt delay while IPv6 hangs", function()
    local l6, l4, port = H.hanging_pair()
    if not l6 then return pending(l4) end
    local r, out = race(port, H.WAIT)
    assert.equal("127.0.0.1", r.peer, out)
    assert.is_true(r.elapsed >= 0.2, "IPv4 started before the attempt delay: " .. out)
    assert.is_true(r.elapsed < 0.6, "IPv4 started late: " .. out)
    assert.truthy(l4:accept())
  end)

  check("gives timeout when every attempt hangs", function()
    local l6, l4, port = H.hanging_pair()
    if not l6 then return pending(l4) end
    assert.is_true(H.fill_backlog("inet", "127.0.0.1", port))
    local r, out = race(port, 0.5)
    assert.equal("ETIMEDOUT", r.code, out)
    assert.equal("timeout", r.err, out)
    assert.is_true(r.elapsed >= 0.48 and r.elapsed < 1.0, out)
    assert.truthy(l4)
  end)
end)
