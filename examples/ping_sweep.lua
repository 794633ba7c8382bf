-- ping_sweep.lua: pings many hosts at once and prints a table.
--
-- One ICMP socket per family (ds.icmp: a datagram socket where
-- net.ipv4.ping_group_range allows it, else raw, as root), every echo
-- request sent at once, then one ds.select loop collects the replies until
-- all have answered or the timeout has passed. A reply is matched on its
-- sequence number and payload (a random token and the sequence number),
-- since the kernel rewrites a datagram socket's identifier.
--
-- usage: lua5.4 examples/ping_sweep.lua [-t seconds] host...
--   -t   how long to wait for the replies (default 2)
--
-- Output: a header, then one row per host: host, address, and the
-- round-trip time in milliseconds, "timeout", or the error.
--   lua5.4 examples/ping_sweep.lua -t 1 127.0.0.1 ::1

package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"

local USAGE = "usage: lua5.4 examples/ping_sweep.lua [-t seconds] host...\n"

local function parse(argv)
  local timeout, hosts, i = 2, {}, 1
  while i <= #argv do
    if argv[i] == "-t" then
      timeout = tonumber(argv[i + 1])
      if not timeout or timeout < 0 then io.stderr:write(USAGE) os.exit(2) end
      i = i + 2
    else
      hosts[#hosts + 1] = argv[i]
      i = i + 1
    end
  end
  if #hosts == 0 then io.stderr:write(USAGE) os.exit(2) end
  return timeout, hosts
end

local timeout, hosts = parse(arg)
local token = ""
for _ = 1, 8 do token = token .. string.char(math.random(0, 255)) end

local socks, rows = {}, {}
local function socket_for(family)
  if not socks[family] then
    local s, err, code = ds.icmp { family = family }
    if not s then return nil, err, code end
    s:settimeout(0)
    socks[family] = s
  end
  return socks[family]
end

-- Resolves each host (the first address) and sends its echo request.
local waiting = 0
for i, host in ipairs(hosts) do
  local row = { host = host, addr = "-" }
  rows[i] = row
  local list, err, code = ds.resolve(host, nil, { socktype = "dgram" })
  if list and list[1] then
    local r = list[1]
    row.addr, row.family, row.payload = r.addr, r.family, token .. string.pack(">I2", i)
    local s
    s, err, code = socket_for(r.family)
    if s then
      row.sent = ds.monotime()
      local n
      n, err, code = s:sendto(ds.icmp_echo { family = r.family, id = i, seq = i, data = row.payload }, r.addr)
      if n then waiting = waiting + 1 end
    end
  end
  if not row.sent or err then row.result = ("%s (%s)"):format(err or "no address", code or "EAI_NONAME") end
end

local reply_type = { inet = 0, inet6 = 129 }
local list = {}
for _, s in pairs(socks) do list[#list + 1] = s end
local deadline = ds.monotime() + timeout
while waiting > 0 and ds.monotime() < deadline do
  local ready = ds.select(list, nil, math.max(0, deadline - ds.monotime()))
  for _, s in ipairs(ready) do
    local family = s:getfamily()
    while true do
      local msg = s:recvfrom()
      if not msg then break end
      local now, p = ds.monotime(), ds.icmp_parse(msg, family)
      local row = p and p.type == reply_type[family] and rows[p.seq]
      if row and not row.result and row.family == family and p.data == row.payload then
        row.result = ("%.3f"):format((now - row.sent) * 1000)
        waiting = waiting - 1
      end
    end
  end
end

print(("%-24s %-24s %s"):format("host", "address", "rtt_ms"))
for _, row in ipairs(rows) do
  print(("%-24s %-24s %s"):format(row.host, row.addr, row.result or "timeout"))
end
for _, s in pairs(socks) do s:close() end
