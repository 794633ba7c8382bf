-- bench: the LuaSocket contender (Debian's lua-socket), written the way
-- its documentation suggests. It has no pktinfo, so it answers from the
-- address the routing table picks, not from the one it was asked on, and
-- it has no batch receive: no "mmsg" mode. Its sink adds up #data, as
-- every drain does.
package.path = "bench/?.lua;" .. package.path
local bench = require "contender"
local socket = require "socket"

-- LuaSocket's udp6/tcp6 set IPV6_V6ONLY; a dual socket needs it off
-- before binding.
local function dual(ctor)
  local s = assert(ctor())
  assert(s:setoption("ipv6-v6only", false))
  return s
end

local function udp()
  local u = dual(socket.udp6)
  assert(u:setsockname("::", 0))
  bench.ready(u)
  return u
end

local function accept_one()
  local l = dual(socket.tcp6)
  assert(l:bind("::", 0))
  return bench.accept_one(l)
end

local modes = {}

function modes.echo(n)
  local u = udp()
  for _ = 1, n do
    local data, ip, port = u:receivefrom(bench.UDP_MAX)
    u:sendto(data, ip, port)
  end
  bench.done(n)
end

function modes.sink(n)
  local u, bytes = udp(), 0
  for _ = 1, n do
    local data = u:receivefrom(bench.UDP_MAX) or error("receivefrom failed")
    bytes = bytes + #data
  end
  bench.done(n, nil, bytes)
end

bench.add_tcp(modes, accept_one)
bench.run(modes)
