-- What the module takes from the system and from Lua (issue 11): system
-- results freed on every path, a lack of descriptors never read as a lack
-- of IPv4, sizes and timeouts from Lua bounded before C uses them, and
-- Happy Eyeballs waits that never turn into "for ever".
local H = require "helpers"
local N = require "namespace"
local core = require "dualstack.core"
local helper = require "spec.testhelp"
local ds = H.ds

local cleanup = require "spec.cleanup"
after_each(cleanup.close_all)

local keep = cleanup.keep

local function settle()
  collectgarbage()
  collectgarbage()
end

-- ---- ownership of getaddrinfo and getifaddrs results ----------------------

describe("system results under memory errors", function()
  local ROUNDS = 5 -- each cut is repeated: one leak is a few hundred bytes
  local SLACK = 2048 -- what the Lua heap itself may drift by

  -- Runs fn(...) with n = 0, 1, 2, ... allocations allowed until it
  -- succeeds; returns the growth of the C heap over all the failed calls,
  -- how many there were, and the first error that was not Lua's memory
  -- error. Nothing in the loop allocates but the calls under test (the
  -- asserts come after the second count).
  local function cuts(fn, ...)
    assert(pcall(fn, ...)) -- warm up: nss and getaddrinfo keep caches
    settle()
    local before, failed, wrong = helper.heap(), 0, nil
    for n = 0, 500 do
      local done = false
      for _ = 1, ROUNDS do
        local ok, err = helper.failcall(n, fn, ...)
        if ok then
          done = true
          break
        end
        if err ~= "not enough memory" then wrong = wrong or err end
        failed = failed + 1
      end
      if done then break end
    end
    settle()
    local grew = helper.heap() - before
    assert.is_nil(wrong)
    assert.is_true(failed > 0)
    assert.is_true(grew < SLACK, "the C heap grew by " .. grew .. " bytes over " .. failed .. " failed calls")
  end

  it("recvfrom without memory for its buffer raises and leaves the datagram queued", function()
    -- A 64 KiB receive needs the socket's own buffer, the one allocation
    -- before the system call: it fails (after a full collection), nothing
    -- is read, and the next receive gets the datagram.
    local s = keep(H.socket("udp", "inet"))
    assert(s:bind("127.0.0.1", 0))
    s:settimeout(2)
    local client = keep(H.socket("udp", "inet"))
    assert(client:sendto("queued", "127.0.0.1", select(2, s:getsockname())))
    assert.same({ false, "not enough memory" }, { helper.failcall(0, s.recvfrom, s) })
    local data, from = s:recvfrom()
    assert.same({ "queued", "127.0.0.1" }, { data, from })
  end)

  -- Why the C heap cannot be counted here (testhelp.heap needs glibc's
  -- mallinfo2: Windows and musl have none), or nil.
  local function heap_missing()
    local bytes, why = helper.heap()
    if not bytes then return "counting the C heap: " .. why end
  end

  it("free what getaddrinfo returned for a name", function()
    local why = heap_missing(); if why then return pending(why) end
    cuts(core.getaddrinfo, "localhost")
  end)

  it("free what getaddrinfo returned for a numeric host and port", function()
    local why = heap_missing(); if why then return pending(why) end
    cuts(core.getaddrinfo, "127.0.0.1", 80)
  end)

  it("free what getifaddrs returned", function()
    local why = heap_missing(); if why then return pending(why) end
    cuts(core.interfaces)
  end)

  it("still give the whole result once memory is there", function()
    local list = H.ok(core.getaddrinfo("127.0.0.1", 80, { socktype = "stream" }))
    assert.same({ "inet", "127.0.0.1", 80, "stream" },
      { list[1].family, list[1].addr, list[1].port, list[1].socktype })
    local lo
    for _, i in ipairs(H.ok(core.interfaces())) do
      if i.flags.loopback then lo = i end
    end
    assert.is_table(lo)
    assert.is_true(#lo.addrs > 0)
  end)
end)

-- ---- out of descriptors is not "no IPv4" ------------------------------------

describe("out of descriptors", function()
  -- The child holds every descriptor its limit allows, then asks.
  local SCRIPT = [[
local ds = require "dualstack"
local held = {}
while true do
  local f = io.open("/dev/null")
  if not f then break end
  held[#held + 1] = f
end
report("held", #held)
local function show(name, ...)
  local r = table.pack(...)
  report(name, string.format("%s|%s|%s", tostring(r[1]), tostring(r[2]), tostring(r[3])))
end
show("has_ipv4", ds.has_ipv4())
show("has_ipv6", ds.has_ipv6())
show("has_dualstack", ds.has_dualstack())
show("listen", ds.listen("*", 0))
show("udp_listen", ds.udp_listen("*", 0))
show("listen_nodual", ds.listen("*", 0, { dualstack = false }))
held[1]:close()
show("has_ipv4_after", ds.has_ipv4())
show("has_dualstack_after", ds.has_dualstack())
]]

  local r, out
  setup(function()
    if not H.WINDOWS then r, out = N.run("", "ulimit -n 32", SCRIPT) end
  end)

  local EMFILE = "nil|too many open files|EMFILE"

  it("is reported by has_ipv4, has_ipv6 and has_dualstack as EMFILE", function()
    local why = H.needs_posix("a child lua5.4 under ulimit -n 32"); if why then return pending(why) end
    assert.is_not_nil(r.held, out)
    assert.same({ EMFILE, EMFILE, EMFILE }, { r.has_ipv4, r.has_ipv6, r.has_dualstack }, out)
  end)

  it("is reported by listen and udp_listen on the wildcard as EMFILE", function()
    local why = H.needs_posix("a child lua5.4 under ulimit -n 32"); if why then return pending(why) end
    assert.same({ EMFILE, EMFILE, EMFILE }, { r.listen, r.udp_listen, r.listen_nodual }, out)
  end)

  it("ends with a free descriptor: the probes answer true again", function()
    local why = H.needs_posix("a child lua5.4 under ulimit -n 32"); if why then return pending(why) end
    assert.same({ "true|nil|nil", "true|nil|nil" }, { r.has_ipv4_after, r.has_dualstack_after }, out)
  end)

  it("leaves the answers booleans on a host with both families", function()
    assert.same({ true, true, true }, { ds.has_ipv4(), ds.has_ipv6(), ds.has_dualstack() })
  end)
end)

-- ---- sizes from Lua ---------------------------------------------------------

describe("descriptor lists whose length is absurd", function()
  -- H.huge_border: 8 * (2^61 + 1) bytes of pollfd wraps around to 8.
  local sparse = H.huge_border

  local function raise_message(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    return err
  end

  it("are refused by core.poll naming the argument", function()
    local s = keep(H.socket("udp", "inet"))
    local fd = s:getfd()
    assert.equal(1 << 61, #sparse(fd))
    assert.matches("bad argument #1 to 'poll' %(too many descriptors%)$",
      raise_message(function() return core.poll(sparse(fd), {}, 0) end))
    assert.matches("bad argument #2 to 'poll' %(too many descriptors%)$",
      raise_message(function() return core.poll({}, sparse(fd), 0) end))
  end)

  it("are refused by dualstack.select naming the argument", function()
    local s = keep(H.socket("udp", "inet"))
    assert.matches("bad argument #1 to 'select' %(too many descriptors%)$",
      raise_message(function() return ds.select(sparse(s), {}, 0) end))
    assert.matches("bad argument #2 to 'select' %(too many descriptors%)$",
      raise_message(function() return ds.select({}, sparse(s), 0) end))
  end)

  it("still poll at the documented maximum's scale", function()
    local s = keep(H.socket("udp", "inet"))
    local fd, many = s:getfd(), {}
    for i = 1, 1000 do many[i] = fd end
    local _, w = H.ok(core.poll({}, many, 0))
    assert.is_true(w[fd])
  end)
end)

-- ---- long timeouts ------------------------------------------------------------

describe("timeouts of weeks", function()
  it("in core.poll return as soon as a descriptor is ready", function()
    local s = keep(H.socket("udp", "inet"))
    local elapsed, _, r, w = H.timed(function() return core.poll({}, { s:getfd() }, 3e6) end)
    assert.same({}, r)
    assert.is_true(w[s:getfd()])
    assert.is_true(elapsed < 1, "took " .. elapsed .. " s")
  end)

  it("on a socket wait for data that comes later", function()
    local why = H.needs_posix("a child lua5.4 that sends later"); if why then return pending(why) end
    local s = keep(H.socket("udp", "inet"))
    H.ok(s:bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:settimeout(3e6)
    local child = io.popen(string.format(
      "sleep 0.2; lua5.4 -e 'package.cpath=\"build/?.so;\"..package.cpath " ..
      "local c = require \"dualstack.core\" local u = c.udp{family=\"inet\"} " ..
      "u:sendto(\"late\", \"127.0.0.1\", %d)'", port))
    local elapsed, _, data = H.timed(function() return s:receive() end)
    child:close()
    assert.equal("late", data)
    assert.is_true(elapsed < 5, "took " .. elapsed .. " s")
  end)
end)

-- ---- Happy Eyeballs -------------------------------------------------------------

describe("connect's timeout", function()
  it("raises naming connect's argument when it is not a number >= 0", function()
    local cases = { 0 / 0, "1", -1, {} }
    for _, t in ipairs(cases) do
      local ok, err = pcall(function() return ds.connect("127.0.0.1", 1, { timeout = t }) end)
      assert.is_false(ok)
      assert.matches("bad argument #3 to 'connect' %(timeout must be a number >= 0%)$", err)
    end
    local ok, err = pcall(function() return ds.connect("127.0.0.1", 1, "fast") end)
    assert.is_false(ok)
    assert.matches("bad argument #3 to 'connect' %(table expected, got string%)$", err)
  end)

  it("never asks poll to wait for ever when the deadline passes between two reads", function()
    -- A listener that never accepts, with its queue full: a further SYN is
    -- dropped, so the attempt stays in progress as one to a black hole would.
    local l = keep(H.socket("tcp", "inet"))
    H.ok(l:bind("127.0.0.1", 0))
    H.ok(l:listen(0))
    local _, port = l:getsockname()
    for _ = 1, 2 do
      local c = keep(H.socket("tcp", "inet"))
      c:settimeout(0)
      c:connect("127.0.0.1", port)
    end
    -- The clock moves 0.1 s per read: with timeout 0.45 the read that checks
    -- the deadline sees 0.4, the one that computes the wait sees 0.5.
    local real_now, real_poll = core.monotime, core.poll
    local t, waits = -0.1, {}
    core.monotime = function()
      t = t + 0.1
      return t
    end
    core.poll = function(r, w, timeout)
      waits[#waits + 1] = timeout
      return real_poll(r, w, 0)
    end
    finally(function() core.monotime, core.poll = real_now, real_poll end)
    local a, b, c = ds.connect("127.0.0.1", port, { timeout = 0.45 })
    core.monotime, core.poll = real_now, real_poll
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { a, b, c })
    assert.is_true(#waits > 0, "connect never polled")
    for _, w in ipairs(waits) do assert.is_true(w >= 0, "poll was asked to wait " .. w) end
  end)
end)

-- ---- arguments the Lua layers pass on to C ------------------------------------

describe("arguments checked where the caller can be named", function()
  local function raise_message(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    return err
  end

  it("select: a NaN timeout", function()
    assert.matches("bad argument #3 to 'select' %(timeout is NaN%)$",
      raise_message(function() return ds.select({}, {}, 0 / 0) end))
  end)

  it("select: an object whose getfd is not a descriptor", function()
    local odd = { getfd = function() end }
    assert.matches("bad argument #1 to 'select' %(getfd%(%) returned no descriptor%)$",
      raise_message(function() return ds.select({ odd }, {}, 0) end))
    local huge = { getfd = function() return 1 << 40 end }
    assert.matches("bad argument #2 to 'select' %(getfd%(%) returned no descriptor%)$",
      raise_message(function() return ds.select({}, { huge }, 0) end))
  end)

  it("select: LuaSocket's float descriptors still work", function()
    local s = keep(H.socket("udp", "inet"))
    local obj = { getfd = function() return s:getfd() + 0.0 end }
    local r, w = ds.select({}, { obj }, 0)
    assert.same({ {}, { obj, [obj] = 1 } }, { r, w })
  end)

  it("a listener's settimeout: NaN raises like a socket's", function()
    local l = H.ok(ds.udp_listen("127.0.0.1", 0))
    finally(function() l:close() end)
    assert.matches("bad argument #1 to 'settimeout' %(timeout is NaN%)$",
      raise_message(function() return l:settimeout(0 / 0) end))
    assert.matches("bad argument #1 to 'settimeout' %(number expected, got string%)$",
      raise_message(function() return l:settimeout("1") end))
    local s = keep(H.socket("udp", "inet"))
    assert.matches("bad argument #1 to 'settimeout' %(timeout is NaN%)$",
      raise_message(function() return s:settimeout(0 / 0) end))
  end)
end)

-- ---- the test helper's raw IPv6 sender ------------------------------------------

describe("testhelp.send_raw6", function()
  it("delivers UDP datagrams with a checksum the kernel accepts, from any source", function()
    local why = H.WINDOWS and "testhelp.send_raw6: Windows has no raw IPv6 socket that takes its own header (IPV6_HDRINCL)"
    if why then return pending(why) end
    local s = keep(H.socket("udp", "dual"))
    H.ok(s:bind("*", 0))
    local _, port = s:getsockname()
    local ok, err = helper.send_raw6("::1", "::1", 4242, port, "odd")
    if not ok and err:find("Operation not permitted", 1, true) then return pending("needs CAP_NET_RAW") end
    assert.same({ "odd", "::1", 4242 }, { s:recvfrom() })
    assert(helper.send_raw6("::1", "::1", 4243, port, "even", "lo"))
    assert.same({ "even", "::1", 4243 }, { s:recvfrom() })
    -- Any source: one that is no address of this host.
    assert(helper.send_raw6("2001:db8::7", "::1", 4244, port, "foreign"))
    assert.same({ "foreign", "2001:db8::7", 4244 }, { s:recvfrom() })
    assert.same({ nil, "SO_BINDTODEVICE: No such device" },
      { helper.send_raw6("::1", "::1", 1, port, "x", "nosuch0") })
  end)
end)
