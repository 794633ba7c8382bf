-- bench: what the Lua contenders share: the command line, the protocol
-- with the peer (see peer.c) and the TCP workloads, whose calls are the
-- same in LuaSocket and dualstack (receive(n) with LuaSocket's "closed"
-- and partial result, send(chunk)).
local M = {}

M.CHUNK = 65536 -- TCP read and write size
M.UDP_MAX = 2048 -- largest datagram the UDP modes take

-- The peer may start us through taskset, valgrind or strace, so it cannot
-- know our pid: we tell it.
local function pid()
  local f = assert(io.open("/proc/self/stat"))
  local n = f:read("n")
  f:close()
  return math.tointeger(n)
end

local function say(fmt, ...)
  io.stdout:write(fmt:format(...), "\n")
  io.stdout:flush()
end

-- The socket is bound: the peer may start. fd lets it enlarge our buffer.
-- (LuaSocket gives the port as a float and the fd as a float.)
function M.ready(sock)
  local _, port = sock:getsockname()
  say("ready %d %d %d", pid(), math.tointeger(tonumber(port)), math.tointeger(sock:getfd()))
end

-- Announces the bound listener l and takes one connection.
function M.accept_one(l)
  assert(l:listen(1))
  M.ready(l)
  local c = assert(l:accept())
  l:close()
  return c
end

-- The work is complete; dst is the destination of the last datagram (nil
-- for a contender without pktinfo), bytes the payload bytes a drain read
-- (the peer checks them). We stay alive until the peer closes our stdin:
-- it reads our CPU counters from /proc first.
function M.done(count, dst, bytes)
  if bytes then
    say("done %d %s %d", count, dst or "-", bytes)
  else
    say("done %d %s", count, dst or "-")
  end
  io.read("a")
end

-- Reads one connection to EOF in receive(CHUNK) pieces, as a LuaSocket
-- user would; returns the byte count.
function M.read_to_eof(c)
  local total = 0
  while true do
    local data, err, partial = c:receive(M.CHUNK)
    if not data then
      assert(err == "closed", err)
      total = total + #partial
      break
    end
    total = total + #data
  end
  return total
end

-- Writes n bytes in send(chunk) calls of CHUNK bytes.
function M.write_bytes(c, n)
  local chunk = string.rep("x", M.CHUNK)
  for _ = 1, n // M.CHUNK do
    assert(c:send(chunk))
  end
  if n % M.CHUNK > 0 then assert(c:send(chunk, 1, n % M.CHUNK)) end
end

-- Adds the TCP modes: tcp-in reads one connection to EOF with
-- readers[variant] (default read_to_eof), tcp-out writes N bytes; both
-- report the byte count once the connection is closed.
function M.add_tcp(modes, accept_one, readers)
  modes["tcp-in"] = function(_, variant)
    local c = accept_one()
    local total = (readers and readers[variant] or M.read_to_eof)(c)
    c:close()
    M.done(total)
  end
  modes["tcp-out"] = function(n)
    local c = accept_one()
    M.write_bytes(c, n)
    c:close()
    M.done(n)
  end
end

-- Runs modes[MODE](N, variant) for the command line "[variant] MODE N".
function M.run(modes)
  local mode, n = arg[#arg - 1], math.tointeger(tonumber(arg[#arg]))
  local variant = #arg == 3 and arg[1] or nil
  local f = modes[mode]
  if not f or not n then
    io.stderr:write("usage: ", arg[0], " [variant] echo|sink|mmsg|tcp-in|tcp-out N\n")
    os.exit(2)
  end
  f(n, variant)
end

return M
