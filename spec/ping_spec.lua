-- ds.ping (issue 17) with real echo traffic inside network namespaces the
-- spec makes: over datagram ICMP sockets (ping_group_range opened in the
-- namespace) and over raw ones (a fresh namespace, as root); a peer that
-- ignores echo requests for the timeout; a raw "sniffer" socket in the
-- same namespace sees the replies, to prove size, source, id and device;
-- a router's ICMP errors (both kinds of socket); cqueues and luv loops
-- running while a ping waits; and examples/ping_sweep.lua.
local H = require "spec.helpers"
local N = require "spec.namespace"
local ds = require "dualstack"

local LO_UP = "ip link set lo up"
local OPEN_RANGE = "sysctl -q -w net.ipv4.ping_group_range='0 2147483647'"

local PROLOGUE = [[
local ds = require "dualstack"
-- A raw socket that sees every echo reply of this namespace.
local function sniffer(family)
  local s = assert(ds.icmp { family = family, raw = true })
  assert(s:setoption("pktinfo", true))
  s:settimeout(0.5)
  return s
end
-- The first echo reply the sniffer saw (parsed), with its destination.
local function sniffed(s, family)
  local m = assert(s:recvmsg())
  local p = assert(ds.icmp_parse(m.data, family))
  return p, m.dst
end
local function ping(host, opts)
  local t0 = ds.monotime()
  local rtt, from, code = ds.ping(host, opts)
  return rtt, from, code, ds.monotime() - t0
end
]]

-- N.PAIR, then a wait (at most 4 s) until neither end's IPv6 addresses are
-- tentative: before DAD of the link-local addresses ends, neighbour
-- discovery fails and the first echo request to 2001:db8::2 is lost.
local PAIR = N.PAIR .. [[
for i in $(seq 1 20); do ip -6 addr show dev va tentative | grep -q inet6 || break; sleep 0.1; done
for i in $(seq 1 20); do nsenter -t $PEER -n ip -6 addr show dev vb tentative | grep -q inet6 || break; sleep 0.1; done
]]

-- The peer's holder (N.PAIR's sleep) is killed at the end, else the
-- child's output stays open until it exits.
local function run(setup, script)
  return N.run("-n", setup, PROLOGUE .. script .. [[

if os.getenv("PEER") then os.execute("kill " .. os.getenv("PEER")) end
]])
end

