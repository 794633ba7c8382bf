-- udp_responder.lua: a dual-stack UDP server that answers every datagram
-- from the address it was sent to.
--
-- One socket bound to "*" (::, IPV6_V6ONLY off) with packet info on
-- (IPV6_RECVPKTINFO and IP_PKTINFO) learns, for each datagram, the local
-- address it was sent to and the interface it came in on: recvfrom returns
-- them after the sender's address and port. Handed to sendto, they make
-- the answer leave from exactly that address, so a client that asked
-- 127.0.0.2 hears back from 127.0.0.2, not from whatever address the
-- routing table would pick. A plain sendto from a wildcard socket gives no
-- such promise, and on a multi-homed host the client drops the answer as
-- coming from a stranger. This is the fast path: no message table.
--
-- usage: lua5.4 examples/udp_responder.lua [port] [-n datagrams] [-t seconds]
--   port   0 picks a free port; the first line printed names it (default 7008)
--   -n     exit after answering this many datagrams (default: for ever)
--   -t     exit after this many seconds without a datagram (default: never)
--
-- Each answer is the datagram's own bytes. Try it:
--   lua5.4 examples/udp_responder.lua 7008 &
--   lua5.4 -e 'package.cpath="build/?.so;"..package.cpath
--     local s = require"dualstack.core".udp{family="inet"} s:settimeout(2)
--     s:sendto("hi", "127.0.0.2", 7008) print(s:recvfrom())'

-- The in-tree build first, then whatever is installed; examples/ for the
-- helpers this responder shares with its cqueues twin.
package.path = "lua/?.lua;lua/?/init.lua;examples/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"
local responder = require "responder"

local USAGE = "usage: lua5.4 examples/udp_responder.lua [port] [-n datagrams] [-t seconds]\n"

local function open(port)
  local sock = assert(ds.udp())  -- family "dual" is the default
  assert(sock:setoption("pktinfo", true))
  local ok, err, code = sock:bind("*", port)
  if not ok then
    io.stderr:write(("cannot bind * port %d: %s (%s)\n"):format(port, err, code))
    os.exit(1)
  end
  return sock
end

local function main(argv)
  local opts = responder.parse_args(argv, USAGE)
  -- A pipe (as in `make demo`) would otherwise hold our lines back.
  io.stdout:setvbuf("line")
  local sock = open(opts.port)
  local addr, port = sock:getsockname()
  responder.banner(addr, port, tostring(sock))
  sock:settimeout(opts.idle)       -- nil: wait for ever
  local answered = 0
  while not opts.count or answered < opts.count do
    -- With pktinfo on: data, addr, port, dst, ifindex; or nil, err, code.
    local data, addr, port, dst, ifindex = sock:recvfrom(65536)
    if not data then
      print(("stopping: %s (%s)"):format(addr, port))
      break
    end
    responder.answer(sock, data, addr, port, dst, ifindex)
    answered = answered + 1
  end
  sock:close()
  print(("answered %d datagram(s)"):format(answered))
end

main(arg)
