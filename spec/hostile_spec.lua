-- Hostile input (issue 6): every public function is thrown bad values --
-- wrong types, nil, bad ports, malformed addresses, bad sizes, bad message
-- tables, closed sockets. Each case must end in a clear Lua error (raised,
-- naming the problem) or in nil, message[, code]; and the process lives.
-- Every case is one row of a table, checked by one function.
local H = require "helpers"
local ds = H.ds

local NAN, INF = 0 / 0, math.huge
local HUGE = 2 ^ 53 -- a float with an integer value past every real limit
local LONG = string.rep("1:", 3000) -- overlong numeric text

-- ---- what a row expects ---------------------------------------------------

-- raise(fragment): the call raises and the message contains fragment.
local function raise(fragment) return { raise = fragment } end
-- fail(code): the call returns nil, a message containing fragment (when
-- given) and, last, the code (false: no code, for the address helpers);
-- send and receive put their partial result between message and code.
local function fail(code, fragment) return { fail = code, fragment = fragment } end
-- refuse(fragment): either of the two, the message containing fragment.
local function refuse(fragment) return { refuse = fragment } end
-- value(check): the call returns normally and check(results...) holds.
local function value(check) return { value = check } end

local function show(r)
  local t = {}
  for i = 1, r.n do t[#t + 1] = string.format("%q", tostring(r[i])):sub(1, 200) end
  return table.concat(t, ", ")
end

local function has(text, fragment)
  return type(text) == "string" and (fragment == nil or text:find(fragment, 1, true) ~= nil)
end

-- Runs call under pcall and checks the outcome against expect.
local function check(call, expect)
  local r = table.pack(pcall(call))
  local raised, returned_nil = not r[1], r[1] and r[2] == nil
  if expect.raise then
    assert(raised, "expected an error naming '" .. expect.raise .. "', got: " .. show(r))
    assert(has(r[2], expect.raise), "error does not name '" .. expect.raise .. "': " .. show(r))
  elseif expect.fail ~= nil then
    assert(returned_nil, "expected nil, message, " .. tostring(expect.fail) .. "; got: " .. show(r))
    assert(has(r[3], expect.fragment) and #r[3] > 0, "unclear message: " .. show(r))
    local code = r.n >= 4 and r[r.n] or nil
    assert(code == (expect.fail or nil), "expected code " .. tostring(expect.fail) .. ": " .. show(r))
  elseif expect.refuse ~= nil then
    assert(raised or returned_nil, "expected a refusal naming '" .. expect.refuse .. "', got: " .. show(r))
    assert(has(r[raised and 2 or 3], expect.refuse), "refusal does not name '" .. expect.refuse .. "': " .. show(r))
  else
    assert(r[1], "raised: " .. tostring(r[2]))
    expect.value(table.unpack(r, 2, r.n))
  end
end

-- Registers rows {name, call, expect} as one busted case each.
local function rows(list)
  for _, row in ipairs(list) do
    it(row[1], function() check(row[2], row[3]) end)
  end
end

-- ---- fixtures ------------------------------------------------------------------

-- Sockets a case opens, closed after it.
local open = {}
after_each(function()
  H.close_all(open)
  open = {}
end)

local function sock(kind, family)
  local s = H.ok(ds[kind]({ family = family or "dual" }))
  s:settimeout(0) -- nothing in this file may wait
  open[#open + 1] = s
  return s
end

-- A UDP socket on ::1 with one datagram of n bytes waiting for it.
local function udp_with_datagram(n)
  local r = sock("udp")
  H.ok(r:bind("::1", 0))
  local _, port = r:getsockname()
  H.ok(sock("udp"):sendto(string.rep("d", n), "::1", port))
  r:settimeout(H.WAIT)
  return r, port
end

-- Bad port values and what each must be called.
local BAD_PORTS = {
  { -1, "port out of range" }, { 65536, "port out of range" },
  { HUGE, "port out of range" }, { math.maxinteger, "port out of range" },
  { NAN, "no integer representation" }, { INF, "no integer representation" },
  { -INF, "no integer representation" }, { 1.5, "no integer representation" },
  { "80x", "number expected" }, { {}, "number expected" }, { true, "number expected" },
}

-- Malformed numeric addresses and what each must be called.
local BAD_ADDRS = {
  { ":::", "malformed IPv6 address" }, { "1.2.3", "malformed IPv4 address" },
  { "::ffff:999.1.1.1", "malformed IPv6 address" }, { "1.2.3.4.5", "malformed IPv4 address" },
  { "256.1.1.1", "malformed IPv4 address" }, { LONG, "address too long" },
  { "::1\0", "NUL" }, { "127.0.0.1\0junk", "NUL" }, { "", "empty address" },
  { "fe80::1%", "empty zone" }, { "fe80::1%nosuchif0", "unknown interface" },
  { "127.0.0.1%lo", "needs an IPv6 address" },
  { "fe80::1%" .. string.rep("x", 40), "interface name too long" },
  { "fe80::1%99999999999", "zone index out of range" },
}

local function port_text(v)
  return type(v) == "number" and string.format("%.17g", v) or tostring(v)
end

-- ---- constructors and module functions -----------------------------------

describe("hostile: socket constructors", function()
  for _, kind in ipairs({ "tcp", "udp" }) do
    rows({
      { kind .. "('dual')", function() return ds[kind]("dual") end, raise("table expected") },
      { kind .. "(5)", function() return ds[kind](5) end, raise("table expected") },
      { kind .. "{family='x'}", function() return ds[kind]({ family = "x" }) end, raise("family") },
      { kind .. "{family=6}", function() return ds[kind]({ family = 6 }) end, raise("family") },
      { kind .. "{family=true}", function() return ds[kind]({ family = true }) end, raise("family") },
    })
  end
end)

describe("hostile: address helpers", function()
  for _, name in ipairs({ "normalize", "family", "pton", "map", "unmap" }) do
    rows({
      { name .. "(nil)", function() return ds[name](nil) end, raise("string expected") },
      { name .. "({})", function() return ds[name]({}) end, raise("string expected") },
    })
    for _, bad in ipairs(BAD_ADDRS) do
      rows({ { name .. "(" .. bad[1]:sub(1, 30) .. ")", function() return ds[name](bad[1]) end,
               fail(false, bad[2]) } })
    end
  end
  rows({
    { "is_mapped(':::') is false", function() return ds.is_mapped(":::") end,
      value(function(v) assert.is_false(v) end) },
    { "is_mapped(LONG) is false", function() return ds.is_mapped(LONG) end,
      value(function(v) assert.is_false(v) end) },
    { "is_mapped(nil)", function() return ds.is_mapped(nil) end, raise("string expected") },
    { "same('::1')", function() return ds.same("::1") end, raise("string expected") },
    { "same('::1', ':::')", function() return ds.same("::1", ":::") end, fail(false, "malformed") },
    { "map('::1')", function() return ds.map("::1") end, fail(false, "not an IPv4 address") },
    { "ntop('')", function() return ds.ntop("") end, fail(false, "4 or 16 bytes") },
    { "ntop(5 bytes)", function() return ds.ntop("12345") end, fail(false, "4 or 16 bytes") },
    { "ntop(17 bytes)", function() return ds.ntop(string.rep("\0", 17)) end, fail(false, "4 or 16 bytes") },
    { "ntop({})", function() return ds.ntop({}) end, raise("string expected") },
    -- A zone index is a 32-bit sin6_scope_id: what the kernel reports (and
    -- ds_ntop prints as digits when no interface has it) must parse back.
    -- Found by fuzz/addr_fuzz.c.
    { "normalize of the largest zone index", function() return ds.normalize("fe80::1%4294967295") end,
      value(function(text) assert.equal("fe80::1%4294967295", text) end) },
    { "normalize of zone index 2^24", function() return ds.normalize("fe80::1%16777216") end,
      value(function(text) assert.equal("fe80::1%16777216", text) end) },
    { "normalize of zone index 2^32", function() return ds.normalize("fe80::1%4294967296") end,
      fail(false, "zone index out of range") },
  })
end)

describe("hostile: name and interface functions", function()
  for _, bad in ipairs(BAD_PORTS) do
    if type(bad[1]) == "number" then
      rows({ { "getaddrinfo('::1', " .. port_text(bad[1]) .. ")",
               function() return ds.getaddrinfo("::1", bad[1]) end, raise(bad[2]) } })
    end
    rows({ { "getnameinfo('::1', " .. port_text(bad[1]) .. ")",
             function() return ds.getnameinfo("::1", bad[1]) end, raise(bad[2]) } })
  end
  rows({
    { "getaddrinfo(nil, nil)", function() return ds.getaddrinfo(nil, nil) end, raise("host or port") },
    { "getaddrinfo({})", function() return ds.getaddrinfo({}) end, raise("string expected") },
    { "getaddrinfo service '80x'", function() return ds.getaddrinfo("::1", "80x") end, fail("EAI_SERVICE") },
    { "getaddrinfo opts 'x'", function() return ds.getaddrinfo("::1", 80, "x") end, raise("table expected") },
    { "getaddrinfo family 'bogus' names the field", function()
        return ds.getaddrinfo("::1", 80, { family = "bogus" }) end, raise("family") },
    { "getaddrinfo socktype 'bogus' names the field", function()
        return ds.getaddrinfo("::1", 80, { socktype = "bogus" }) end, raise("socktype") },
    -- A NUL ends the text for the C library: "localhost\0.example.com" must
    -- not quietly become "localhost" (a name check done on the whole string
    -- would be bypassed).
    { "getaddrinfo host with NUL", function() return ds.getaddrinfo("localhost\0.example.com", "80") end,
      refuse("NUL") },
    { "getaddrinfo service with NUL", function() return ds.getaddrinfo("::1", "80\0junk") end,
      refuse("NUL") },
    { "getnameinfo(':::')", function() return ds.getnameinfo(":::", 80) end, fail(false, "malformed") },
    { "getnameinfo opts 'x'", function() return ds.getnameinfo("::1", 80, "x") end, raise("table expected") },
    { "ifindex(nil)", function() return ds.ifindex(nil) end, raise("string expected") },
    { "ifindex('')", function() return ds.ifindex("") end, refuse("interface") },
    { "ifindex('nosuchif0')", function() return ds.ifindex("nosuchif0") end, refuse("interface") },
    { "ifindex('lo\\0junk') is not lo", function() return ds.ifindex("lo\0junk") end, refuse("NUL") },
    { "ifindex(overlong)", function() return ds.ifindex(string.rep("x", 5000)) end, refuse("interface") },
    { "ifname(0)", function() return ds.ifname(0) end, fail("ENXIO") },
    { "ifname(-1)", function() return ds.ifname(-1) end, fail("ENXIO") },
    { "ifname(2^53)", function() return ds.ifname(HUGE) end, fail("ENXIO") },
    { "ifname(NaN)", function() return ds.ifname(NAN) end, raise("no integer representation") },
    { "ifname(1.5)", function() return ds.ifname(1.5) end, raise("no integer representation") },
    { "ifname('x')", function() return ds.ifname("x") end, raise("number expected") },
    -- LuaSocket's select refuses what is not a table; taking it for an empty
    -- list would wait for ever when no timeout is given.
    { "select('x', nil, 0)", function() return ds.select("x", nil, 0) end, raise("table expected") },
    { "select(io.stdout, nil, 0)", function() return ds.select(io.stdout, nil, 0) end, raise("table expected") },
    { "select(nil, 5, 0)", function() return ds.select(nil, 5, 0) end, raise("table expected") },
    { "select({}, {}, NaN)", function() return ds.select({}, {}, NAN) end, raise("NaN") },
    { "select({true}, nil, 0)", function() return ds.select({ true }, nil, 0) end, raise("") },
  })
end)

-- ---- socket methods ----------------------------------------------------------------

describe("hostile: ports", function()
  for _, bad in ipairs(BAD_PORTS) do
    local p = port_text(bad[1])
    rows({
      { "tcp bind port " .. p, function() return sock("tcp"):bind("::1", bad[1]) end, raise(bad[2]) },
      { "tcp connect port " .. p, function() return sock("tcp"):connect("::1", bad[1]) end, raise(bad[2]) },
      { "udp bind port " .. p, function() return sock("udp"):bind("::1", bad[1]) end, raise(bad[2]) },
      { "udp sendto port " .. p, function() return sock("udp"):sendto("x", "::1", bad[1]) end, raise(bad[2]) },
    })
  end
end)

describe("hostile: addresses", function()
  for _, bad in ipairs(BAD_ADDRS) do
    local a = bad[1]:sub(1, 30)
    rows({
      { "tcp bind " .. a, function() return sock("tcp"):bind(bad[1], 0) end, raise(bad[2]) },
      { "tcp connect " .. a, function() return sock("tcp"):connect(bad[1], 1) end, raise(bad[2]) },
      { "udp sendto " .. a, function() return sock("udp"):sendto("x", bad[1], 1) end, raise(bad[2]) },
    })
  end
  rows({
    { "bind(nil, 0)", function() return sock("udp"):bind(nil, 0) end, raise("string expected") },
    { "bind({}, 0)", function() return sock("udp"):bind({}, 0) end, raise("string expected") },
    { "bind('::1')", function() return sock("udp"):bind("::1") end, raise("number expected") },
    { "bind of an overlong name", function() return sock("udp"):bind(string.rep("a", 5000), 0) end,
      refuse("") },
    { "sendto(nil data)", function() return sock("udp"):sendto(nil, "::1", 1) end, raise("string expected") },
  })
  it("connect to a name with a NUL does not reach the name before the NUL", function()
    local l, port = H.listener("dual", "*")
    open[#open + 1] = l
    local c = sock("tcp")
    c:settimeout(H.WAIT)
    check(function() return c:connect("localhost\0.example.com", port) end, refuse("NUL"))
  end)
end)

describe("hostile: sizes and counts", function()
  local sizes = {
    { -1, raise("must not be negative") }, { math.mininteger, raise("must not be negative") },
    { 1.5, raise("no integer representation") }, { NAN, raise("no integer representation") },
    { "x", raise("number expected") },
  }
  local probe = ds.udp()
  for _, method in ipairs({ "recv", "receive", "recvfrom", "recvmsg" }) do
    if not probe[method] then
      it("udp " .. method .. " sizes", function() pending(method .. " is not built yet") end)
    else
      for _, case in ipairs(sizes) do
        rows({ { "udp " .. method .. "(" .. port_text(case[1]) .. ")", function()
                   local s = sock("udp")
                   return s[method](s, case[1])
                 end, case[2] } })
      end
      -- A huge size must neither allocate it nor lose the datagram.
      for _, big in ipairs({ HUGE, math.maxinteger }) do
        rows({ { "udp " .. method .. "(" .. port_text(big) .. ") returns the datagram", function()
                   local r = udp_with_datagram(100)
                   return r[method](r, big)
                 end, value(function(got)
                   local data = type(got) == "table" and got.data or got
                   assert.equal(string.rep("d", 100), data)
                 end) } })
      end
    end
  end
  probe:close()
  rows({
    { "udp recv(0) with nothing waiting", function() return sock("udp"):recv(0) end, fail("ETIMEDOUT") },
    { "tcp receive(0) is empty", function()
        local c, a, l = H.tcp_pair("dual", "::1", "dual", "::1")
        open[#open + 1], open[#open + 2], open[#open + 3] = c, a, l
        return a:receive(0)
      end, value(function(data) assert.equal("", data) end) },
    { "tcp receive(2^53) gives back what came before the timeout", function()
        local c, a, l = H.tcp_pair("dual", "::1", "dual", "::1")
        open[#open + 1], open[#open + 2], open[#open + 3] = c, a, l
        H.ok(c:send("hello"))
        a:settimeout(0.1)
        return a:receive(HUGE)
      end, fail("ETIMEDOUT", "timeout") },
    { "receive('*x')", function() return sock("tcp"):receive("*x") end, raise("receive pattern") },
    { "receive({})", function() return sock("tcp"):receive({}) end, raise("") },
    { "send(nil)", function() return sock("udp"):send(nil) end, raise("string expected") },
    { "send with extreme i, j", function()
        return sock("udp"):send("abc", math.mininteger, math.maxinteger)
      end, fail("EDESTADDRREQ") },
    { "send with i past j", function() return sock("udp"):send("abc", math.maxinteger, math.mininteger) end,
      value(function(n) assert.equal("integer", math.type(n)) end) },
    { "send(data, 1.5)", function() return sock("udp"):send("abc", 1.5) end, raise("no integer representation") },
    { "listen('x')", function() return sock("tcp"):listen("x") end, raise("number expected") },
    { "listen(1.5)", function() return sock("tcp"):listen(1.5) end, raise("no integer representation") },
    { "settimeout(NaN)", function() return sock("udp"):settimeout(NAN) end, raise("NaN") },
    { "settimeout('x')", function() return sock("udp"):settimeout("x") end, raise("number expected") },
    { "settimeout(inf) blocks", function()
        local s = sock("udp")
        H.ok(s:settimeout(INF))
        return s:gettimeout()
      end, value(function(t) assert.is_true(t == nil or t == INF) end) },
    { "settimeout(-inf) blocks", function()
        local s = sock("udp")
        H.ok(s:settimeout(-INF))
        return s:gettimeout()
      end, value(function(t) assert.is_nil(t) end) },
    { "shutdown('sideways')", function() return sock("tcp"):shutdown("sideways") end, raise("sideways") },
    { "shutdown({})", function() return sock("tcp"):shutdown({}) end, raise("string expected") },
  })
  -- A negative or huge backlog must not become a tiny one: the kernel
  -- clamps what it is given to somaxconn, but a conversion to int may turn
  -- 2^53 into 0.
  for _, big in ipairs({ -1, HUGE, math.maxinteger }) do
    it("listen(" .. port_text(big) .. ") raises or keeps a full accept queue", function()
      local s = sock("tcp")
      H.ok(s:bind("::1", 0))
      local ok, err = pcall(s.listen, s, big)
      if not ok then return assert.truthy(has(err, "backlog"), err) end
      local _, port = s:getsockname()
      local p = assert(io.popen("ss -ltnH 'sport = :" .. port .. "' 2>/dev/null"))
      local line = p:read("a")
      p:close()
      local queue = tonumber(line:match("^%S+%s+%d+%s+(%d+)"))
      if not queue then return pending("ss did not report the listener: " .. line) end
      local somaxconn = assert(io.open("/proc/sys/net/core/somaxconn")):read("n")
      assert.equal(somaxconn, queue)
    end)
  end
end)

describe("hostile: options", function()
  rows({
    { "setoption unknown", function() return sock("udp"):setoption("bogus", 1) end, raise("unknown option") },
    { "setoption(nil)", function() return sock("udp"):setoption(nil, 1) end, raise("string expected") },
    { "getoption unknown", function() return sock("udp"):getoption("bogus") end, raise("unknown option") },
    { "getoption({})", function() return sock("udp"):getoption({}) end, raise("string expected") },
    { "broadcast = 1", function() return sock("udp"):setoption("broadcast", 1) end, raise("boolean expected") },
    { "broadcast = nil", function() return sock("udp"):setoption("broadcast", nil) end, raise("boolean expected") },
    { "nodelay on udp", function() return sock("udp"):setoption("nodelay", true) end, raise("nodelay") },
    { "broadcast on tcp", function() return sock("tcp"):setoption("broadcast", true) end, raise("broadcast") },
    { "rcvbuf = 1.5", function() return sock("udp"):setoption("rcvbuf", 1.5) end, raise("no integer representation") },
    { "rcvbuf = 2^53", function() return sock("udp"):setoption("rcvbuf", HUGE) end, raise("out of range") },
    { "rcvbuf = true", function() return sock("udp"):setoption("rcvbuf", true) end, raise("number expected") },
    -- Linux reads a negative buffer size as a huge unsigned one and grants
    -- the maximum: a negative size must be refused, not turned into that.
    { "rcvbuf = -1", function() return sock("udp"):setoption("rcvbuf", -1) end, refuse("range") },
    { "sndbuf = -1", function() return sock("udp"):setoption("sndbuf", -1) end, refuse("range") },
    { "hoplimit = 256", function() return sock("udp"):setoption("hoplimit", 256) end, refuse("") },
    { "hoplimit = -2", function() return sock("udp"):setoption("hoplimit", -2) end, refuse("range") },
    { "tclass = 256", function() return sock("udp"):setoption("tclass", 256) end, refuse("") },
    { "tclass = -2", function() return sock("udp"):setoption("tclass", -2) end, refuse("range") },
    { "linger = -1", function() return sock("tcp"):setoption("linger", -1) end, refuse("") },
    { "linger = 'x'", function() return sock("tcp"):setoption("linger", "x") end, raise("") },
    { "v6only after bind", function()
        local s = sock("udp")
        H.ok(s:bind("::1", 0))
        return s:setoption("v6only", true)
      end, raise("v6only") },
  })
end)

-- ---- message calls (issue 3) -----------------------------------------------------

describe("hostile: message tables", function()
  local probe = ds.udp()
  local have_msg = probe.sendmsg ~= nil
  probe:close()
  if not have_msg then
    it("message calls", function() pending("recvmsg/sendmsg are not built yet") end)
    return
  end

  -- A sendmsg table to ::1 with one field replaced.
  local function msg(field, v)
    local m = { data = "x", addr = "::1", port = 9 }
    m[field] = v
    return m
  end
  local function sendmsg(m) return function() return sock("udp"):sendmsg(m) end end

  rows({
    { "sendmsg(nil)", function() return sock("udp"):sendmsg(nil) end, raise("table expected") },
    { "sendmsg('x')", function() return sock("udp"):sendmsg("x") end, raise("table expected") },
    { "sendmsg{}", sendmsg({}), raise("'data'") },
    { "data = 5", sendmsg(msg("data", 5)), raise("'data'") },
    { "data = {}", sendmsg(msg("data", {})), raise("'data'") },
    { "port missing", sendmsg(msg("port", nil)), raise("'port'") },
    { "addr ':::'", sendmsg(msg("addr", ":::")), raise("'addr'") },
    { "addr with NUL", sendmsg(msg("addr", "::1\0")), raise("'addr'") },
    { "addr = {}", sendmsg(msg("addr", {})), raise("'addr'") },
    { "src ':::'", sendmsg(msg("src", ":::")), raise("'src'") },
    { "src = {}", sendmsg(msg("src", {})), raise("'src'") },
    { "hoplimit 256", sendmsg(msg("hoplimit", 256)), raise("'hoplimit'") },
    { "hoplimit -2", sendmsg(msg("hoplimit", -2)), raise("'hoplimit'") },
    { "hoplimit 1.5", sendmsg(msg("hoplimit", 1.5)), raise("'hoplimit'") },
    { "tclass -1", sendmsg(msg("tclass", -1)), raise("'tclass'") },
    { "tclass 256", sendmsg(msg("tclass", 256)), raise("'tclass'") },
    { "tclass 'x'", sendmsg(msg("tclass", "x")), raise("'tclass'") },
    { "ecn 4", sendmsg(msg("ecn", 4)), raise("'ecn'") },
    { "ecn -1", sendmsg(msg("ecn", -1)), raise("'ecn'") },
    { "ifindex -1", sendmsg(msg("ifindex", -1)), raise("'ifindex'") },
    { "ifindex 2^53", sendmsg(msg("ifindex", HUGE)), raise("'ifindex'") },
    { "ifindex NaN", sendmsg(msg("ifindex", NAN)), raise("'ifindex'") },
    { "ifindex of no interface", sendmsg(msg("ifindex", 999999)), fail("ENODEV") },
    { "segment 0", sendmsg(msg("segment", 0)), raise("'segment'") },
    { "segment 2^53", sendmsg(msg("segment", HUGE)), raise("'segment'") },
    { "IPv4 source to an IPv6 peer", sendmsg(msg("src", "127.0.0.1")), fail("EINVAL", "famil") },
    { "recvmsg(10, 'x')", function() return sock("udp"):recvmsg(10, "x") end, raise("table expected") },
    { "recvmmsg()", function() return sock("udp"):recvmmsg() end, raise("number expected") },
    { "recvmmsg(0)", function() return sock("udp"):recvmmsg(0) end, raise("count out of range") },
    { "recvmmsg(-1)", function() return sock("udp"):recvmmsg(-1) end, raise("count out of range") },
    { "recvmmsg(2^53)", function() return sock("udp"):recvmmsg(HUGE) end, raise("count out of range") },
    { "recvmmsg(4, -1)", function() return sock("udp"):recvmmsg(4, -1) end, raise("must not be negative") },
    { "recvmmsg(4, 100, 'x')", function() return sock("udp"):recvmmsg(4, 100, "x") end, raise("table expected") },
    { "recvmmsg(4, 2^53) returns the datagram", function()
        local r = udp_with_datagram(100)
        return r:recvmmsg(4, HUGE)
      end, value(function(list) assert.equal(string.rep("d", 100), list[1].data) end) },
    { "sendmmsg(nil)", function() return sock("udp"):sendmmsg(nil) end, raise("table expected") },
    { "sendmmsg{'x'}", function() return sock("udp"):sendmmsg({ "x" }) end, raise("table expected") },
    { "sendmmsg{{}}", function() return sock("udp"):sendmmsg({ {} }) end, raise("'data'") },
    { "sendmmsg with a bad second message", function()
        return sock("udp"):sendmmsg({ msg("port", 9), msg("port", 65536) })
      end, raise("'port'") },
    { "reply(nil, 'x')", function() return sock("udp"):reply(nil, "x") end, raise("table expected") },
    { "reply({}, 'x')", function() return sock("udp"):reply({}, "x") end, raise("'addr'") },
    { "reply to port 70000", function() return sock("udp"):reply({ addr = "::1", port = 70000 }, "x") end,
      raise("'port'") },
    { "reply without data", function() return sock("udp"):reply({ addr = "::1", port = 9 }) end,
      raise("string expected") },
    { "recvmsg on tcp", function() return sock("tcp"):recvmsg() end, raise("udp") },
    { "sendmsg on tcp", function() return sock("tcp"):sendmsg(msg("port", 9)) end, raise("udp") },
  })
end)

-- ---- closed sockets, wrong self, every function ----------------------------

-- Plausible arguments per method, so that only the closed state is wrong.
local ARGS = {
  bind = { "::1", 0 }, connect = { "::1", 9 }, sendto = { "x", "::1", 9 }, send = { "x" },
  setoption = { "reuseaddr", true }, getoption = { "reuseaddr" }, settimeout = { 1 },
  shutdown = { "both" }, join = { "ff02::1:3" }, leave = { "ff02::1:3" },
  sendmsg = { { data = "x", addr = "::1", port = 9 } }, sendmmsg = { { { data = "x", addr = "::1", port = 9 } } },
  reply = { { addr = "::1", port = 9 }, "x" }, recvmmsg = { 1 }, listen = { 1 }, receive = { 1 },
}
-- Methods that answer about a closed socket instead of refusing it.
local ANSWERS_WHEN_CLOSED = {
  close = 1, getfd = -1, pollfd = -1, getfamily = true, gettimeout = true, dirty = true, events = true, timeout = true,
}

local function method_names()
  local s = ds.udp()
  local names = {}
  for name in pairs(getmetatable(s).__index) do names[#names + 1] = name end
  s:close()
  table.sort(names)
  return names
end

describe("hostile: closed sockets", function()
  for _, kind in ipairs({ "tcp", "udp" }) do
    for _, name in ipairs(method_names()) do
      local answer = ANSWERS_WHEN_CLOSED[name]
      it(kind .. " " .. name .. " after close", function()
        local s = H.ok(ds[kind]())
        H.ok(s:close())
        check(function() return s[name](s, table.unpack(ARGS[name] or {})) end,
              answer and value(function(v)
                if answer ~= true then assert.equal(answer, v) end
              end) or raise("closed socket"))
      end)
    end
    it(kind .. ": double close, tostring, __close and collection after close", function()
      local s = H.ok(ds[kind]())
      assert.equal(1, s:close())
      assert.equal(1, s:close())
      assert.equal(kind .. "{closed}", tostring(s))
      do
        local t <close> = s -- __close on an already closed socket
      end
      assert.equal(-1, s:getfd())
      s = nil
      collectgarbage()
      collectgarbage()
    end)
  end
end)

describe("hostile: methods called on something that is not a socket", function()
  for _, name in ipairs(method_names()) do
    local method = getmetatable(ds.udp()).__index[name]
    for _, self in ipairs({ {}, "x", 5, io.stdout }) do
      rows({ { name .. " on " .. type(self), function() return method(self, table.unpack(ARGS[name] or {})) end,
               raise("dualstack.socket expected") } })
    end
  end
end)

-- Every module function and every method with each kind of junk as its first
-- argument: a raise must be an argument error (a message naming what was
-- wrong, not "attempt to index..."), anything else is a normal return. The
-- wait-taking functions get a zero timeout so a wrong answer cannot hang.
describe("hostile: junk first arguments to every function", function()
  local JUNK = { nil, true, print, io.stdout, coroutine.create(print), NAN, -1, HUGE, {}, "",
                 string.rep("z", 70000) }
  local TAIL = { select = { nil, 0 }, poll = { {}, 0 } }
  -- A raise must say what was wrong: not a Lua runtime error from inside
  -- the library ("attempt to index a boolean value"). A return is fine.
  local function assert_clear(ok, err)
    if not ok then
      assert(type(err) == "string" and #err > 0 and not err:find("attempt to "),
             "unclear error: " .. tostring(err))
    end
  end
  local function sweep(label, fn, tail)
    for i = 1, 11 do
      it(label .. " with junk #" .. i .. " (" .. type(JUNK[i]) .. ")", function()
        assert_clear(pcall(fn, JUNK[i], table.unpack(tail or {})))
      end)
    end
  end
  local names = {}
  for name, fn in pairs(ds) do
    if type(fn) == "function" then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    if name ~= "connect" and name ~= "listen" and name ~= "udp_listen" then -- names: no lookups here
      sweep("ds." .. name, ds[name], TAIL[name])
    end
  end
  for _, name in ipairs(method_names()) do
    for _, kind in ipairs({ "tcp", "udp" }) do
      sweep(kind .. ":" .. name, function(...)
        local s = sock(kind)
        return s[name](s, ...)
      end)
    end
  end
end)
