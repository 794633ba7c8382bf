-- Path MTU options across N.CHAIN, whose R-B link has MTU 1280: with
-- mtu_discover "do" (IPv4) or dontfrag (IPv6) a 1400-byte datagram from A
-- is dropped at R, whose ICMP "fragmentation needed" / "packet too big"
-- teaches A's kernel the path MTU: getoption("mtu") then reads 1280 and
-- a second 1400-byte send fails at once with EMSGSIZE. With "dont" the
-- same datagram is fragmented and reaches B; with recverr on, recverr()
-- gives the router's error (info: the MTU) and the local one. send fails in
-- LuaSocket's shape: nil, message, bytes sent (0), code.
local N = require "spec.namespace"
local H = require "spec.helpers"

-- One family per run (fresh namespaces: the learned path MTU is cached
-- per destination). FAMILY, HOST and how DF is asked for come first.
local CHILD = [[
local ds = require "dualstack"
local BIG = ("x"):rep(1400)
local function row(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, ",")
end
local port, collect = receiver("B", 1)
local s = assert(ds.udp { family = FAMILY })
report("unconnected", row(s:getoption("mtu")))
assert(s:connect(HOST, port))
report("set", row(s:setoption(DF[1], DF[2])))
report("get", row(s:getoption(DF[1])))
report("before", row(s:getoption("mtu")))
report("send1", row(s:send(BIG)))
-- The ICMP error takes a moment to come back from R.
for _ = 1, 100 do
  if s:getoption("mtu") ~= 1500 then break end
  os.execute("sleep 0.02")
end
report("after", row(s:getoption("mtu")))
report("send2", row(s:send(BIG)))
s:close()
-- "dont": fragmented by A to the learned path MTU, so it reaches B.
local d = assert(ds.udp { family = FAMILY })
report("dont", row(d:setoption("mtu_discover", "dont")) .. " " .. row(d:getoption("mtu_discover")))
assert(d:connect(HOST, port))
report("dont_mtu", row(d:getoption("mtu")))
report("dont_send", row(d:send("big " .. BIG:sub(5))))
d:close()
local got = collect()
report("got", got.big or got.error)
os.execute("kill $R $B")
]]

local function run(family, host, df)
  return N.run("-n", N.CHAIN, ("local FAMILY, HOST, DF = %q, %q, { %q, %s }\n"):format(
    family, host, df[1], tostring(df[2])) .. CHILD)
end

local skip = N.needs_topology

-- What every family's run reports, but for the first three values
-- (set/get of the DF option) and the receiver's sender.
local function common(r)
  return { r.unconnected, r.before, r.send1, r.after, r.send2, r.dont, r.dont_mtu, r.dont_send }
end
local EXPECTED = {
  "nil,not connected,ENOTCONN", "1500", "1400", "1280", "nil,message too long,0,EMSGSIZE",
  "1 dont", "1280", "1400",
}

describe("path MTU across a 1280-byte link", function()
  it("inet: mtu_discover 'do', then mtu 1280 and EMSGSIZE; 'dont' fragments", function()
    local why = skip(); if why then return pending(why) end
    local r, out = run("inet", "198.51.100.2", { "mtu_discover", '"do"' })
    assert.same({ "1", "do" }, { r.set, r.get }, out)
    assert.same(EXPECTED, common(r), out)
    assert.equal("::ffff:192.0.2.1 b0 63 1400", r.got, out)
  end)

  it("inet6: dontfrag true, then mtu 1280 and EMSGSIZE; 'dont' fragments", function()
    local why = skip(); if why then return pending(why) end
    local r, out = run("inet6", "2001:db8:2::2", { "dontfrag", "true" })
    assert.same({ "1", "true" }, { r.set, r.get }, out)
    assert.same(EXPECTED, common(r), out)
    assert.equal("2001:db8:1::1 b0 63 1400", r.got, out)
  end)

  it("dual to ::ffff:198.51.100.2: mtu_discover sets the IPv4 half", function()
    local why = skip(); if why then return pending(why) end
    local r, out = run("dual", "::ffff:198.51.100.2", { "mtu_discover", '"do"' })
    assert.same({ "1", "do" }, { r.set, r.get }, out)
    assert.same(EXPECTED, common(r), out)
    assert.equal("::ffff:192.0.2.1 b0 63 1400", r.got, out)
  end)
end)

