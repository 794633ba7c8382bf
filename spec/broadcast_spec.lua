-- Broadcast discovery: a device asks the subnet's broadcast address (or
-- 255.255.255.255) and the server answers with reply(). A broadcast
-- address is no source to answer from: the answer must come from the local
-- address the system would answer from, here the arrival interface's,
-- which is what dst reports for a broadcast (the broadcast address is in
-- broadcast). Two real hosts:
-- the child's namespace (the server, 192.0.2.1 on va) and a peer namespace
-- (the client, 192.0.2.2 on vb), joined by a veth pair (N.PAIR).
local N = require "spec.namespace"
local H = require "spec.helpers"

-- The server, and ASK: what the peer runs to ask and print the answer.
local SERVER = [[
local ds = require "dualstack"
local server = assert(ds.udp())
assert(server:setoption("pktinfo", true))
assert(server:bind("*", 0))
server:settimeout(2)
local _, port = server:getsockname()
-- The peer asks to, waits for the answer and prints its sender.
local ASK = [=[
local to, port = ...
local ds = require "dualstack"
local c = assert(ds.udp { family = "inet" })
assert(c:setoption("broadcast", true))
assert(c:bind("192.0.2.2", 0))
c:settimeout(2)
assert(c:sendto("who is there?", to, tonumber(port)))
local data, from = c:recvfrom()
print(tostring(data) .. " from " .. tostring(from))
]=]
]]

local CHILD = SERVER .. [[
for i, to in ipairs { "192.0.2.1", "192.0.2.255", "255.255.255.255" } do
  local peer = in_peer(ASK, to, port)
  local m = assert(server:recvmsg())
  report("dst" .. i, m.dst)
  report("broadcast" .. i, m.broadcast)
  report("ifindex" .. i, m.ifindex == ds.ifindex("va"))
  report("reply" .. i, table.concat({ tostring(server:reply(m, "here")) }, ","))
  report("answer" .. i, peer:read("l"))
  peer:close()
end
-- The batch-reply idiom: a fresh reply from dst answers a broadcast too.
local peer = in_peer(ASK, "192.0.2.255", port)
local m = assert(server:recvmsg())
report("batch", tostring(server:sendmmsg { { data = "batch", addr = m.addr, port = m.port, src = m.dst } }))
report("batch_answer", peer:read("l"))
peer:close()
os.execute("kill " .. os.getenv("PEER"))
]]

describe("reply to a broadcast query", function()
  it("answers from the arrival interface's unicast address", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local usable, reason = N.available("-n")
    if not usable then return pending(reason) end
    local r, out = N.run("-n", N.PAIR, CHILD)
    assert.same({
      "::ffff:192.0.2.1", "nil", "true", "4", "here from 192.0.2.1",
      "::ffff:192.0.2.1", "::ffff:192.0.2.255", "true", "4", "here from 192.0.2.1",
      "::ffff:192.0.2.1", "::ffff:255.255.255.255", "true", "4", "here from 192.0.2.1",
    }, {
      r.dst1, r.broadcast1, r.ifindex1, r.reply1, r.answer1,
      r.dst2, r.broadcast2, r.ifindex2, r.reply2, r.answer2,
      r.dst3, r.broadcast3, r.ifindex3, r.reply3, r.answer3,
    }, out)
    assert.same({ "1", "batch from 192.0.2.1" }, { r.batch, r.batch_answer }, out)
  end)
end)

-- The server's interface has no IPv4 address: Linux has no local address
-- to answer from (ipi_spec_dst is 0), so dst stays the broadcast address
-- and reply leaves by the arrival interface, letting the system choose.
local NO_ADDRESS_CHILD = [[
assert(os.execute("ip addr del 192.0.2.1/24 dev va && ip route add 192.0.2.0/24 dev va"))
]] .. SERVER .. [[
local peer = in_peer(ASK, "255.255.255.255", port)
local m = assert(server:recvmsg())
report("dst", m.dst)
report("broadcast", m.broadcast)
report("ifindex", m.ifindex == ds.ifindex("va"))
report("reply", table.concat({ tostring(server:reply(m, "here")) }, ","))
peer:close()
os.execute("kill " .. os.getenv("PEER"))
]]

describe("reply to a broadcast on an interface without IPv4", function()
  it("keeps the broadcast as dst and answers by the arrival interface", function()
    local why = H.needs_cmsg("control-message payloads"); if why then return pending(why) end
    local usable, reason = N.available("-n")
    if not usable then return pending(reason) end
    local r, out = N.run("-n", N.PAIR, NO_ADDRESS_CHILD)
    assert.same({ "::ffff:255.255.255.255", "::ffff:255.255.255.255", "true", "4" },
      { r.dst, r.broadcast, r.ifindex, r.reply }, out)
  end)
end)