for _, mode in ipairs { "dgram", "raw" } do
  local setup = mode == "dgram" and LO_UP .. "\n" .. OPEN_RANGE or LO_UP

  describe("ds.ping over " .. mode .. " ICMP sockets", function()
    it("answers for 127.0.0.1 and ::1 with the round-trip time and the replier", function()
      local why = H.needs_icmp_netns("ds.ping") if why then return pending(why) end
      local r = run(setup, [[
        report("kind", ds.icmp { family = "inet" }:gettype())
        local rtt, from = ping("127.0.0.1")
        report("rtt4", rtt) report("from4", from)
        rtt, from = ping("::1")
        report("rtt6", rtt) report("from6", from)
      ]])
      assert.equal(mode, r.kind)
      local rtt4, rtt6 = tonumber(r.rtt4), tonumber(r.rtt6)
      assert.is_true(rtt4 > 0 and rtt4 < 1, r.rtt4)
      assert.is_true(rtt6 > 0 and rtt6 < 1, r.rtt6)
      assert.equal("127.0.0.1", r.from4)
      assert.equal("::1", r.from6)
    end)

    it("sends size payload bytes, from source, with the id asked", function()
      local why = H.needs_icmp_netns("ds.ping") if why then return pending(why) end
      local r = run(setup, [[
        local sn = sniffer("inet")
        assert(ping("127.0.0.1", { size = 1000 }))
        local p = sniffed(sn, "inet")
        report("size", #p.data)
        assert(ping("127.0.0.1", { size = 0 }))
        report("size0", #sniffed(sn, "inet").data)
        local _, from = assert(ping("127.0.0.1", { source = "127.0.0.2" }))
        local _, dst = sniffed(sn, "inet")
        report("from", from) report("dst", dst)
        assert(ping("127.0.0.1", { id = 4242 }))
        report("id", sniffed(sn, "inet").id)
        local sn6 = sniffer("inet6")
        assert(ping("::1", { size = 1000, id = 4343 }))
        p = sniffed(sn6, "inet6")
        report("size6", #p.data) report("id6", p.id)
      ]])
      assert.equal("1000", r.size)
      assert.equal("0", r.size0)
      assert.equal("127.0.0.1", r.from)
      assert.equal("127.0.0.2", r.dst)
      assert.equal("4242", r.id)
      assert.equal("1000", r.size6)
      assert.equal("4343", r.id6)
    end)

    it("times out against a peer that ignores echo requests, within the call's timeout", function()
      local why = H.needs_icmp_netns("ds.ping") if why then return pending(why) end
      local r = run(setup .. "\n" .. PAIR .. "\n"
        .. "nsenter -t $PEER -n sysctl -q -w net.ipv4.icmp_echo_ignore_all=1\n", [[
        assert(ping("2001:db8::2")) -- the peer answers ICMPv6 still: the link works
        local rtt, msg, code, elapsed = ping("192.0.2.2", { timeout = 0.3 })
        report("rtt", rtt) report("msg", msg) report("code", code) report("elapsed", elapsed)
      ]])
      assert.equal("nil", r.rtt)
      assert.equal("timeout", r.msg)
      assert.equal("ETIMEDOUT", r.code)
      local e = tonumber(r.elapsed)
      assert.is_true(e >= 0.3 and e <= 0.6, r.elapsed)
    end)
  end)
end

describe("ds.ping", function()
  it("gives the EACCES message when only datagram sockets are allowed and refused", function()
    local why = H.needs_icmp_netns("ds.ping") if why then return pending(why) end
    local r = run(LO_UP, [[
      local rtt, msg, code = ds.ping("127.0.0.1", { raw = false })
      report("rtt", rtt) report("msg", msg) report("code", code)
    ]])
    assert.equal("nil", r.rtt)
    assert.matches("^ICMP sockets are not permitted: add a group of this process to net%.ipv4%.ping_group_range "
      .. "%(sysctl %-w net%.ipv4%.ping_group_range='0 0'%)", r.msg)
    assert.equal("EACCES", r.code)
  end)

  it("raises for bad options, naming them", function()
    assert.has_error(function() ds.ping("127.0.0.1", { size = 70000 }) end,
      "bad argument #2 to 'ping' (option 'size' out of range (0-65507))")
    assert.has_error(function() ds.ping("127.0.0.1", { size = -1 }) end,
      "bad argument #2 to 'ping' (option 'size' out of range (0-65507))")
    assert.has_error(function() ds.ping("127.0.0.1", { id = 70000 }) end,
      "bad argument #2 to 'ping' (option 'id' out of range (0-65535))")
    assert.has_error(function() ds.ping("127.0.0.1", { timeout = -1 }) end,
      "bad argument #2 to 'ping' (option 'timeout' must be a number >= 0)")
    assert.has_error(function() ds.ping("127.0.0.1", 5) end,
      "bad argument #2 to 'ping' (table expected, got number)")
  end)

  it("refuses a name in numeric mode without a lookup", function()
    assert.same({ nil, "a numeric address is required: 'localhost'", "EAI_NONAME" },
      { ds.ping("localhost", { numeric = true }) })
  end)
end)

-- The ICMP errors that quote our requests: a raw socket receives them, a
-- datagram one reads them with recverr; both report them alike. The peer
-- forwards but has no route onwards to 198.51.100.0/24, so it answers
-- "network unreachable"; to 203.0.113.0/24 (routed to a link of its own)
-- with a hop limit of 1 it answers "time exceeded". ICMP rate limits are
-- off. The call ends at the error, well before its timeout.
local ROUTER = PAIR .. [[
ip route add 198.51.100.0/24 via 192.0.2.2
ip route add 203.0.113.0/24 via 192.0.2.2
ip -6 route add 2001:db8:9::/64 via 2001:db8::2
ip -6 route add 2001:db8:a::/64 via 2001:db8::2
nsenter -t $PEER -n sh -c 'sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
  ip link add d0 type veth peer name d1; ip link set d0 up; ip link set d1 up
  ip route add 203.0.113.0/24 dev d0; ip -6 route add 2001:db8:a::/64 dev d0'
]]

for _, mode in ipairs { "dgram", "raw" } do
  local setup = mode == "dgram" and LO_UP .. "\n" .. OPEN_RANGE .. "\n" .. ROUTER or LO_UP .. "\n" .. ROUTER

  describe("ds.ping over " .. mode .. " ICMP sockets, errors", function()
    it("reports the error and who sent it, at once", function()
      local why = H.needs_icmp_netns("ds.ping") if why then return pending(why) end
      local r, out = run(setup, ([[
        report("kind", ds.icmp { family = "inet" }:gettype())
        local slowest = 0
        for _, c in ipairs { { "4", "198.51.100.9", "203.0.113.9" }, { "6", "2001:db8:9::9", "2001:db8:a::9" } } do
          local rtt, msg, code, elapsed = ping(c[2], { timeout = 2, raw = RAW })
          slowest = math.max(slowest, elapsed)
          report("net" .. c[1], tostring(rtt) .. "|" .. tostring(msg) .. "|" .. tostring(code))
          rtt, msg, code, elapsed = ping(c[3], { timeout = 2, hoplimit = 1, raw = RAW })
          slowest = math.max(slowest, elapsed)
          report("ttl" .. c[1], tostring(rtt) .. "|" .. tostring(msg) .. "|" .. tostring(code))
        end
        report("slowest", slowest)
      ]]):gsub("RAW", tostring(mode == "raw")))
      assert.equal(mode, r.kind, out)
      assert.equal("nil|network unreachable from 192.0.2.2|ENETUNREACH", r.net4)
      assert.equal("nil|time exceeded from 192.0.2.2|EHOSTUNREACH", r.ttl4)
      assert.equal("nil|network unreachable from 2001:db8::2|ENETUNREACH", r.net6)
      assert.equal("nil|time exceeded from 2001:db8::2|EHOSTUNREACH", r.ttl6)
      assert.is_true(tonumber(r.slowest) < 1, r.slowest)
    end)

    -- A router quotes only the start of a long request (576 bytes of IPv4,
    -- 1280 of IPv6 in all): the rest is not compared.
    it("matches an error quoting only the start of a long request", function()
      local why = H.needs_icmp_netns("ds.ping") if why then return pending(why) end
      local r, out = run(setup, ([[
        for _, c in ipairs { { "4", "198.51.100.9" }, { "6", "2001:db8:9::9" } } do
          local rtt, msg, code = ping(c[2], { timeout = 2, size = 1400, raw = RAW })
          report("cut" .. c[1], tostring(rtt) .. "|" .. tostring(msg) .. "|" .. tostring(code))
        end
      ]]):gsub("RAW", tostring(mode == "raw")))
      assert.equal("nil|network unreachable from 192.0.2.2|ENETUNREACH", r.cut4, out)
      assert.equal("nil|network unreachable from 2001:db8::2|ENETUNREACH", r.cut6, out)
    end)
  end)
end

-- ds.ping inside an event loop: LOOP_PING pings HOST (datagram socket,
-- timeout TIMEOUT) in a coroutine of LOOP (a cqueues one, or a
-- ds.luv.spawn one) while a ticker (a cqueues coroutine, or a luv timer)
-- counts every 10 ms; it reports the result, the call's time and the ticks.
local LOOP_PING = [[
local ticks, done = 0, false
local function body()
  local rtt, msg, code, elapsed = ping(HOST, { timeout = TIMEOUT, raw = false })
  report("result", tostring(rtt) .. "|" .. tostring(msg) .. "|" .. tostring(code))
  report("elapsed", elapsed)
  done = true
end
if LOOP == "cqueues" then
  local cqueues = require "cqueues"
  local cq = cqueues.new()
  cq:wrap(body)
  cq:wrap(function()
    while not done do ticks = ticks + 1 cqueues.sleep(0.01) end
  end)
  assert(cq:loop())
else
  local uv = require "luv"
  local tick = uv.new_timer()
  tick:start(10, 10, function() ticks = ticks + 1 end)
  ds.luv.spawn(function() body() tick:close() end)
  ds.luv.run()
end
report("ticks", ticks)
]]

local function loop_ping(loop, setup, host, timeout)
  local script = LOOP_PING:gsub("LOOP", ("%q"):format(loop)):gsub("HOST", ("%q"):format(host))
    :gsub("TIMEOUT", tostring(timeout))
  return run(setup, script)
end

for _, loop in ipairs { "cqueues", "luv" } do
  describe("ds.ping in " .. loop, function()
    it("yields to " .. loop .. " while it waits", function()
      local why = H.needs_icmp_netns("ds.ping") or H.needs_module(loop, "lua-" .. loop)
      if why then return pending(why) end
      local r, out = loop_ping(loop, LO_UP .. "\n" .. OPEN_RANGE .. "\n" .. PAIR .. "\n"
        .. "nsenter -t $PEER -n sysctl -q -w net.ipv4.icmp_echo_ignore_all=1\n", "192.0.2.2", 0.5)
      assert.equal("nil|timeout|ETIMEDOUT", r.result, out)
      local e = tonumber(r.elapsed)
      assert.is_true(e >= 0.5 and e < 1, r.elapsed)
      assert.is_true(tonumber(r.ticks) >= 30, r.ticks)
    end)

    it("wakes on a queued ICMP error and reports it (datagram socket)", function()
      local why = H.needs_icmp_netns("ds.ping") or H.needs_module(loop, "lua-" .. loop)
      if why then return pending(why) end
      local r, out = loop_ping(loop, LO_UP .. "\n" .. OPEN_RANGE .. "\n" .. ROUTER, "198.51.100.9", 2)
      assert.equal("nil|network unreachable from 192.0.2.2|ENETUNREACH", r.result, out)
      assert.is_true(tonumber(r.elapsed) < 1, r.elapsed)
    end)
  end)
end

-- opts.device where the routing table alone picks the other link: in
-- N.TWOLINK, A reaches P's 198.51.100.9 and 2001:db8:9::9 by l1 unless the
-- ping's socket is bound to l2. A raw sniffer in A tells the link each
-- echo reply came in by (pktinfo), and P's per-link ICMPv6 counters
-- (/proc/net/dev_snmp6) the link each IPv6 request came in by.
local DEVICE_CHILD = [[
-- The link of the first echo reply the sniffer sn saw ("none" for none).
local function arrival(sn, family)
  local m = sn:recvmsg()
  local p = m and ds.icmp_parse(m.data, family)
  return p and p.type == (family == "inet" and 0 or 129) and ds.ifname(m.ifindex) or "none"
end
-- P's count of ICMPv6 echo requests received by link dev.
local function echos(dev)
  local f = assert(io.popen("nsenter -t " .. os.getenv("P") .. " -n cat /proc/net/dev_snmp6/" .. dev))
  local n = f:read("a"):match("Icmp6InEchos%s+(%d+)")
  f:close()
  return tonumber(n)
end
for _, mode in ipairs { "dgram", "raw" } do
  for _, c in ipairs { { "4", "inet", "198.51.100.9" }, { "6", "inet6", "2001:db8:9::9" } } do
    for _, dev in ipairs { "", "l2" } do
      local sn = sniffer(c[2])
      local p1, p2 = echos("p1"), echos("p2")
      local rtt, from, code = ds.ping(c[3], { raw = mode == "raw", device = dev ~= "" and dev or nil, timeout = 1 })
      local key = mode .. c[1] .. (dev == "" and "_routed" or "_" .. dev)
      report(key, ("%s %s %s"):format(rtt and "ok" or code, from, arrival(sn, c[2])))
      if c[1] == "6" then report(key .. "_echos", ("p1+%d p2+%d"):format(echos("p1") - p1, echos("p2") - p2)) end
      sn:close()
    end
  end
  local u = table.pack(ds.ping("127.0.0.1", { raw = mode == "raw", device = "nosuch0" }))
  report(mode .. "_unknown", ("%s,%s,%s"):format(tostring(u[1]), tostring(u[2]), tostring(u[3])))
end
os.execute("kill " .. os.getenv("P")) -- N.TWOLINK's holder, else its output stays open
]]

describe("ds.ping with opts.device", function()
  local r, out
  local function skip()
    local why = H.needs_icmp_netns("ds.ping with opts.device")
    if why then return why end
    if not r then r, out = run(N.TWOLINK .. OPEN_RANGE .. "\n", DEVICE_CHILD) end
  end

  for _, mode in ipairs { "dgram", "raw" } do
    it(mode .. ": unbound, the reply comes by l1 (the routing table's link)", function()
      local why = skip() if why then return pending(why) end
      assert.same({ "ok 198.51.100.9 l1", "ok 2001:db8:9::9 l1", "p1+1 p2+0" },
        { r[mode .. "4_routed"], r[mode .. "6_routed"], r[mode .. "6_routed_echos"] }, out)
    end)

    it(mode .. ": device = 'l2' sends by l2 and gets the reply by l2", function()
      local why = skip() if why then return pending(why) end
      assert.same({ "ok 198.51.100.9 l2", "ok 2001:db8:9::9 l2", "p1+0 p2+1" },
        { r[mode .. "4_l2"], r[mode .. "6_l2"], r[mode .. "6_l2_echos"] }, out)
    end)

    it(mode .. ": an unknown device is nil, 'no such device', 'ENODEV'", function()
      local why = skip() if why then return pending(why) end
      assert.equal("nil,no such device,ENODEV", r[mode .. "_unknown"], out)
    end)
  end
end)

describe("ds.ping on a name with ::1 and 127.0.0.1 (a private /etc/hosts)", function()
  local function race(extra)
    local hosts = os.tmpname()
    local f = assert(io.open(hosts, "w"))
    f:write("127.0.0.1 dualhost\n::1 dualhost\n")
    f:close()
    local r, out = N.run("-n -m", "mount --bind " .. hosts .. " /etc/hosts || exit 1\n" .. LO_UP .. "\n"
      .. OPEN_RANGE .. "\n" .. extra, PROLOGUE .. [[
      local rtt, from, code, elapsed = ping("dualhost", { timeout = 1 })
      report("from", from) report("elapsed", elapsed)
    ]])
    os.remove(hosts)
    return r, out
  end

  it("tries IPv6 first", function()
    local why = H.needs_icmp_netns("ds.ping") if why then return pending(why) end
    local usable, reason = N.available("-n -m")
    if not usable then return pending(reason) end
    local r, out = race("")
    assert.equal("::1", r.from, out)
  end)

  it("starts the IPv4 attempt 250 ms later when IPv6 does not answer", function()
    local why = H.needs_icmp_netns("ds.ping") if why then return pending(why) end
    local usable, reason = N.available("-n -m")
    if not usable then return pending(reason) end
    local r, out = race("sysctl -q -w net.ipv6.icmp.echo_ignore_all=1")
    assert.equal("127.0.0.1", r.from, out)
    local e = tonumber(r.elapsed)
    assert.is_true(e >= 0.25 and e < 0.5, r.elapsed)
  end)
end)

describe("examples/ping_sweep.lua", function()
  it("pings many hosts at once and prints a table", function()
    local why = H.needs_icmp_netns("examples/ping_sweep.lua") if why then return pending(why) end
    local r, out = N.run("-n", LO_UP .. "\n" .. PAIR .. "\ncd " .. N.shell_quote(H.repo_root()) .. "\n"
      .. "T0=$(date +%s%N)\nlua5.4 examples/ping_sweep.lua -t 1 192.0.2.2 2001:db8::2 192.0.2.77\n"
      .. "echo elapsed_ms=$(( ($(date +%s%N) - T0) / 1000000 ))\n"
      .. "echo done=1\nkill $PEER\nexit 0\n", "")
    assert.equal("1", r.done, out)
    local rows = {}
    for line in out:gmatch("[^\n]+") do rows[#rows + 1] = line end
    assert.matches("^host%s+address%s+rtt_ms$", rows[1])
    assert.matches("^192%.0%.2%.2%s+192%.0%.2%.2%s+%d+%.%d%d%d$", rows[2])
    assert.matches("^2001:db8::2%s+2001:db8::2%s+%d+%.%d%d%d$", rows[3])
    assert.matches("^192%.0%.2%.77%s+192%.0%.2%.77%s+timeout$", rows[4])
    local ms = tonumber(r.elapsed_ms)
    assert.is_true(ms >= 1000 and ms < 1500, r.elapsed_ms) -- concurrent: one timeout for all
  end)
end)
