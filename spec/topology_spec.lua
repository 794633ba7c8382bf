-- The namespace topologies other specs build on (spec/namespace.lua),
-- proven with plain UDP: N.CHAIN (A - router R - B, R-B MTU 1280) and
-- N.TWOLINK (A with two links l1/l2 to P). Each runs a receiver in the far
-- namespace (the prologue's receiver) that reports every datagram: its
-- tag, sender, arrival interface, hop limit and size.
local N = require "spec.namespace"

-- send_all(ns, list) sends each {tag, host, size, family} from a fresh
-- socket of family to a receiver in namespace ns, then reports each
-- arrival under its tag: "addr ifname hoplimit size".
local SEND = [[
local ds = require "dualstack"
function send_all(ns, list)
  local port, collect = receiver(ns, #list)
  for _, t in ipairs(list) do
    local c = assert(ds.udp { family = t[4] })
    local n, err, code = c:sendto(t[1] .. (" "):rep(t[3] - #t[1]), t[2], port)
    report("sent_" .. t[1], n or code)
    c:close()
  end
  for tag, rest in pairs(collect()) do report("got_" .. tag, rest) end
end
]]

-- What send_all(ns, list) reports, run in topology; kill names the
-- namespaces' holders to end ("$R $B").
local function send_in(topology, ns, list, kill)
  local rows = {}
  for i, t in ipairs(list) do rows[i] = ("  { %q, %q, %d, %q },\n"):format(t[1], t[2], t[3], t[4]) end
  return N.run("-n", topology, ("%ssend_all(%q, {\n%s})\nos.execute(%q)\n")
    :format(SEND, ns, table.concat(rows), "kill " .. kill))
end

describe("N.CHAIN", function()
  it("carries UDP from A through R (one hop) to B, both families", function()
    local why = N.needs_topology(); if why then return pending(why) end
    local r, out = send_in(N.CHAIN, "B", {
      { "four", "198.51.100.2", 100, "inet" },
      { "six", "2001:db8:2::2", 100, "inet6" },
      { "mapped", "198.51.100.2", 100, "dual" },
    }, "$R $B")
    assert.same({
      "100", "100", "100",
      "::ffff:192.0.2.1 b0 63 100", "2001:db8:1::1 b0 63 100", "::ffff:192.0.2.1 b0 63 100",
    }, {
      r.sent_four, r.sent_six, r.sent_mapped, r.got_four, r.got_six, r.got_mapped,
    }, out)
  end)

  it("has MTU 1280 on R-B and 1500 on A-R", function()
    local why = N.needs_topology(); if why then return pending(why) end
    local r, out = N.run("-n", N.CHAIN, [[
local function mtu(where, dev)
  local p = io.popen((where and ("nsenter -t " .. os.getenv(where) .. " -n ") or "") ..
    "ip -o link show dev " .. dev)
  local v = p:read("a"):match(" mtu (%d+) ")
  p:close()
  return v
end
report("a0", mtu(nil, "a0"))
report("r1", mtu("R", "r1"))
report("b0", mtu("B", "b0"))
os.execute("kill $R $B")
]])
    assert.same({ "1500", "1280", "1280" }, { r.a0, r.r1, r.b0 }, out)
  end)
end)

describe("N.TWOLINK", function()
  it("routes to P's addresses by l1; P's link addresses by their own link", function()
    local why = N.needs_topology(); if why then return pending(why) end
    local r, out = send_in(N.TWOLINK, "P", {
      { "four", "198.51.100.9", 10, "inet" },
      { "six", "2001:db8:9::9", 10, "inet6" },
      { "mapped", "198.51.100.9", 10, "dual" },
      { "direct", "10.2.0.2", 10, "inet" },
      { "direct6", "2001:db8:b::2", 10, "inet6" },
    }, "$P")
    assert.same({
      "::ffff:10.1.0.1 p1 64 10", "2001:db8:a::1 p1 64 10", "::ffff:10.1.0.1 p1 64 10",
      "::ffff:10.2.0.1 p2 64 10", "2001:db8:b::1 p2 64 10",
    }, { r.got_four, r.got_six, r.got_mapped, r.got_direct, r.got_direct6 }, out)
  end)
end)
