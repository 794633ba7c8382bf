-- opts.device on ds.connect, ds.listen and ds.udp_listen: every socket they
-- open is bound (setoption "device") before it connects or binds. Proven in
-- N.TWOLINK, where A reaches P's 198.51.100.9 and 2001:db8:9::9 by l1 unless
-- bound to l2, and P reaches A's 10.1.0.1 only by l1 and 10.2.0.1 only by
-- l2: a listener bound to l2 hears only what comes by l2.
local N = require "spec.namespace"
local H = require "spec.helpers"

local CHILD = [==[
local ds = require "dualstack"
local function row(...)
  local t = table.pack(...)
  for i = 1, t.n do t[i] = tostring(t[i]) end
  return table.concat(t, ",")
end

-- In P: a TCP listener that prints its port, then for each of count
-- connections "tag peer" (the client sends its tag as a line).
local SERVER = [[
local count = tonumber((...))
local ds = require "dualstack"
local l = assert(ds.listen("*", 0))
l:settimeout(5)
print((select(2, l:getsockname())))
for _ = 1, count do
  local c, err = l:accept()
  if not c then print("error " .. tostring(err)) break end
  c:settimeout(5)
  print(tostring(c:receive()) .. " " .. tostring(c:getpeername()))
  c:send("ok\n")
  c:close()
end
]]

-- In P: one datagram (its text: the address it goes to) to each address
-- given after the port, then a TCP connection to each, one line each.
local SENDER = [[
local ds = require "dualstack"
local port = tonumber((...))
local s = assert(ds.udp())
for i = 2, select("#", ...) do
  local addr = select(i, ...)
  assert(s:sendto(addr, addr, port))
end
]]
local CALLER = [[
local ds = require "dualstack"
local port = tonumber((...))
for i = 2, select("#", ...) do
  local addr = select(i, ...)
  local c, err, code = ds.connect(addr, port, { timeout = 2 })
  print(addr .. " " .. (c and "connected" or tostring(err) .. "," .. tostring(code)))
  if c then c:close() end
end
]]

-- ds.connect from A with opts: P sees which address it came from.
local CONNECTS = {
  { "plain4", "198.51.100.9" },
  { "name4", "198.51.100.9", { device = "l2" } },
  { "name6", "2001:db8:9::9", { device = "l2" } },
  { "index4", "198.51.100.9", { device = ds.ifindex("l2") } },
}
local server = in_ns("P", SERVER, #CONNECTS)
local port = assert(tonumber(server:read("l")), "the server did not start")
for _, c in ipairs(CONNECTS) do
  local tag, host, opts = table.unpack(c)
  local sock, err, code = ds.connect(host, port, opts)
  if sock then
    sock:settimeout(5)
    sock:send(tag .. "\n")
    report("connect_" .. tag, sock:receive())
    sock:close()
  else
    report("connect_" .. tag, row(nil, err, code))
  end
end
for line in server:lines() do
  local tag, peer = line:match("^(%S+) (.*)$")
  report("peer_" .. tag, peer)
end
server:close()

-- ds.udp_listen in A with opts; P sends to each of addrs. Reports what
-- arrived ("addr from sender", sorted: IPv6 may overtake) and how the
-- receive after them ended.
local function udp(tag, opts, addrs)
  local l = assert(ds.udp_listen("*", 0, opts))
  local _, lport = l:getsockname()
  local p = in_ns("P", SENDER, lport, table.unpack(addrs))
  p:read("a")
  p:close()
  l:settimeout(0.5)
  local got = {}
  while true do
    local data, from, code = l:recvfrom()
    if not data then
      table.sort(got)
      got[#got + 1] = from .. "," .. code
      break
    end
    got[#got + 1] = data .. " from " .. from
  end
  report("udp_" .. tag, table.concat(got, ";"))
  report("udp_" .. tag .. "_device", row(l:getoption("device")))
  l:close()
end
local V4 = { "10.1.0.1", "10.2.0.1" }
udp("plain", nil, V4)
udp("l2", { device = "l2" }, V4)
udp("split", { device = "l2", dualstack = false }, { "10.1.0.1", "10.2.0.1", "2001:db8:a::1", "2001:db8:b::1" })

-- ds.listen in A with opts; P connects to each address. Reports P's lines
-- and the peers A accepted.
local function tcp(tag, opts)
  local l = assert(ds.listen("*", 0, opts))
  local _, lport = l:getsockname()
  local p = in_ns("P", CALLER, lport, "10.1.0.1", "10.2.0.1")
  report("tcp_" .. tag .. "_calls", (p:read("a"):gsub("\n$", ""):gsub("\n", ";")))
  p:close()
  l:settimeout(0.2)
  local peers = {}
  while true do
    local c, err, code = l:accept()
    if not c then peers[#peers + 1] = err .. "," .. code break end
    peers[#peers + 1] = c:getpeername()
    c:close()
  end
  report("tcp_" .. tag, table.concat(peers, ";"))
  l:close()
end
tcp("plain")
tcp("l2", { device = "l2" })
os.execute("kill $P")
]==]

describe("opts.device", function()
  local r, out

  local function skip()
    if H.WINDOWS then
      return "network namespaces are Linux's (Windows' IP_UNICAST_IF binds sends only)"
    end
    local why = H.needs_bindtodevice("SO_BINDTODEVICE"); if why then return why end
    local usable, reason = N.available("-n")
    if not usable then return reason end
    if not r then r, out = N.run("-n", N.TWOLINK, CHILD) end
  end

  it("ds.connect without it: the routing table picks l1", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "ok", "::ffff:10.1.0.1" }, { r.connect_plain4, r.peer_plain4 }, out)
  end)

  it("ds.connect binds each attempt to the device, by name or index, before it connects", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "ok", "ok", "ok", "::ffff:10.2.0.1", "2001:db8:b::1", "::ffff:10.2.0.1" },
      { r.connect_name4, r.connect_name6, r.connect_index4, r.peer_name4, r.peer_name6, r.peer_index4 }, out)
  end)

  it("ds.udp_listen without it hears both links", function()
    local why = skip(); if why then return pending(why) end
    assert.equal("10.1.0.1 from ::ffff:10.1.0.2;10.2.0.1 from ::ffff:10.2.0.2;timeout,ETIMEDOUT", r.udp_plain, out)
    assert.equal("", r.udp_plain_device, out)
  end)

  it("ds.udp_listen with it hears only that link; a datagram by the other times out", function()
    local why = skip(); if why then return pending(why) end
    assert.equal("10.2.0.1 from ::ffff:10.2.0.2;timeout,ETIMEDOUT", r.udp_l2, out)
    assert.equal("l2", r.udp_l2_device, out)
  end)

  it("binds every socket of a listener with one socket per family", function()
    local why = skip(); if why then return pending(why) end
    assert.equal("10.2.0.1 from 10.2.0.2;2001:db8:b::1 from 2001:db8:b::2;timeout,ETIMEDOUT", r.udp_split, out)
  end)

  it("ds.listen with it accepts by that link only; the other is refused", function()
    local why = skip(); if why then return pending(why) end
    assert.same({ "10.1.0.1 connected;10.2.0.1 connected", "::ffff:10.1.0.2;::ffff:10.2.0.2;timeout,ETIMEDOUT" },
      { r.tcp_plain_calls, r.tcp_plain }, out)
    assert.same({ "10.1.0.1 connection refused,ECONNREFUSED;10.2.0.1 connected", "::ffff:10.2.0.2;timeout,ETIMEDOUT" },
      { r.tcp_l2_calls, r.tcp_l2 }, out)
  end)
end)

-- No traffic: the binding fails before any connect or bind.
describe("opts.device naming no interface", function()
  local ds = require "dualstack"
  local ENODEV = { nil, "no such device", "ENODEV" }

  it("is nil, 'no such device', 'ENODEV' from ds.connect, ds.listen and ds.udp_listen", function()
    local why = H.needs_bindtodevice("SO_BINDTODEVICE"); if why then return pending(why) end
    local port = H.closed_port("inet", "127.0.0.1")
    assert.same(ENODEV, { ds.connect("127.0.0.1", port, { device = "nosuch0" }) })
    assert.same(ENODEV, { ds.connect("localhost", port, { device = "nosuch0", timeout = 2 }) })
    assert.same(ENODEV, { ds.listen("*", 0, { device = "nosuch0" }) })
    assert.same(ENODEV, { ds.udp_listen("*", 0, { device = "nosuch0" }) })
    assert.same(ENODEV, { ds.udp_listen("*", 0, { device = "nosuch0", dualstack = false }) })
    assert.same(ENODEV, { ds.udp_listen("127.0.0.1", 0, { device = "nosuch0" }) })
  end)

  it("raises for a value that is neither a name nor an index, before any socket", function()
    H.raises("bad argument #3 to 'connect' (option 'device': interface name or index expected, got table)",
      function() ds.connect("127.0.0.1", 9, { device = {} }) end)
    H.raises("bad argument #3 to 'listen' (option 'device': interface name or index expected, got number)",
      function() ds.listen("*", 0, { device = 1.5 }) end)
    H.raises("bad argument #3 to 'udp_listen' (option 'device': interface name or index expected, got boolean)",
      function() ds.udp_listen("*", 0, { device = true }) end)
  end)
end)
