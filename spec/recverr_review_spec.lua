-- recverr review (issue 17): defects found by the fresh-eyes review, each
-- case failing on the code before its fix.
local H = require "helpers"
local N = require "spec.namespace"
local cleanup = require "cleanup"
local ds = H.ds

local keep = cleanup.keep
after_each(cleanup.close_all)

local function provoke(s, host)
  local port = H.closed_port(host:find(":") and "inet6" or "inet", host)
  assert.equal(3, H.ok(s:sendto("abc", host, port)))
  assert.equal(s, ds.select({ s }, nil, 1)[1], "the ICMP error made the socket readable")
  return port
end

describe("recverr review", function()
  it("the FIFO frees and allocates through the state's allocator of the moment", function()
    local why = H.needs_errqueue(); if why then return pending(why) end
    local th = require "spec.testhelp"
    local s = keep(H.udp_bound("inet", "127.0.0.1"))
    -- made while a wrapper allocator is in front of the state's; the
    -- wrapper (and its user data) is gone before the FIFO is next used
    th.failalloc(1000000)
    local ok = s:setoption("recverr", true)
    th.failalloc(nil)
    H.ok(ok)
    local port = provoke(s, "127.0.0.2")
    s:settimeout(0)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recvfrom() }) -- drained: pushes
    local e = s:recverr()
    assert.same({ "ECONNREFUSED", port }, { e.code, e.port })
    s:close() -- frees
  end)

  it("off: an error queued while on is not reported by the next receive", function()
    local why = H.needs_errqueue(); if why then return pending(why) end
    local s = keep(H.udp_bound("inet", "127.0.0.1"))
    H.ok(s:setoption("recverr", true))
    provoke(s, "127.0.0.2")
    H.ok(s:setoption("recverr", false))
    -- as on a socket that never had recverr: an unconnected socket is not
    -- told of ICMP errors
    s:settimeout(0.1)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recvfrom() })
    assert.same({}, (ds.select({ s }, nil, 0)))
  end)

  -- ICMPv6 "administratively prohibited" (a router's prohibit route, any
  -- firewall's reject) comes back as EACCES; IPv4's protocol unreachable
  -- as ENOPROTOOPT: asynchronous errors like the others.
  it("an ICMPv6 administratively prohibited (EACCES) is passed by like the others", function()
    if H.WINDOWS then return pending("network namespaces are Linux's") end
    local usable, reason = N.available("-n")
    if not usable then return pending(reason) end
    local r, out = N.run("-n", N.CHAIN .. "nsenter -t $R -n ip -6 route add prohibit 2001:db8:3::/64\n", [[
local ds = require "dualstack"
local s = assert(ds.udp { family = "inet6" })
assert(s:setoption("recverr", true))
assert(s:bind("2001:db8:1::1", 0))
local port, collect = receiver("B", 1)
assert(s:sendto("abc", "2001:db8:3::1", 9))
report("select", #ds.select({ s }, nil, 2))
s:settimeout(0.2)
local function row(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, " ")
end
report("recv", row(s:recvfrom()))
assert(s:sendto("abc", "2001:db8:3::1", 9))
ds.select({ s }, nil, 2)
report("send", row(s:sendto("live", "2001:db8:2::2", port)))
local e = s:recverr()
report("err", e and (e.code .. " " .. e.origin .. " " .. e.type .. " " .. e.icmpcode .. " " .. e.offender))
local got = collect()
report("got", got.live or got.error)
os.execute("kill $R $B")
]])
    assert.same({ "1", "nil timeout ETIMEDOUT", "4", "EACCES icmp6 1 1 2001:db8:1::2", "2001:db8:1::1" },
                { r.select, r.recv, r.send, r.err, r.got and r.got:match("^%S+") }, out)
  end)
end)

describe("recverr review: fromfd", function()
  it("a descriptor with recverr on keeps it: no wait spins past its deadline", function()
    local why = H.needs_errqueue(); if why then return pending(why) end
    local s = H.udp_bound("inet", "127.0.0.1")
    H.ok(s:setoption("recverr", true))
    local t = keep(H.ok(ds.fromfd(H.ok(s:detach()), "udp")))
    assert.is_true(t:getoption("recverr")) -- before the fix: false, and the receive below spun for ever
    local port = provoke(t, "127.0.0.2")
    t:settimeout(0.3)
    local elapsed, cpu, d, msg, code = H.timed(function() return t:recvfrom() end)
    assert.same({ nil, "timeout", "ETIMEDOUT" }, { d, msg, code })
    assert.is_true(elapsed >= 0.25 and elapsed < 1 and cpu < 0.1, ("%.3f s, %.3f s CPU"):format(elapsed, cpu))
    assert.equal(port, t:recverr().port)
  end)
end)

describe("recverr review: one deadline", function()
  -- IP_RECVERR set on the descriptor by other code: nothing reads the
  -- error queue, so POLLERR stays up and every wait returns at once. The
  -- receive still ends at its deadline (a child, so a spin cannot hang busted).
  it("a wait that keeps returning ready cannot take a call past its deadline", function()
    local why = H.needs_errqueue() or H.needs_source_tree("a child lua5.4"); if why then return pending(why) end
    local file = os.tmpname()
    local f = assert(io.open(file, "w"))
    f:write([[
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/?.so;build/?/?.so;" .. package.cpath
local ds = require "dualstack"
local th = require "spec.testhelp"
local s = assert(ds.udp { family = "inet" })
assert(s:bind("127.0.0.1", 0))
assert(th.setint(s:getfd(), 0, 11, 1)) -- IPPROTO_IP, IP_RECVERR (Linux)
local c = assert(ds.udp { family = "inet" })
assert(c:bind("127.0.0.2", 0))
local port = select(2, c:getsockname())
c:close()
assert(s:sendto("abc", "127.0.0.2", port))
ds.select({ s }, nil, 1)
s:settimeout(0.3)
print(select(3, s:recvfrom())) -- the pending error (sk_err)
local t0, c0 = ds.gettime(), os.clock()
print(select(3, s:recvfrom()))
print(("%.3f %.3f"):format(ds.gettime() - t0, os.clock() - c0))
]])
    f:close()
    local p = assert(io.popen("timeout 5 lua5.4 " .. file .. " 2>&1"))
    local out = p:read("a")
    p:close()
    os.remove(file)
    local first, second, elapsed, cpu = out:match("^(%S+)\n(%S+)\n(%S+) (%S+)\n$")
    assert.same({ "ECONNREFUSED", "ETIMEDOUT" }, { first, second }, out)
    assert.is_true(tonumber(elapsed) >= 0.25 and tonumber(elapsed) < 1, out)
  end)
end)
