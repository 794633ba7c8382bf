-- bench: the dualstack contender, the in-tree build (run from the
-- repository root). The loops are the ones the README shows, on a socket
-- with pktinfo on, bound to the wildcard, answering from the address each
-- datagram was sent to. Usage: dualstack_contender.lua [variant] MODE N.
--
-- Without a variant, the table path: one message table reused,
-- recvmsg(size, msg) and reply(msg, msg.data); mode mmsg drains with
-- recvmmsg into reused tables.
-- Variant "fast": the fast path, no table: echo is
--   local d, a, p, dst, ifi = s:recvfrom(); s:sendto(d, a, p, dst, ifi)
-- and sink is a recvfrom loop.
-- Variant "batch": echo with recvmmsg and replymmsg (64 at a time), for the
-- memory check of the batch path.
-- Variant "recv": tcp-in reads with recv(65536) (one recv call each)
-- instead of receive(65536) (LuaSocket's exact-count pattern).
-- Every drain adds #data of each datagram to a byte total the peer checks,
-- as a server uses its data.
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

-- The table path.
local table_path = {}

function table_path.echo(n)
  local sock, msg = udp(), {}
  for _ = 1, n do
    msg = sock:recvmsg(bench.UDP_MAX, msg)
    sock:reply(msg, msg.data)
  end
  bench.done(n)
end

function table_path.sink(n)
  local sock, msg, bytes = udp(), {}, 0
  for _ = 1, n do
    msg = sock:recvmsg(bench.UDP_MAX, msg) or error("recvmsg failed")
    bytes = bytes + #msg.data
  end
  bench.done(n, msg.dst, bytes)
end

function table_path.mmsg(n)
  local sock, msgs, got, bytes = udp(), {}, 0, 0
  while got < n do
    msgs = sock:recvmmsg(64, bench.UDP_MAX, msgs) or error("recvmmsg failed")
    for i = 1, #msgs do bytes = bytes + #msgs[i].data end
    got = got + #msgs
  end
  bench.done(got, msgs[#msgs].dst, bytes)
end

-- The fast path: multiple values, no table.
local fast = {}

function fast.echo(n)
  local sock = udp()
  for _ = 1, n do
    local d, a, p, dst, ifi = sock:recvfrom()
    sock:sendto(d, a, p, dst, ifi)
  end
  bench.done(n)
end

function fast.sink(n)
  local sock, bytes, last = udp(), 0, nil
  for _ = 1, n do
    local d, a, _, dst = sock:recvfrom()
    if not d then error("recvfrom failed: " .. tostring(a)) end
    bytes = bytes + #d
    last = dst
  end
  bench.done(n, last, bytes)
end

-- The batch path: each batch received is answered in one call.
local batch = {}

function batch.echo(n)
  local sock, msgs, answers, got = udp(), {}, {}, 0
  while got < n do
    msgs = sock:recvmmsg(64, bench.UDP_MAX, msgs) or error("recvmmsg failed")
    local k = #msgs
    for i = 1, k do answers[i] = msgs[i].data end
    for i = k + 1, #answers do answers[i] = nil end
    assert(sock:replymmsg(msgs, answers) == k)
    got = got + k
  end
  bench.done(got)
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

-- Modes take the variant: the UDP modes pick their path by it.
local paths = {fast = fast, batch = batch}
local modes = {}
for _, mode in ipairs {"echo", "sink", "mmsg"} do
  modes[mode] = function(n, variant)
    local f = (paths[variant] or table_path)[mode]
    if not f then error(string.format("variant %s has no mode %s", variant, mode)) end
    f(n)
  end
end
bench.add_tcp(modes, accept_one, {recv = read_recv})
bench.run(modes)
