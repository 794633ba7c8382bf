-- bench: the dualstack contender, the in-tree build (run from the
-- repository root). The loops are the ones the README shows: one message
-- table reused, reply() from the address each datagram was sent to.
-- Variant "recv" makes tcp-in read with recv(65536) (one recv call each)
-- instead of receive(65536) (LuaSocket's exact-count pattern).
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local bench = require "contender"
local ds = require "dualstack"

local function udp()
  local sock = assert(ds.udp())
  assert(sock:setoption("pktinfo", true))
  assert(sock:bind("*", 0))
  bench.ready(sock)
  return sock
end

local function accept_one()
  local l = assert(ds.tcp())
  assert(l:bind("*", 0))
  return bench.accept_one(l)
end

local modes = {}

function modes.echo(n)
  local sock, msg = udp(), {}
  for _ = 1, n do
    msg = sock:recvmsg(bench.UDP_MAX, msg)
    sock:reply(msg, msg.data)
  end
  bench.done(n)
end

function modes.sink(n)
  local sock, msg = udp(), {}
  for _ = 1, n do
    msg = sock:recvmsg(bench.UDP_MAX, msg) or error("recvmsg failed")
  end
  bench.done(n, msg.dst)
end

function modes.mmsg(n)
  local sock, msgs, got = udp(), {}, 0
  while got < n do
    msgs = sock:recvmmsg(64, bench.UDP_MAX, msgs) or error("recvmmsg failed")
    got = got + #msgs
  end
  bench.done(got, msgs[#msgs].dst)
end

local function read_recv(c)
  local total = 0
  while true do
    local data, err = c:recv(bench.CHUNK)
    if not data then
      assert(err == "closed", err)
      return total
    end
    total = total + #data
  end
end

bench.add_tcp(modes, accept_one, {recv = read_recv})
bench.run(modes)
