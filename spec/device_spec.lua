-- setoption("device", ...) (SO_BINDTODEVICE; LuaSocket's bindtodevice is
-- its alias) proven where the routing table alone picks the other link:
-- N.TWOLINK's A reaches P's 198.51.100.9 and 2001:db8:9::9 by l1 (metric
-- 10) unless a socket is bound to l2. P's receiver reports each datagram's
-- sender and arrival interface.
local N = require "spec.namespace"
local H = require "spec.helpers"

-- Each case: a fresh socket of family, bound with setoption(opt, value)
-- (none when opt is nil), sends its tag to host; reports the setoption
-- result ("set_TAG") and getoption("device") ("get_TAG").
local CHILD = [[
local ds = require "dualstack"
local L2 = ds.ifindex("l2")
local cases = {
  { "plain4", "dual", "198.51.100.9" },
  { "plain6", "dual", "2001:db8:9::9" },
  { "name4", "dual", "198.51.100.9", "device", "l2" },
  { "name6", "dual", "2001:db8:9::9", "device", "l2" },
  { "index4", "dual", "198.51.100.9", "device", L2 },
  { "index6", "dual", "2001:db8:9::9", "device", L2 },
  { "inet", "inet", "198.51.100.9", "device", "l2" },
  { "inetsix", "inet6", "2001:db8:9::9", "device", "l2" },
  { "alias", "dual", "198.51.100.9", "bindtodevice", "l2" },
}
local port, collect = receiver("P", #cases + 1)
local function row(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, ",")
end
for _, c in ipairs(cases) do
  local tag, family, host, opt, value = table.unpack(c)
  local s = assert(ds.udp { family = family })
  if opt then report("set_" .. tag, row(s:setoption(opt, value))) end
  report("get_" .. tag, row(s:getoption("device")))
  report("sent_" .. tag, row(s:sendto(tag, host, port)))
  s:close()
end
-- Unbinding: each of "", 0 and false gives the routing table back.
local s = assert(ds.udp())
for i, none in ipairs { "", 0, false } do
  assert(s:setoption("device", "l2"))
  report("unbind" .. i, row(s:setoption("device", none)) .. " " .. row(s:getoption("device")))
end
report("sent_unbound", row(s:sendto("unbound", "198.51.100.9", port)))
-- The alias is the same option: what one sets the other reads.
assert(s:setoption("bindtodevice", "l1"))
report("alias_get", row(s:getoption("device")) .. " " .. row(s:getoption("bindtodevice")))
report("nosuch", row(s:setoption("device", "nosuch0")))
report("nosuch_index", row(s:setoption("device", 99999)))
report("after_nosuch", row(s:getoption("device")))
s:close()
for tag, rest in pairs(collect()) do report("got_" .. tag, rest) end
os.execute("kill $P")
]]

describe("setoption('device')", function()
  local r, out

  -- Why the cases cannot run here, or nil (the namespaces then made once).
  local function skip()
    if H.WINDOWS then
      return "network namespaces are Linux's (Windows' IP_UNICAST_IF binds sends only)"
    end
    local why = H.needs_cmsg("control-message payloads") or H.needs_bindtodevice("SO_BINDTODEVICE")
    if why then return why end
    local usable, reason = N.available("-n")
    if not usable then return reason end
    if not r then r, out = N.run("-n", N.TWOLINK, CHILD) end
  end

  it("unbound, the routing table sends by l1", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "", "", "6", "6", "::ffff:10.1.0.1 p1", "2001:db8:a::1 p1" },
      { r.get_plain4, r.get_plain6, r.sent_plain4, r.sent_plain6,
        r.got_plain4 and r.got_plain4:match("^%S+ %S+"), r.got_plain6 and r.got_plain6:match("^%S+ %S+") },
      out)
  end)

  it("bound to l2 by name, both families leave by l2", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "1", "1", "l2", "l2", "::ffff:10.2.0.1 p2 64 5", "2001:db8:b::1 p2 64 5" },
      { r.set_name4, r.set_name6, r.get_name4, r.get_name6, r.got_name4, r.got_name6 }, out)
  end)

  it("bound by index the same, and getoption gives the name", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "1", "1", "l2", "l2", "::ffff:10.2.0.1 p2 64 6", "2001:db8:b::1 p2 64 6" },
      { r.set_index4, r.set_index6, r.get_index4, r.get_index6, r.got_index4, r.got_index6 }, out)
  end)

  it("binds inet and inet6 sockets too", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "1", "1", "l2", "l2", "10.2.0.1 p2 64 4", "2001:db8:b::1 p2 64 7" },
      { r.set_inet, r.set_inetsix, r.get_inet, r.get_inetsix,
        r.got_inet and r.got_inet:gsub("^::ffff:", ""), r.got_inetsix }, out)
  end)

  it("bindtodevice is an alias of device, not a second option", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "1", "l2", "::ffff:10.2.0.1 p2 64 5", "l1 l1" },
      { r.set_alias, r.get_alias, r.got_alias, r.alias_get }, out)
  end)

  it('"", 0 and false unbind', function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "1 ", "1 ", "1 ", "::ffff:10.1.0.1 p1 64 7" },
      { r.unbind1, r.unbind2, r.unbind3, r.got_unbound }, out)
  end)

  it("an unknown interface is nil, 'no such device', 'ENODEV' and changes nothing", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "nil,no such device,ENODEV", "nil,no such device,ENODEV", "l1" },
      { r.nosuch, r.nosuch_index, r.after_nosuch }, out)
  end)
