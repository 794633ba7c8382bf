-- A tiny DNS responder for spec/waiter_spec.lua, written with dualstack:
--   lua5.4 spec/dns_stub.lua HOST PORT DELAY [LIFETIME]
-- binds UDP HOST:PORT (PORT 0: any), prints "stub_port=N", then answers
-- every A query with 127.0.0.1 and every AAAA query with ::1, each after
-- DELAY seconds (the slow answer the specs measure), printing
-- "stub_query=NAME TYPE" per query. A datagram "quit" (or LIFETIME
-- seconds, 5 by default) ends it with "stub_queries=N". Lines are flushed
-- at once, so a parent reading through a pipe sees them as they come.
local root = arg[0]:gsub("spec/dns_stub%.lua$", "") -- the repository, from this script's path
package.path = root .. "lua/?.lua;" .. package.path
package.cpath = root .. "build/?.so;" .. package.cpath
local ds = require "dualstack"

local host, port, delay, lifetime = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4] or 5)
io.stdout:setvbuf("line")

local TYPES = { [1] = "A", [28] = "AAAA" }
local ANSWERS = { A = "127.0.0.1", AAAA = "::1" }

-- The question of a query: name, type and the offset after the question.
local function question(q)
  local labels, i = {}, 13
  while true do
    local len = q:byte(i)
    if not len then return nil end
    if len == 0 then break end
    labels[#labels + 1] = q:sub(i + 1, i + len)
    i = i + len + 1
  end
  if #q < i + 4 then return nil end
  local qtype = string.unpack(">I2", q, i + 1)
  return table.concat(labels, "."), TYPES[qtype] or tostring(qtype), i + 4
end

-- The answer to query q: its id and question, one record of the asked
-- type (none for other types), no additional section.
local function answer(q, qtype, qend)
  local addr = ANSWERS[qtype]
  local id = q:sub(1, 2)
  local header = id .. string.pack(">I2I2I2I2I2", 0x8180, 1, addr and 1 or 0, 0, 0)
  local out = header .. q:sub(13, qend)
  if addr then
    local rdata = ds.pton(addr)
    out = out .. string.pack(">I2I2I2I4I2", 0xC00C, qtype == "A" and 1 or 28, 1, 60, #rdata) .. rdata
  end
  return out
end

local sock = assert(ds.udp { family = ds.family(host) })
assert(sock:bind(host, port))
print("stub_port=" .. select(2, sock:getsockname()))
local stop_at = ds.monotime() + lifetime
local count = 0
while ds.monotime() < stop_at do
  sock:settimeout(math.max(0, stop_at - ds.monotime()))
  local q, addr, from = sock:recvfrom(1500)
  if q == "quit" then break end
  local name, qtype, qend
  if q and #q > 12 then name, qtype, qend = question(q) end
  if name then
    count = count + 1
    print("stub_query=" .. name .. " " .. qtype)
    ds.poll({}, {}, delay)
    sock:sendto(answer(q, qtype, qend), addr, from)
  end
end
print("stub_queries=" .. count)
sock:close()
