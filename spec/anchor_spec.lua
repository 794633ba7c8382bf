-- Lua code run in the middle of a call: a message table's __index, or a
-- finalizer run by any allocation, may close the socket, receive or send
-- on it, edit the tables the call reads, and collect garbage. The call must
-- neither read freed memory (what it sends and what it returns stay
-- exactly right) nor fail other than cleanly. `make check-asan` runs these
-- under AddressSanitizer too.
local H = require "spec.helpers"
local cleanup = require "spec.cleanup"

local ok = H.ok
local keep = cleanup.keep

after_each(cleanup.close_all)

local udp = H.udp_kept

-- A long string (never interned, so its own object) with a unique body;
-- calling it twice gives two distinct strings of equal content.
local serial = 0
local function fresh_text(tag)
  serial = serial + 1
  return tag .. ":" .. ("x"):rep(200) .. ":" .. serial
end

-- Frees what is garbage and fills the freed memory with other strings of
-- the same size, so a pointer kept into a freed string reads junk.
local junk = {}
local function churn()
  collectgarbage()
  collectgarbage()
  for i = 1, 200 do junk[i] = ("J"):rep(210) .. i end
end

-- Runs fn while a chain of finalizers runs action over and over: the
-- collector takes a step at every allocation, and each finalizer re-arms
-- the next, so action runs inside fn's own allocations. Returns fn's
-- results and how many times action ran.
local function with_finalizers(action, fn)
  local armed, runs = true, 0
  local function arm()
    setmetatable({}, { __gc = function()
      if not armed then return end
      runs = runs + 1
      action()
      arm()
    end })
  end
  local restore = H.gc_incremental(1, 1000, 1, 2) -- a whole cycle per step
  collectgarbage()
  arm()
  local results = table.pack(pcall(fn))
  armed = false
  restore()
  collectgarbage()
  assert(results[1], results[2])
  return runs, table.unpack(results, 2, results.n)
end

-- Runs fn while the collector is calling a long queue of finalizers, each
-- of which runs action: count objects become garbage together, and fn starts
-- as soon as the first finalizer has run, so with a step at every
-- allocation fn's own allocations call the rest, a few at each. Unlike
-- with_finalizers (one finalizer per cycle), this does not depend on the
-- size of the heap, and so on which specs ran before. Returns how many
-- finalizers ran inside fn and fn's results.
local function during_finalizer_queue(count, action, fn)
  local armed, started, inside = false, false, 0
  local calling = false
  local mt = { __gc = function()
    if not armed then return end
    started = true
    if calling then inside = inside + 1 end
    action()
  end }
  local restore = H.gc_incremental(1, 100, 1, 8) -- a single step per step
  -- Held through a full cycle, then dropped: the next cycle finds them
  -- all garbage at once (made garbage while a cycle runs, some would be
  -- found, and finalized unarmed, before the rest).
  local held = {}
  for i = 1, count do held[i] = setmetatable({}, mt) end
  collectgarbage()
  held = nil -- luacheck: ignore (dropped for the collector)
  armed = true
  local spins = 0
  while not started and spins < 10000000 do
    local _ = { spins } -- an allocation: a step
    spins = spins + 1
  end
  calling = true
  local results = table.pack(pcall(fn))
  calling, armed = false, false
  restore()
  collectgarbage()
  assert(started, "the collector called no finalizer")
  assert(results[1], results[2])
  return inside, table.unpack(results, 2, results.n)
end

-- Whether datagrams wait on s (a finalizer's way to tell that the call it
-- interrupts has already taken the batch).
local function readable(s)
  if s:getfd() < 0 then return false end
  local ready = H.ds.poll({ s:getfd() }, {}, 0)
  return ready[s:getfd()] == true
end

