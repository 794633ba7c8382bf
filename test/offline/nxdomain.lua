-- A resolver that knows no names, for test/offline/run.sh:
--   lua5.4 test/offline/nxdomain.lua HOST PORT
-- answers every DNS query on UDP HOST:PORT with "no such name" (RCODE 3),
-- the answer the specs' unresolvable names get from a real resolver, and
-- prints "ready" once bound. It runs until killed. LuaSocket, not
-- dualstack: it serves suites whose own build may not load on this host.
local socket = require "socket"

local host, port = arg[1], tonumber(arg[2])
-- Concurrent suites each start a stub on the same port: with SO_REUSEPORT
-- each binds, and a query is answered while any one of them lives. udp4,
-- as udp() makes its descriptor only at bind, too late for the option.
local udp = assert(socket.udp4())
assert(udp:setoption("reuseport", true))
assert(udp:setsockname(host, port))
io.stdout:setvbuf("line")
print("ready")

-- The question's end: the name's labels, then type and class (4 bytes).
local function question_end(q)
  local i = 13
  while true do
    local len = q:byte(i)
    if not len or len >= 0xc0 then return nil end -- compression: not in a question
    if len == 0 then break end
    i = i + len + 1
  end
  return i + 4 <= #q and i + 4 or nil
end

-- Header: the query's id, QR and RA set, its opcode and RD kept, RCODE 3;
-- one question (copied), no answers, no EDNS record.
local function nxdomain(q)
  local qend = #q >= 12 and question_end(q)
  if not qend then return nil end
  local id, flags = string.unpack(">I2I2", q)
  local reply = (flags & 0x7900) | 0x8083
  return string.pack(">I2I2I2I2I2I2", id, reply, 1, 0, 0, 0) .. q:sub(13, qend)
end

while true do
  local q, from, fromport = udp:receivefrom()
  local answer = q and nxdomain(q)
  if answer then udp:sendto(answer, from, fromport) end
end
