-- luv_responder.lua: examples/udp_responder.lua on luv's loop.
--
-- The listener's receive is written as if it blocked, in a coroutine
-- started by ds.luv.spawn: there dualstack waits with a luv poll handle
-- and timer and yields, so the loop's other handles run meanwhile (here a
-- repeating timer counting how often it fired). ds.luv.run() runs the
-- loop and raises what a spawned coroutine raised.
--
-- usage: lua5.4 examples/luv_responder.lua [port] [-n datagrams] [-t seconds] [-d yes|no]
--   port   0 picks a free port; the first line printed names it (default 7008)
--   -n     exit after answering this many datagrams
--   -t     exit after this many seconds without a datagram (default: never)
--   -d     yes: one dual-stack socket (default); no: one socket per family
--
-- Needs Debian's lua-luv. Each answer is the datagram's own bytes, sent
-- from the address it was sent to (recvfrom's dst and ifindex), as in
-- udp_responder.lua.

-- The in-tree build first, then whatever is installed; examples/ for the
-- helpers this responder shares with udp_responder.lua.
package.path = "lua/?.lua;lua/?/init.lua;examples/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"
local responder = require "responder"
local uv = require "luv"

local USAGE = "usage: lua5.4 examples/luv_responder.lua [port] [-n datagrams] [-t seconds] [-d yes|no]\n"

local TICK_MS = 10

-- Answers datagrams until the count is reached or the listener stays idle.
local function serve(listener, opts, ticker)
  local answered = 0
  listener:settimeout(opts.idle)  -- nil: wait for ever
  while not (opts.count and answered >= opts.count) do
    -- With pktinfo on: data, addr, port, dst, ifindex; or nil, err, code.
    local data, addr, port, dst, ifindex = listener:recvfrom(65536)
    if not data then
      print(("stopping: %s (%s)"):format(addr, port))
      break
    end
    if responder.answer(listener, data, addr, port, dst, ifindex) then answered = answered + 1 end
  end
  print(("answered %d datagram(s); the timer fired %d time(s) meanwhile"):format(answered, ticker.n))
  ticker.timer:close()
  listener:close()
end

local function main(argv)
  local opts = responder.parse_args(argv, USAGE, true)
  io.stdout:setvbuf("line")  -- a pipe would otherwise hold our lines back
  local listener = responder.listen(opts)
  local ticker = {n = 0, timer = uv.new_timer()}
  ticker.timer:start(TICK_MS, TICK_MS, function() ticker.n = ticker.n + 1 end)
  ds.luv.spawn(serve, listener, opts, ticker)
  ds.luv.run()
end

main(arg)