describe("sendmsg with Lua code in the middle", function()
  it("sends the data it read even when __index drops it and collects", function()
    local server, port = udp("inet", "127.0.0.1")
    local client = udp("inet", "127.0.0.1")
    local expected = fresh_text("d")
    serial = serial - 1
    local msg = setmetatable({ data = fresh_text("d"), port = port }, {
      __index = function(t, k)
        if k ~= "addr" then return nil end
        rawset(t, "data", nil)
        churn()
        return "127.0.0.1"
      end })
    assert.equal(#expected, ok(client:sendmsg(msg)))
    assert.equal(expected, ok(server:recvfrom()))
  end)

  it("fails cleanly when __index closes the socket", function()
    local client = udp("dual", "*")
    local msg = setmetatable({ data = "x", port = 9 }, {
      __index = function(_, k)
        if k == "addr" then client:close() return "::1" end
      end })
    assert.same({ nil, "bad file descriptor", "EBADF" }, { client:sendmsg(msg) })
  end)

  it("reply fails cleanly when the request's __index closes the socket", function()
    local client = udp("dual", "*")
    local req = setmetatable({ addr = "::1", port = 9 }, {
      __index = function(_, k)
        if k == "dst" then client:close() return "::1" end
      end })
    assert.same({ nil, "bad file descriptor", "EBADF" }, { client:reply(req, "x") })
  end)
end)

describe("sendmmsg with Lua code in the middle", function()
  it("sends every message's own data while __index edits the list, collects and sends", function()
    local server, port = udp("inet", "127.0.0.1")
    server:settimeout(H.WAIT)
    local client = udp("inet", "127.0.0.1")
    local want = { fresh_text("a"), fresh_text("b"), fresh_text("c") }
    serial = serial - 3
    local list = { { data = fresh_text("a"), addr = "127.0.0.1", port = port } }
    list[2] = setmetatable({ data = fresh_text("b"), port = port }, {
      __index = function(t, k)
        if k ~= "addr" then return nil end
        rawset(list[1], "data", "edited")
        rawset(t, "data", nil)
        list[3].data = "edited too"
        -- A nested batch on the same socket, as a finalizer could send one.
        assert(client:sendmmsg { { data = "inner", addr = "127.0.0.1", port = port } })
        churn()
        return "127.0.0.1"
      end })
    list[3] = { data = fresh_text("c"), addr = "127.0.0.1", port = port }
    -- list[3] is built after list[2]'s __index edited it: its new data goes.
    want[3] = "edited too"
    assert.equal(3, ok(client:sendmmsg(list)))
    local got = {}
    for i = 1, 4 do got[i] = ok(server:recvfrom()) end
    assert.same({ "inner", want[1], want[2], want[3] }, got)
  end)
end)

describe("recvmmsg with finalizers in the middle", function()
  it("returns every datagram intact while finalizers receive on the same socket", function()
    local server, port = udp("dual", "*")
    local client = udp("inet", "127.0.0.1")
    local sent = {}
    for i = 1, 16 do
      sent[i] = fresh_text("q" .. i)
      ok(client:sendto(sent[i], "127.0.0.1", port))
    end
    server:settimeout(0)
    local late = 0
    local runs, batch = with_finalizers(function()
      -- Once the batch is taken (nothing left to read), a larger batch on
      -- the same socket: it needs a larger buffer than the call has.
      if readable(server) then return end
      late = late + 1
      assert.same({ nil, "timeout", "ETIMEDOUT" }, { server:recvmmsg(64, 65536) })
    end, function()
      return ok(server:recvmmsg(16, 2048))
    end)
    assert.is_true(runs > 0 and late > 0, "no finalizer ran after the batch arrived")
    local got = {}
    for i, m in ipairs(batch) do got[i] = m.data end
    assert.same(sent, got)
  end)

  it("recvmsg returns a large datagram intact while finalizers receive on the same socket", function()
    local server, port = udp("dual", "*")
    local client = udp("inet6", "::1")
    local sent = fresh_text("big") .. ("y"):rep(20000)
    ok(client:sendto(sent, "::1", port))
    server:settimeout(0)
    local late = 0
    local runs, m = with_finalizers(function()
      if readable(server) then return end
      late = late + 1
      assert.same({ nil, "timeout", "ETIMEDOUT" }, { server:recvmsg(65536) })
    end, function()
      return ok(server:recvmsg(30000))
    end)
    assert.is_true(runs > 0 and late > 0, "no finalizer ran after the datagram arrived")
    assert.equal(sent, m.data)
  end)

  -- Per server family: the client's bind address, the address it queries,
  -- and the server's addr and dst texts for it.
  local MIXED = {
    { family = "inet", client = "inet", bind = "127.0.0.1", to = "127.0.0.2",
      addr = "127.0.0.1", dst = "127.0.0.2" },
    { family = "dual", client = "inet", bind = "127.0.0.1", to = "127.0.0.2",
      addr = "::ffff:127.0.0.1", dst = "::ffff:127.0.0.2" },
    { family = "inet6", client = "inet6", bind = "::1", to = "::1", addr = "::1", dst = "::1" },
  }
  for _, f in ipairs(MIXED) do
    it(f.family .. ": a finalizer receiving into the same list from another socket leaves "
      .. "each table one datagram's, and reply answers it from its own dst", function()
      local why = H.needs_timestampns("the timestamp option"); if why then return pending(why) end
      local why = f.to == "127.0.0.2" and H.needs_send_source("the reply from 127.0.0.2")
      if why then return pending(why) end
      -- bare (pktinfo only) and full (every receive option) both listen
      -- on "*"; the client sends two 100-byte queries to bare and "other"
      -- to full. A finalizer receives full's datagram into the very list
      -- bare's recvmmsg is filling, as soon as the list holds a table. Before the
      -- fix a half-filled new table was in the list: the inner call filled
      -- it with full's fields, and the outer one, which skips the nil
      -- stores of a new table, left full's hoplimit... beside bare's data.
      -- Now a new table joins the list only when all are filled, so either
      -- call's result is whole.
      local bare, bport = udp(f.family, "*", { pktinfo = true })
      local full, fport = udp(f.family, "*")
      local stamped = not H.WINDOWS -- Windows has no timestamp option
      for _, o in ipairs { "pktinfo", "recvhoplimit", "recvtclass", stamped and "timestamp" or nil } do
        ok(full:setoption(o, true))
      end
      local client, cport = udp(f.client, f.bind)
      client:settimeout(H.WAIT)
      local queries = { ("q"):rep(99) .. "1", ("q"):rep(99) .. "2" }
      for _, q in ipairs(queries) do ok(client:sendto(q, f.to, bport)) end
      ok(client:sendto("other", f.to, fport))
      bare:settimeout(H.WAIT)
      full:settimeout(H.WAIT)
      local list, inner = {}, nil
      local runs, got = during_finalizer_queue(20000, function()
        if inner or rawget(list, 1) == nil then return end
        inner = table.pack(full:recvmmsg(1, 2048, list))
      end, function()
        return ok(bare:recvmmsg(4, 2048, list))
      end)
      -- Now the list holds no table while bare's call fills: the finalizer
      -- receives only after it (or not at all, when none is left to run).
      assert.is_true(runs > 0, "no finalizer ran")
      if inner then assert.same({ n = 1, list }, inner) end
      assert.equal(list, got)
      -- The finalizer ran while the second query was taken (both are
      -- there) or after (its receive trimmed the list to its one).
      local want_data = { { queries[1], "other" }, { queries[2] } }
      assert.is_true(#list == 1 or #list == 2, "list of " .. #list)
      for i, m in ipairs(list) do
        assert.is_truthy(m.data == want_data[i][1] or m.data == want_data[i][2], "list[" .. i .. "]")
        -- Whichever datagram a table holds, it holds only that one's fields.
        local want = { data = m.data, addr = f.addr, port = cport, size = 100, truncated = false,
          ctruncated = false, dst = f.dst, ifindex = H.LO }
        local from = f.to
        local copy = {}
        for k, v in pairs(m) do copy[k] = v end
        if m.data == "other" then
          want.size, want.hoplimit, want.tclass, want.ecn = 5, 64, 0, 0
          if stamped then assert.equal("number", type(copy.timestamp)) end
          copy.timestamp = nil
          from = f.to
        end
        assert.same(want, copy)
        assert.equal(7, ok(bare:reply(m, "answer" .. i)))
        assert.same({ "answer" .. i, from, bport }, { client:recvfrom() })
      end
    end)
  end

  it("returns a list of exactly what arrived when a finalizer fills the same list longer", function()
    -- a has one datagram, b three. While a's recvmmsg fills the list, a
    -- finalizer receives b's three into it. Before the fix, a's call
    -- cleared only as far as the list went when it started, so the list
    -- came back with b's datagrams after a's, and replymmsg through a
    -- answered b's clients from a's port.
    local a, aport = udp("inet", "127.0.0.1")
    local b, bport = udp("inet", "127.0.0.1")
    local client, cport = udp("inet", "127.0.0.1")
    a:settimeout(H.WAIT)
    b:settimeout(H.WAIT)
    ok(client:sendto("for-a", "127.0.0.1", aport))
    for i = 1, 3 do ok(client:sendto("for-b" .. i, "127.0.0.1", bport)) end
    local list, inner, outer = {}, nil, false
    local _, got = during_finalizer_queue(20000, function()
      if outer and not inner then inner = table.pack(b:recvmmsg(3, 2048, list)) end
    end, function()
      outer = true
      local r = ok(a:recvmmsg(4, 2048, list))
      outer = false
      return r
    end)
    assert.is_truthy(inner, "no finalizer received into the list during the call")
    assert.same({ n = 1, list }, inner)
    assert.equal(list, got)
    assert.same({ 1, "for-a", cport }, { #list, list[1].data, list[1].port })
    assert.is_nil(rawget(list, 2))
  end)

  it("finishes its batch when a finalizer closes the socket", function()
    local server, port = udp("dual", "*")
    local client = udp("inet", "127.0.0.1")
    for i = 1, 8 do ok(client:sendto("m" .. i, "127.0.0.1", port)) end
    local closed = false
    local runs, batch = with_finalizers(function()
      if closed or readable(server) then return end
      closed = true
      server:close()
    end, function()
      return ok(server:recvmmsg(8))
    end)
    assert.is_true(runs > 0 and closed, "no finalizer ran after the batch arrived")
    assert.equal(8, #batch)
    assert.equal("m8", batch[8].data)
    assert.equal("udp{closed}", tostring(server))
  end)
end)
