-- traceroute.lua: the routers on the way to a host, IPv4 or IPv6, found
-- with one dual-stack UDP socket and the ICMP errors it gets back.
--
-- Probe n is a datagram whose hop limit (the TTL, on IPv4) is n, sent to
-- port 33434 + n. The router where the limit runs out drops it and answers
-- "time exceeded"; the destination, which has nothing on that port,
-- answers "port unreachable". With the recverr option on, the socket keeps
-- each such error for sock:recverr(), which tells who sent it (offender),
-- which probe it is about (port: the probe's destination port), and what
-- it said (code, origin, type/icmpcode). No raw socket, no privileges.
--
-- usage: lua5.4 examples/traceroute.lua [-m maxhops] [-v] HOST
--   -m   give up after this many hops (default 30)
--   -v   also print each answer's code and ICMP type/code
--
-- Output, one line per hop (its address and round-trip time, or * when no
-- answer came within a second); the last ends in "reached":
--   traceroute to 198.51.100.2 (198.51.100.2), 30 hops max
--    1  192.0.2.2  0.081 ms
--    2  198.51.100.2  0.097 ms  reached
-- With -v, the hop lines go on with e.g. "EHOSTUNREACH icmp 11/0" (time
-- exceeded) and, last, "ECONNREFUSED icmp 3/3" (IPv6: "icmp6 3/0" and
-- "icmp6 1/4").

-- The in-tree build first, then whatever is installed.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"

local USAGE = "usage: lua5.4 examples/traceroute.lua [-m maxhops] [-v] HOST\n"
local BASE_PORT = 33434 -- traceroute's tradition: ports nothing listens on
local WAIT = 1          -- seconds for each probe's answer

local function fail(message, status)
  io.stderr:write(message)
  os.exit(status)
end

local function parse_args(argv)
  local opts, i = { maxhops = 30 }, 1
  while i <= #argv do
    local a = argv[i]
    if a == "-v" then
      opts.verbose = true
    elseif a == "-m" then
      opts.maxhops = math.tointeger(tonumber(argv[i + 1] or ""))
      if not opts.maxhops or opts.maxhops < 1 or opts.maxhops > 255 then fail(USAGE, 2) end
      i = i + 1
    elseif not opts.host and a:sub(1, 1) ~= "-" then
      opts.host = a
    else
      fail(USAGE, 2)
    end
    i = i + 1
  end
  if not opts.host then fail(USAGE, 2) end
  return opts
end

-- Sends probe n and waits for the error it brings back: that error (a
-- table, see sock:recverr) and the round trip in ms, or nil when none
-- came within WAIT seconds.
local function probe(sock, dest, n)
  -- "hoplimit" sets the IPv6 hop limit and the IPv4 TTL both: a dual
  -- socket sends IPv4 as mapped traffic, which IPV6_UNICAST_HOPS misses.
  assert(sock:setoption("hoplimit", n))
  local sent = ds.monotime()
  local ok, err, code = sock:sendto("traceroute probe " .. n, dest, BASE_PORT + n)
  if not ok then fail(("cannot send to %s: %s (%s)\n"):format(dest, err, code), 1) end
  repeat
    local e = sock:recverr(math.max(0, sent + WAIT - ds.monotime()))
    -- An error about an earlier probe (answered late) is passed by.
    if e and e.port == BASE_PORT + n then return e, (ds.monotime() - sent) * 1000 end
  until not e
  return nil
end

local function main(argv)
  local opts = parse_args(argv)
  io.stdout:setvbuf("line")
  local list, err, code = ds.resolve(opts.host, nil, { socktype = "dgram" })
  if not list then fail(("cannot resolve %s: %s (%s)\n"):format(opts.host, err, code), 1) end
  local dest = list[1].addr
  print(("traceroute to %s (%s), %d hops max"):format(opts.host, dest, opts.maxhops))

  local sock = assert(ds.udp())  -- family "dual": one socket for both families
  local ok
  ok, err, code = sock:setoption("recverr", true)
  if not ok then fail(("no ICMP errors on this system: %s (%s)\n"):format(err, code), 1) end
  for n = 1, opts.maxhops do
    local e, ms = probe(sock, dest, n)
    if not e then
      print(("%2d  *"):format(n))
    else
      local from = e.offender and ds.unmap(e.offender) or "?"  -- ::ffff:a.b.c.d -> a.b.c.d
      local line = ("%2d  %s  %.3f ms"):format(n, from, ms)
      if opts.verbose then
        line = line .. ("  %s %s %d/%d"):format(e.code, e.origin, e.type, e.icmpcode)
      end
      -- "port unreachable" from the host itself: the probe got there.
      if e.code == "ECONNREFUSED" and from == ds.unmap(dest) then
        print(line .. "  reached")
        sock:close()
        return
      end
      print(line)
    end
  end
  sock:close()
  os.exit(1)  -- not reached within maxhops
end

main(arg)
