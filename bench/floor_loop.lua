-- bench: the Lua floor (see floor.c). Runs the echo loop of
-- dualstack_contender.lua on a socket whose methods do nothing, with no
-- network, for callgrind to count what the interpreter alone costs per
-- round trip. The loop is kept in the same shape (a function, bench as an
-- upvalue, sock and msg locals), so Lua runs the same bytecode for it.
-- Usage, from the repository root: lua5.4 bench/floor_loop.lua noop|string|bare N
package.path = "bench/?.lua;" .. package.path
package.cpath = "bench/out/?.so;" .. package.cpath
local bench = require "contender"
local floor = require "floor"

local function echo(n, variant)
  local sock, msg = floor.socket(variant), {}
  for _ = 1, n do
    msg = sock:recvmsg(bench.UDP_MAX, msg)
    sock:reply(msg, msg.data)
  end
end

local variant, n = arg[1], math.tointeger(tonumber(arg[2]))
if not n then
  io.stderr:write("usage: ", arg[0], " noop|string|bare N\n")
  os.exit(2)
end
echo(n, variant)
