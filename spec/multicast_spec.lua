-- Multicast: join/leave for IPv4 and IPv6 groups (source-specific too) and
-- the sending options, with real traffic inside a network namespace the
-- spec makes: IPv4 groups on lo (multicast on, a 239.0.0.0/8 route), IPv6
-- groups across a veth pair. The child reports "key=value" lines.
local H = require "helpers"
local cleanup = require "cleanup"
local N = require "namespace"
local ds = H.ds

-- Shell setup of the namespace. The veth part may fail on kernels without
-- veth; the child is told, and the IPv6 cases become pending.
local SETUP = [[
ip link set lo up && ip link set lo multicast on && ip route add 239.0.0.0/8 dev lo || exit 1
sysctl -qw net.ipv6.conf.default.accept_dad=0 2>/dev/null
if ip link add v0 type veth peer name v1 && ip link set v0 up && ip link set v1 up &&
   ip -6 addr add fd00::1/64 dev v0 nodad && ip -6 addr add fd00::2/64 dev v1 nodad; then
  export VETH=ok
else
  export VETH=failed
fi
]]

local CHILD = [=[
local ds = require "dualstack"
local WAIT = 0.3 -- how long a member waits before "nothing arrived"

-- Runs one part; a raised error is reported instead of ending the child.
local function part(name, fn)
  local ok, err = pcall(fn)
  report(name .. ".done", ok and "yes" or ("error: " .. tostring(err):gsub("\n", " ")))
end

local function member(family)
  local s = assert(ds.udp { family = family })
  assert(s:setoption("reuseaddr", true))
  assert(s:setoption("pktinfo", true))
  s:settimeout(WAIT)
  return s
end

-- What s receives next: the datagram's text, or the error ("timeout").
local function receive(s, key)
  local m, err = s:recvmsg()
  if m then
    report(key .. ".dst", m.dst)
    report(key .. ".ifindex", m.ifindex)
    report(key .. ".addr", m.addr)
  end
  report(key, m and m.data or err)
end

-- Empties s, so a later receive sees only what was sent after.
local function drain(s)
  s:settimeout(0)
  while s:recvmsg() do end
  s:settimeout(WAIT)
end

local function sender(family, bind, opts)
  local s = assert(ds.udp { family = family })
  if bind then assert(s:bind(bind, 0)) end
  for _, o in ipairs(opts) do report(o.key, (s:setoption(o[1], o[2]))) end
  return s
end

part("v4", function()
  local G = "239.1.2.3"
  local dual, inet = member("dual"), member("inet")
  assert(dual:bind("*", 0))
  local _, port = dual:getsockname()
  assert(inet:bind("*", port))
  local tx = sender("dual", nil, {
    { "multicast_if", "lo", key = "v4.set_if" },
    { "multicast_loop", true, key = "v4.set_loop" },
    { "multicast_hops", 3, key = "v4.set_hops" } })
  report("v4.get_if", tx:getoption("multicast_if"))
  report("v4.get_loop", tx:getoption("multicast_loop"))
  report("v4.get_hops", tx:getoption("multicast_hops"))
  local function step(n, text)
    drain(dual); drain(inet)
    tx:sendto(text, G, port)
    receive(dual, "v4.dual" .. n)
    receive(inet, "v4.inet" .. n)
  end
  -- Linux delivers a group joined by any socket to every socket bound to
  -- the wildcard (IP_MULTICAST_ALL), so each join is proven while it is
  -- the only one, and leaving is proven with no member left.
  report("v4.join_dual", dual:join(G, "lo"))
  report("v4.join_again", select(3, dual:join(G, "lo")))
  step(1, "one")
  report("v4.leave_dual", dual:leave(G, "lo"))
  step(2, "two")
  report("v4.join_inet", inet:join(G, ds.ifindex("lo")))
  step(3, "three")
  report("v4.leave_inet", inet:leave(G, ds.ifindex("lo")))
  step(4, "four")
end)

part("ssm", function()
  local G, SRC = "239.1.2.4", "127.0.0.1"
  local m = member("dual")
  assert(m:bind("*", 0))
  local _, port = m:getsockname()
  local good = sender("inet", "127.0.0.1", { { "multicast_if", "127.0.0.1", key = "ssm.if_by_addr" } })
  local other = sender("inet", "127.0.0.2", { { "multicast_if", "lo", key = "ssm.if_by_name" } })
  report("ssm.join", m:join(G, "lo", SRC))
  other:sendto("other source", G, port)
  good:sendto("right source", G, port)
  receive(m, "ssm.first")
  receive(m, "ssm.second")
  report("ssm.leave", m:leave(G, "lo", SRC))
  good:sendto("after leave", G, port)
  receive(m, "ssm.after_leave")
end)

-- The interfaces a datagram of text arrived on within WAIT, sorted and
-- joined ("v0,v1"), or "none". Linux gives a wildcard-bound socket every
-- group any socket joined (IPV6_MULTICAST_ALL), so per-interface joins are
-- told apart by where copies arrive, not by which socket got them.
local function arrivals(s, text)
  local names = {}
  while true do
    local m = s:recvmsg()
    if not m then break end
    names[#names + 1] = (m.data == text and "" or "stale:") .. ds.ifname(m.ifindex)
  end
  table.sort(names)
  return #names > 0 and table.concat(names, ",") or "none"
end

part("v6", function()
  report("v6.veth", os.getenv("VETH"))
  if os.getenv("VETH") ~= "ok" then return end
  local G = "ff12::1234"
  local m = member("dual")
  assert(m:bind("*", 0))
  local _, port = m:getsockname()
  local tx = sender("inet6", nil, {
    { "multicast_if", "v0", key = "v6.set_if" },
    { "multicast_loop", true, key = "v6.set_loop" },
    { "multicast_hops", 1, key = "v6.set_hops" } })
  report("v6.get_if", tx:getoption("multicast_if"))
  report("v6.index_v0", ds.ifindex("v0"))
  local function step(name)
    drain(m)
    tx:sendto(name, G, port)
    report("v6." .. name, arrivals(m, name))
  end
  report("v6.join_v1", m:join(G, ds.ifindex("v1")))
  step("far_end")      -- out of v0, in at v1; v0 is no member, so no loop copy
  report("v6.join_v0", m:join(G, "v0"))
  step("both_ends")    -- and the copy looped back on v0
  report("v6.set_noloop", tx:setoption("multicast_loop", false))
  step("noloop")
  tx:setoption("multicast_loop", true)
  report("v6.leave_v1", m:leave(G, "v1"))
  step("left_v1")
  report("v6.leave_v0", m:leave(G, "v0"))
  step("left_both")
  local by_addr = sender("dual", nil, { { "multicast_if", "fd00::1", key = "v6.if_by_addr" } })
  report("v6.by_addr_if", by_addr:getoption("multicast_if"))
end)
]=]

-- Runs the child once for every case in this file.
local results, output
local usable, reason = N.available("-n")

local function run_child()
  if not usable or results then return end
  results, output = N.run("-n", SETUP, CHILD)
end

-- A case over the child's results: pending where no namespace can be made,
-- failing with the child's whole output when it broke.
local function check(name, part, fn)
  it(name, function()
    local why = H.needs_multicast("multicast"); if why then return pending(why) end
    if not usable then return pending(reason) end
    run_child()
    assert.equal("yes", results[part .. ".done"], output)
    fn(results, output)
  end)
end

describe("multicast in a network namespace: IPv4 group on lo", function()
  check("sets multicast_if by name, multicast_loop and multicast_hops on a dual socket", "v4", function(r, out)
    assert.same({ "1", "1", "1" }, { r["v4.set_if"], r["v4.set_loop"], r["v4.set_hops"] }, out)
    assert.equal(tostring(ds.ifindex("lo")), r["v4.get_if"], out)
    assert.equal("true", r["v4.get_loop"], out)
    assert.equal("3", r["v4.get_hops"], out)
  end)

  check("a dual socket that joins receives the group's datagrams, as IPv4 to the group", "v4", function(r, out)
    assert.equal("1", r["v4.join_dual"], out)
    assert.equal("one", r["v4.dual1"], out)
    assert.equal("::ffff:239.1.2.3", r["v4.dual1.dst"], out)
    assert.equal("1", r["v4.dual1.ifindex"], out) -- lo is 1 in a new namespace
  end)

  check("joining the same group twice is refused with EADDRINUSE", "v4", function(r, out)
    assert.equal("EADDRINUSE", r["v4.join_again"], out)
  end)

  check("after the only member leaves, nothing arrives", "v4", function(r, out)
    assert.equal("1", r["v4.leave_dual"], out)
    assert.equal("timeout", r["v4.dual2"], out)
    assert.equal("timeout", r["v4.inet2"], out)
  end)

  check("an inet socket joins by interface index and receives", "v4", function(r, out)
    assert.equal("1", r["v4.join_inet"], out)
    assert.equal("three", r["v4.inet3"], out)
    assert.equal("239.1.2.3", r["v4.inet3.dst"], out)
    assert.equal("1", r["v4.leave_inet"], out)
    assert.equal("timeout", r["v4.inet4"], out)
  end)
end)

describe("multicast in a network namespace: source-specific IPv4 join", function()
  check("a dual socket joined for source 127.0.0.1 receives only that source", "ssm", function(r, out)
    assert.same({ "1", "1" }, { r["ssm.if_by_addr"], r["ssm.if_by_name"] }, out)
    assert.equal("1", r["ssm.join"], out)
    assert.equal("right source", r["ssm.first"], out)
    assert.equal("::ffff:127.0.0.1", r["ssm.first.addr"], out)
    assert.equal("timeout", r["ssm.second"], out)
  end)

  check("leaving the source-specific membership stops delivery", "ssm", function(r, out)
    assert.equal("1", r["ssm.leave"], out)
    assert.equal("timeout", r["ssm.after_leave"], out)
  end)
end)

describe("multicast in a network namespace: IPv6 group ff12::1234 across a veth pair", function()
  local function check6(name, fn)
    check(name, "v6", function(r, out)
      if r["v6.veth"] ~= "ok" then return pending("no veth pair could be made:\n" .. out) end
      fn(r, out)
    end)
  end

  check6("sets the sending interface by name and reads its index back", function(r, out)
    assert.same({ "1", "1", "1" }, { r["v6.set_if"], r["v6.set_loop"], r["v6.set_hops"] }, out)
    assert.equal(r["v6.index_v0"], r["v6.get_if"], out)
  end)

  check6("a join on v1 receives what v0 sends, and only there", function(r, out)
    assert.equal("1", r["v6.join_v1"], out)
    assert.equal("v1", r["v6.far_end"], out)
  end)

  check6("a join on v0 too adds the copy looped back with multicast_loop on", function(r, out)
    assert.equal("1", r["v6.join_v0"], out)
    assert.equal("v0,v1", r["v6.both_ends"], out)
  end)

  check6("with multicast_loop off only the far end receives", function(r, out)
    assert.equal("1", r["v6.set_noloop"], out)
    assert.equal("v1", r["v6.noloop"], out)
  end)

  check6("leave stops delivery on that interface, then on both", function(r, out)
    assert.equal("1", r["v6.leave_v1"], out)
    assert.equal("v0", r["v6.left_v1"], out)
    assert.equal("1", r["v6.leave_v0"], out)
    assert.equal("none", r["v6.left_both"], out)
  end)

  check6("multicast_if takes an interface's address", function(r, out)
    assert.equal("1", r["v6.if_by_addr"], out)
    assert.equal(r["v6.index_v0"], r["v6.by_addr_if"], out)
  end)
end)

-- Argument checks need no traffic and run on the host.
describe("multicast arguments", function()
  after_each(cleanup.close_all)
  local function udp(family) return cleanup.keep(H.socket("udp", family)) end

  it("refuses an IPv4 group on an inet6 socket and an IPv6 group on an inet socket", function()
    local _, msg, code = udp("inet6"):join("239.1.2.3")
    assert.equal("EAFNOSUPPORT", code)
    assert.is_string(msg)
    _, msg, code = udp("inet"):join("ff12::1234", H.LO_NAME)
    assert.equal("EAFNOSUPPORT", code)
    assert.is_string(msg)
  end)

  it("raises on a unicast group, an unknown interface, mixed source family, or TCP", function()
    assert.has_error(function() udp("dual"):join("127.0.0.1") end,
      "bad argument #1 to 'join' (not a multicast group address)")
    assert.has_error(function() udp("dual"):join("239.1.2.3", "nosuchif0") end,
      "bad argument #2 to 'join' (unknown interface 'nosuchif0')")
    assert.has_error(function() udp("dual"):join("239.1.2.3", H.LO_NAME, "::1") end,
      "bad argument #3 to 'join' (source and group families differ)")
    assert.has_error(function() udp("dual"):join("not an address") end,
      "bad argument #1 to 'join' (malformed IPv4 address: 'not an address')")
    local t = cleanup.keep(H.socket("tcp", "dual"))
    assert.has_error(function() t:join("239.1.2.3") end, "calling 'join' on bad self (udp socket expected for multicast, got tcp socket)")
    assert.has_error(function() udp("dual"):setoption("multicast_if", "nosuchif0") end,
      "bad argument #2 to 'setoption' (unknown interface 'nosuchif0')")
    assert.has_error(function() udp("dual"):setoption("multicast_if", "192.0.2.99") end,
      "bad argument #2 to 'setoption' (no interface has address '192.0.2.99')")
  end)
end)