-- With recverr on (issue 17's error queue), the ICMP error and the local
-- EMSGSIZE of the refused second send are both kept for recverr(), whose
-- info is the path MTU.
local RECVERR_CHILD = [[
local ds = require "dualstack"
local BIG = ("x"):rep(1400)
local function entry(e, err)
  if not e then return "none " .. tostring(err) end
  return ("%s %s %d/%d info=%d offender=%s addr=%s port=%s data=%d lost=%d"):format(e.code, e.origin,
    e.type, e.icmpcode, e.info, tostring(e.offender), tostring(e.addr), tostring(e.port), #e.data, e.lost)
end
local s = assert(ds.udp { family = FAMILY })
assert(s:setoption("recverr", true))
assert(s:setoption(DF[1], DF[2]))
assert(s:connect(HOST, 9))
report("send1", tostring(s:send(BIG)))
report("icmp", entry(s:recverr(2)))
report("mtu", tostring(s:getoption("mtu")))
local t = table.pack(s:send(BIG))
for i = 1, t.n do t[i] = tostring(t[i]) end
report("send2", table.concat(t, ","))
report("local", entry(s:recverr(1)))
report("empty", entry(s:recverr()))
os.execute("kill $R $B")
]]

local function run_recverr(family, host, df)
  return N.run("-n", N.CHAIN, ("local FAMILY, HOST, DF = %q, %q, { %q, %s }\n"):format(
    family, host, df[1], tostring(df[2])) .. RECVERR_CHILD)
end

describe("path MTU errors through recverr", function()
  local CASES = {
    { "inet", "198.51.100.2", { "mtu_discover", '"do"' },
      "EMSGSIZE icmp 3/4 info=1280 offender=192.0.2.2 addr=198.51.100.2 port=9 data=520 lost=0" },
    { "inet6", "2001:db8:2::2", { "dontfrag", "true" },
      "EMSGSIZE icmp6 2/0 info=1280 offender=2001:db8:1::2 addr=2001:db8:2::2 port=9 data=1184 lost=0" },
    { "dual", "::ffff:198.51.100.2", { "mtu_discover", '"do"' },
      "EMSGSIZE icmp 3/4 info=1280 offender=::ffff:192.0.2.2 addr=::ffff:198.51.100.2 port=9 data=520 lost=0" },
  }
  for _, c in ipairs(CASES) do
    it(c[1] .. ": the router's error with the MTU, then the local one", function()
      local why = skip() or H.needs_errqueue(); if why then return pending(why) end
      local r, out = run_recverr(c[1], c[2], c[3])
      assert.same({ "1400", c[4], "1280", "nil,message too long,0,EMSGSIZE" },
        { r.send1, r.icmp, r.mtu, r.send2 }, out)
      assert.equal(c[4]:gsub("icmp6? %d/%d", "local 0/0"):gsub("offender=%S+", "offender=nil")
        :gsub("data=%d+", "data=0"), r["local"], out)
      assert.equal("none timeout", r.empty, out)
    end)
  end
end)

describe("path MTU option values", function()
  local ds = require "dualstack"

  it("mtu_discover takes a mode's name and reads it back on each family", function()
    for _, family in ipairs { "inet", "inet6", "dual" } do
      local s = assert(ds.udp { family = family })
      for _, mode in ipairs { "dont", "want", "do", "probe" } do
        local ok, err, code = s:setoption("mtu_discover", mode)
        if code == "ENOPROTOOPT" then s:close() return pending("no IP_MTU_DISCOVER here: " .. err) end
        assert.equal(1, ok)
        assert.equal(mode, s:getoption("mtu_discover"), family .. " " .. mode)
      end
      s:close()
    end
  end)

  it("dontfrag is a boolean, read back on each family", function()
    for _, family in ipairs { "inet", "inet6", "dual" } do
      local s = assert(ds.udp { family = family })
      local ok, err, code = s:setoption("dontfrag", true)
      if code == "ENOPROTOOPT" then s:close() return pending("no don't-fragment option here: " .. err) end
      assert.equal(1, ok)
      assert.is_true(s:getoption("dontfrag"), family)
      assert.equal(1, s:setoption("dontfrag", false))
      assert.is_false(s:getoption("dontfrag"), family)
      H.raises("boolean expected, got string", function() s:setoption("dontfrag", "yes") end)
      s:close()
    end
  end)

  it("a bad mode raises luaL_checkoption's message; mtu is read only", function()
    local s = assert(ds.udp())
    H.raises("bad argument #2 to 'setoption' (invalid option 'x')",
      function() s:setoption("mtu_discover", "x") end)
    H.raises("bad argument #1 to 'setoption' (option 'mtu' is read only)",
      function() s:setoption("mtu", 1280) end)
    s:close()
  end)

  it("mtu on an unconnected socket is nil, 'not connected', 'ENOTCONN'", function()
    local why = H.needs_posix("IP_MTU's ENOTCONN") or H.needs_emulated("ip_mtu", "IP_MTU's ENOTCONN")
    if why then return pending(why) end
    for _, family in ipairs { "inet", "inet6", "dual" } do
      local s = assert(ds.udp { family = family })
      assert.same({ nil, "not connected", "ENOTCONN" }, { s:getoption("mtu") }, family)
      s:close()
    end
  end)
end)
