-- Address helpers: tables of known answers, including text that is not an
-- address (nil, message; is_mapped gives false), and the resolver wrappers
-- on numeric input and "localhost".
local H = require "helpers"
local ds = H.ds

-- Text that is no address at all, for every helper.
local INVALID = {
  "", "bogus", "1.2.3", "1.2.3.256", "1.2.3.4.5", "::1::2", "2001:db8::g",
  "1:2:3:4:5:6:7:8:9", ":::", "12345::", "localhost", " 127.0.0.1",
}

-- Asserts fn(...) gives nil and a non-empty message.
local function assert_refused(fn, ...)
  local value, msg = fn(...)
  assert.is_nil(value, "accepted " .. tostring((...)))
  assert.is_string(msg)
  assert.is_true(#msg > 0)
end

-- Runs the cases {input..., expected} of a table against fn.
local function assert_answers(fn, cases)
  for _, case in ipairs(cases) do
    local expected = case[#case]
    assert.same({ expected }, { fn(table.unpack(case, 1, #case - 1)) },
      "for " .. table.concat(case, ", ", 1, #case - 1))
  end
end

describe("ds.normalize (RFC 5952)", function()
  it("gives the canonical text for known cases", function()
    assert_answers(ds.normalize, {
      { "2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },  -- first of two equal runs
      { "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" }, -- a single 0 is not ::
      { "2001:0db8::0001", "2001:db8::1" },               -- leading zeros go
      { "2001:db8:0:0:0::1", "2001:db8::1" },
      { "2001:db8::0:1", "2001:db8::1" },
      { "2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::" },     -- the longest run wins
      { "2001:db8:aaaa:bbbb:cccc:dddd:eeee:AAAA", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:aaaa" },
      { "0:0:0:0:0:0:0:0", "::" },
      { "0:0:0:0:0:0:0:1", "::1" },
      { "::ffff:1.2.3.4", "::ffff:1.2.3.4" },
      { "0:0:0:0:0:FFFF:0102:0304", "::ffff:1.2.3.4" },   -- mapped: dotted tail
      { "FE80:0::1%" .. H.LO_NAME, "fe80::1%" .. H.LO_NAME },                   -- scope kept
      { "1.2.3.4", "1.2.3.4" },
    })
  end)

  it("refuses text that is not an address", function()
    for _, text in ipairs(INVALID) do assert_refused(ds.normalize, text) end
  end)

  it("raises for a non-string argument", function()
    assert.has_error(function() ds.normalize({}) end, "bad argument #1 to 'normalize' (string expected, got table)")
  end)
end)

describe("ds.is_mapped", function()
  it("recognises ::ffff:a.b.c.d in any spelling and nothing else", function()
    assert_answers(ds.is_mapped, {
      { "::ffff:127.0.0.1", true },
      { "::FFFF:7f00:1", true },
      { "0:0:0:0:0:ffff:0a00:0001", true },
      { "127.0.0.1", false },
      { "::1", false },
      { "::127.0.0.1", false },        -- IPv4-compatible, not mapped
      { "64:ff9b::1.2.3.4", false },   -- NAT64, not mapped
      { "::ffff:0:1.2.3.4", false },   -- SIIT translated, not mapped
    })
  end)

  it("is false (not an error) for text that is not an address", function()
    for _, text in ipairs(INVALID) do assert.is_false(ds.is_mapped(text), text) end
  end)
end)

describe("ds.map", function()
  it("maps IPv4 text", function()
    assert_answers(ds.map, {
      { "127.0.0.1", "::ffff:127.0.0.1" },
      { "0.0.0.0", "::ffff:0.0.0.0" },
      { "255.255.255.255", "::ffff:255.255.255.255" },
    })
  end)

  it("refuses native IPv6 and text that is not an address", function()
    assert_refused(ds.map, "::1")
    assert_refused(ds.map, "2001:db8::1")
    for _, text in ipairs(INVALID) do assert_refused(ds.map, text) end
  end)
end)

describe("ds.unmap", function()
  it("unmaps mapped text in any spelling", function()
    assert_answers(ds.unmap, {
      { "::ffff:127.0.0.1", "127.0.0.1" },
      { "::FFFF:7f00:0001", "127.0.0.1" },
      { "0:0:0:0:0:ffff:c0a8:0101", "192.168.1.1" },
    })
  end)

  it("returns other addresses unchanged", function()
    for _, text in ipairs { "::1", "2001:DB8::1", "1.2.3.4", "::127.0.0.1", "fe80::1%" .. H.LO_NAME } do
      assert.equal(text, ds.unmap(text))
    end
  end)

  it("refuses text that is not an address", function()
    for _, text in ipairs(INVALID) do assert_refused(ds.unmap, text) end
  end)
end)

describe("ds.same", function()
  it("compares hosts, mapped or not, in any spelling", function()
    assert_answers(ds.same, {
      { "::ffff:127.0.0.1", "127.0.0.1", true },
      { "127.0.0.1", "::FFFF:7f00:1", true },
      { "::1", "0:0:0:0:0:0:0:1", true },
      { "2001:DB8::1", "2001:db8:0:0::0001", true },
      { "127.0.0.1", "127.0.0.2", false },
      { "::1", "127.0.0.1", false },
      { "::127.0.0.1", "127.0.0.1", false },
      { "::ffff:127.0.0.1", "::ffff:127.0.0.2", false },
    })
  end)

  it("refuses text that is not an address on either side", function()
    for _, text in ipairs(INVALID) do
      assert_refused(ds.same, text, "::1")
      assert_refused(ds.same, "::1", text)
    end
  end)
end)

describe("ds.family", function()
  it("names the family of the text", function()
    assert_answers(ds.family, {
      { "1.2.3.4", "inet" },
      { "::1", "inet6" },
      { "::ffff:1.2.3.4", "inet6" },
      { "fe80::1%" .. H.LO_NAME, "inet6" },
    })
  end)

  it("refuses text that is not an address", function()
    for _, text in ipairs(INVALID) do assert_refused(ds.family, text) end
  end)
end)

describe("ds.pton and ds.ntop", function()
  local Z10 = ("\0"):rep(10)
  local BYTES = {
    { "1.2.3.4", "\1\2\3\4" },
    { "::1", ("\0"):rep(15) .. "\1" },
    { "::ffff:1.2.3.4", Z10 .. "\255\255\1\2\3\4" },
    { "2001:db8::1", "\32\1\13\184" .. ("\0"):rep(11) .. "\1" },
  }

  it("convert text to 4 or 16 network-order bytes and back", function()
    for _, case in ipairs(BYTES) do
      local text, bytes = case[1], case[2]
      assert.equal(bytes, ds.pton(text))
      assert.equal(text, ds.ntop(bytes))
    end
  end)

  it("ntop gives RFC 5952 text", function()
    assert.equal("2001:db8::1:0:0:1", ds.ntop(ds.pton("2001:DB8:0:0:1:0:0:1")))
  end)

  it("refuse bad input", function()
    for _, text in ipairs(INVALID) do assert_refused(ds.pton, text) end
    for _, bytes in ipairs { "", "abc", "abcde", ("x"):rep(15), ("x"):rep(17) } do
      assert_refused(ds.ntop, bytes)
    end
  end)
end)

describe("ds.getaddrinfo", function()
  -- The first entry of a lookup that must succeed.
  local function first(host, port, opts)
    local list = H.ok(ds.getaddrinfo(host, port, opts))
    assert.is_true(#list >= 1)
    return list[1], list
  end

  it("resolves numeric IPv4 and IPv6 with integer ports and protocols", function()
    assert.same({ family = "inet", addr = "127.0.0.1", port = 80, socktype = "stream", protocol = 6 },
      (first("127.0.0.1", 80, { socktype = "stream", numerichost = true })))
    local e = first("::1", 53, { socktype = "dgram" })
    assert.same({ "inet6", "::1", 53, "dgram", 17 }, { e.family, e.addr, e.port, e.socktype, e.protocol })
    assert.equal("integer", math.type(e.port))
    assert.equal("integer", math.type(e.protocol))
  end)

  it("maps IPv4 for an inet6 lookup with v4mapped", function()
    local e = first("127.0.0.1", 80, { family = "inet6", v4mapped = true, socktype = "dgram" })
    assert.same({ "inet6", "::ffff:127.0.0.1" }, { e.family, e.addr })
  end)

  it("gives the wildcard for a passive lookup without a host", function()
    assert.equal("::", first(nil, 80, { passive = true, family = "inet6", socktype = "stream" }).addr)
    assert.equal("0.0.0.0", first(nil, 80, { passive = true, family = "inet", socktype = "stream" }).addr)
  end)

  it("gives canonname only when asked for it", function()
    -- musl's getaddrinfo fills ai_canonname unasked; dualstack passes it
    -- on only with the canonname flag.
    local e = first("localhost", "http", { socktype = "stream" })
    assert.equal(80, e.port)
    assert.is_nil(e.canonname)
  end)

  it("resolves localhost and service names, with canonname", function()
    local e, list = first("localhost", "http", { socktype = "stream", canonname = true })
    assert.equal(80, e.port)
    assert.equal("localhost", e.canonname)
    for _, entry in ipairs(list) do
      assert.is_true(entry.addr == "127.0.0.1" or entry.addr == "::1", entry.addr)
    end
  end)

  it("filters by family", function()
    local _, list = first("::1", 80, { family = "inet6" })
    for _, entry in ipairs(list) do assert.equal("inet6", entry.family) end
    local none, _, code = ds.getaddrinfo("::1", 80, { family = "inet" })
    assert.is_nil(none)
    assert.is_string(code)
  end)

  it("fails with nil, message, EAI_ code", function()
    for _, call in ipairs {
      { "localhost", 80, { numerichost = true } },
      { "::1", "http", { numericserv = true } },
      { "no-such-host.invalid", 80 },
    } do
      local list, msg, code = ds.getaddrinfo(table.unpack(call))
      assert.is_nil(list)
      assert.is_string(msg)
      assert.truthy(code and code:match("^EAI_"), tostring(code))
    end
  end)

  it("raises for unknown option values", function()
    assert.has_error(function() ds.getaddrinfo("::1", 80, { family = "ipx" }) end,
      "bad field 'family' (one of 'unspec' 'inet' 'inet6' expected)")
    assert.has_error(function() ds.getaddrinfo("::1", 80, { socktype = "raw-ish" }) end,
      "bad field 'socktype' (one of 'any' 'stream' 'dgram' expected)")
  end)
end)

describe("ds.getnameinfo", function()
  it("gives numeric host and service when asked", function()
    assert.same({ "127.0.0.1", "80" }, { ds.getnameinfo("127.0.0.1", 80, { numerichost = true, numericserv = true }) })
    assert.same({ "::1", "53" }, { ds.getnameinfo("::1", 53, { numerichost = true, numericserv = true }) })
  end)

  it("names 127.0.0.1 localhost and port 80 http", function()
    assert.same({ "localhost", "http" }, { ds.getnameinfo("127.0.0.1", 80) })
  end)

  it("refuses text that is not an address", function()
    for _, text in ipairs(INVALID) do assert_refused(ds.getnameinfo, text, 80) end
  end)
end)

describe("interfaces", function()
  it("ds.ifindex and ds.ifname map lo both ways", function()
    local index = H.ok(ds.ifindex(H.LO_NAME))
    assert.equal("integer", math.type(index))
    assert.is_true(index >= 1)
    assert.equal(H.LO_NAME, ds.ifname(index))
  end)

  it("refuse unknown names and indexes", function()
    assert_refused(ds.ifindex, "no-such-if0")
    assert_refused(ds.ifname, 999999)
  end)
end)

describe("ds.has_ipv4 / has_ipv6 / has_dualstack", function()
  local function can_open(family)
    local s = ds.udp { family = family }
    if s then s:close() end
    return s ~= nil
  end

  it("are booleans that match what sockets can do here", function()
    local v4, v6, dual = ds.has_ipv4(), ds.has_ipv6(), ds.has_dualstack()
    assert.is_boolean(v4)
    assert.is_boolean(v6)
    assert.is_boolean(dual)
    assert.equal(v4, can_open("inet"))
    assert.equal(v6, can_open("inet6"))
    assert.equal(dual, can_open("dual"))
    assert.is_true(not dual or (v4 and v6))
    -- This suite's loopback traffic needs all three.
    assert.same({ true, true, true }, { v4, v6, dual })
  end)
end)
