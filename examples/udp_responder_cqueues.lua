-- udp_responder_cqueues.lua: examples/udp_responder.lua driven by cqueues.
--
-- dualstack sockets speak cqueues' pollable protocol (pollfd(), events(),
-- timeout()), so cqueues.poll(sock) parks a coroutine until the socket is
-- readable. With settimeout(0) every socket call returns at once, nil,
-- "timeout" when it would block; that is the moment to poll. Each socket
-- of the listener gets a coroutine of its own: one with a dual-stack
-- socket, two with -d no (an IPv6 and an IPv4 socket on the same port).
--
-- usage: lua5.4 examples/udp_responder_cqueues.lua [port] [-n datagrams] [-t seconds] [-d yes|no]
--   port   0 picks a free port; the first line printed names it (default 7008)
--   -n     exit after answering this many datagrams, over all sockets
--   -t     exit after this many seconds without a datagram (default: never)
--   -d     yes: one dual-stack socket (default); no: one socket per family
--
-- Needs Debian's lua-cqueues. Each answer is the datagram's own bytes, sent
-- from the address the datagram was sent to: recvfrom's dst and ifindex
-- handed to sendto, as in udp_responder.lua.

-- The in-tree build first, then whatever is installed; examples/ for the
-- helpers this responder shares with udp_responder.lua.
package.path = "lua/?.lua;lua/?/init.lua;examples/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local responder = require "responder"
local cqueues = require "cqueues"
local condition = require "cqueues.condition"

local USAGE = "usage: lua5.4 examples/udp_responder_cqueues.lua"
  .. " [port] [-n datagrams] [-t seconds] [-d yes|no]\n"

-- What the coroutines share: how many answered, when the last datagram
-- came, and a condition that wakes every one of them when it is time to stop.
local function new_state(opts)
  return {count = opts.count, idle = opts.idle, answered = 0,
          last = cqueues.monotime(), stopped = false, wake = condition.new()}
end

local function stop(state, why)
  if state.stopped then return end
  state.stopped = true
  print("stopping: " .. why)
  state.wake:signal()
end

-- Seconds until the idle limit, or nil without one.
local function idle_left(state)
  return state.idle and state.last + state.idle - cqueues.monotime()
end

-- Parks the coroutine until sock is readable, stop is signalled or the
-- idle limit passes (cqueues.poll takes a trailing number as a timeout).
local function wait(sock, state)
  local left = idle_left(state)
  if not left then return cqueues.poll(sock, state.wake) end
  if left <= 0 then return stop(state, "idle") end
  return cqueues.poll(sock, state.wake, left)
end

-- One socket's coroutine: receive what is there, answer it, poll when
-- nothing is.
local function serve(sock, state)
  sock:settimeout(0)
  while not state.stopped do
    -- With pktinfo on: data, addr, port, dst, ifindex; or nil, err, code.
    local data, addr, port, dst, ifindex = sock:recvfrom(65536)
    if data then
      responder.answer(sock, data, addr, port, dst, ifindex)
      state.answered = state.answered + 1
      state.last = cqueues.monotime()
      if state.count and state.answered >= state.count then stop(state, "count reached") end
    elseif addr == "timeout" then
      wait(sock, state)
    else
      stop(state, ("%s (%s) on %s"):format(addr, port, tostring(sock)))
    end
  end
end

local function main(argv)
  local opts = responder.parse_args(argv, USAGE, true)
  io.stdout:setvbuf("line")  -- a pipe would otherwise hold our lines back
  local listener = responder.listen(opts)
  local state, cq = new_state(opts), cqueues.new()
  for _, sock in ipairs(listener:sockets()) do
    cq:wrap(serve, sock, state)
  end
  local ok, loop_err = cq:loop()
  listener:close()
  if not ok then error(loop_err) end
  print(("answered %d datagram(s)"):format(state.answered))
end

main(arg)
