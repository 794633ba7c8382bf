-- bench: the Lua floor (see floor.c). Runs the echo loops of
-- dualstack_contender.lua on a socket whose methods do nothing, with no
-- network, for callgrind to count what the interpreter alone costs per
-- round trip. The loop is kept in the same shape (a function, bench as an
-- upvalue, sock and msg locals), so Lua runs the same bytecode for it.
-- Usage, from the repository root: lua5.4 bench/floor_loop.lua noop|string|bare|fast N
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

-- The fast path's echo loop, as in dualstack_contender.lua.
local function echo_fast(n)
  local sock = floor.socket("fast")
  for _ = 1, n do
    local d, a, p, dst, ifi = sock:recvfrom()
    sock:sendto(d, a, p, dst, ifi)
  end
end

local variant, n = arg[1], math.tointeger(tonumber(arg[2]))
if not n then
  io.stderr:write("usage: ", arg[0], " noop|string|bare|fast N\n")
  os.exit(2)
end
if variant == "fast" then echo_fast(n) else echo(n, variant) end