end)

-- Where no namespace can be made (Windows: IP_UNICAST_IF/IPV6_UNICAST_IF,
-- which bind sends only), binding to the loopback interface still reads
-- back, by name and by index, and unbinds.
describe("setoption('device') on the loopback interface", function()
  local ds = require "dualstack"

  for _, family in ipairs { "inet", "inet6", "dual" } do
    it("binds a " .. family .. " socket by name and by index, and unbinds", function()
      local why = H.needs_bindtodevice("SO_BINDTODEVICE"); if why then return pending(why) end
      if H.WINE and family ~= "inet" then
        return pending("Wine " .. H.WINE .. " refuses IPV6_UNICAST_IF (EINVAL); IP_UNICAST_IF works")
      end
      local s = assert(ds.udp { family = family })
      assert.same({ 1 }, { s:setoption("device", H.LO_NAME) })
      assert.equal(H.LO_NAME, s:getoption("device"))
      assert.same({ 1 }, { s:setoption("device", false) })
      assert.equal("", s:getoption("device"))
      assert.same({ 1 }, { s:setoption("device", H.LO) })
      assert.equal(H.LO_NAME, s:getoption("bindtodevice"))
      assert.same({ nil, "no such device", "ENODEV" }, { s:setoption("device", "nosuch0") })
      assert.same({ 1 }, { s:setoption("device", 0) })
      assert.equal("", s:getoption("device"))
      s:close()
    end)
  end
end)

describe("setoption('device') without CAP_NET_RAW", function()
  it("binds once; changing or removing the binding is EPERM, with the reason", function()
    local why = H.needs_bindtodevice("SO_BINDTODEVICE")
    if why then return pending(why) end
    local out, nobody = H.as_nobody(([[
local ds = require "dualstack"
local s = assert(ds.udp())
local function row(...) local t = table.pack(...) for i = 1, t.n do t[i] = tostring(t[i]) end return table.concat(t, ",") end
print(row(s:setoption("device", %q)))
print(row(s:setoption("device", %q)))
print(row(s:setoption("device", "")))
print(row(s:getoption("device")))
]]):format(H.LO_NAME, H.LO_NAME))
    if not out then return pending(nobody) end
    local eperm = "nil,changing or removing a device binding needs CAP_NET_RAW "
      .. "(binding at all does before Linux 5.7),EPERM"
    assert.equal(table.concat({ "1", eperm, eperm, H.LO_NAME, "" }, "\n"), out)
  end)
end)

describe("setoption('device') values", function()
  it("raises for a value that cannot name an interface", function()
    local ds = require "dualstack"
    local s = assert(ds.udp())
    H.raises("not an interface name", function() s:setoption("device", ("x"):rep(300)) end)
    H.raises("interface index out of range", function() s:setoption("device", -1) end)
    H.raises("string expected, got table", function() s:setoption("device", {}) end)
    s:close()
  end)
end)
