-- cqueues_server.lua: many IPv4 and IPv6 clients at once, under cqueues.
--
-- One cqueues controller runs a TCP line echo (ds.listen) and a UDP
-- responder (ds.udp_listen) on the same port of every address, each
-- conversation in a coroutine of its own. The listeners' accept and recvmsg
-- are written as if they blocked: inside a cqueues coroutine dualstack
-- waits by yielding to the controller (dualstack.wait), so the other
-- coroutines run meanwhile. An accepted socket is a plain socket: with
-- settimeout(0) its calls never block, and ds.wait(sock) parks the
-- coroutine until it is ready, through the same waiter.
--
-- Every UDP answer leaves from the address its datagram was sent to:
-- reply(msg, answer) uses the msg.dst that packet info reported, so a client
-- of 127.0.0.2 hears back from 127.0.0.2, not from the host's choice.
--
-- usage: lua5.4 examples/cqueues_server.lua [port] [-n conversations] [-t seconds]
--   port   0 picks a free port; the first line printed names it (default 7009)
--   -n     exit after this many conversations (TCP clients and UDP datagrams)
--   -t     drop a TCP client silent this long; exit after this long without
--          a new conversation (default 30 seconds)
--
-- Needs Debian's lua-cqueues.

-- The in-tree build first, then whatever is installed; examples/ for the
-- shared command-line reader.
package.path = "lua/?.lua;lua/?/init.lua;examples/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"
local args = require "args"
local cqueues = require "cqueues"

local USAGE = "usage: lua5.4 examples/cqueues_server.lua [port] [-n conversations] [-t seconds]\n"

local function fail(what, err, code)
  io.stderr:write(("%s: %s (%s)\n"):format(what, err, code))
  os.exit(1)
end

-- What the coroutines share: how many conversations are done, when the
-- last one began, and whether it is time to stop.
local function new_state(opts)
  return {count = opts.count, idle = opts.idle, done = 0, last = ds.monotime(), stopped = false}
end

local function finished(state, line)
  print(line)
  state.done = state.done + 1
  if state.count and state.done >= state.count then state.stopped = true end
end

-- A line from c without blocking the controller: what arrived of it so
-- far goes back in as receive's prefix while ds.wait parks the coroutine.
local function receive_line(c, idle)
  local partial = ""
  while true do
    local line, err, rest = c:receive("*l", partial)
    if line then return line end
    if err ~= "timeout" then return nil, err end
    partial = rest
    if not ds.wait(c, idle) then return nil, "idle" end
  end
end

-- All of data to c, waiting whenever the send buffer is full.
local function send_all(c, data, idle)
  local at = 1
  while at <= #data do
    local last, err, partial = c:send(data, at)
    if last then return true end
    if err ~= "timeout" then return nil, err end
    at = partial + 1
    if not ds.wait(c, idle) then return nil, "idle" end
  end
  return true
end

-- One TCP client: every line comes back, until it closes or goes silent.
local function echo(c, state)
  c:settimeout(0)
  local peer, port = c:getpeername()
  local lines, why = 0, nil
  while true do
    local line, err = receive_line(c, state.idle)
    if not line then why = err break end
    local ok, serr = send_all(c, line .. "\n", state.idle)
    if not ok then why = serr break end
    lines = lines + 1
  end
  c:close()
  finished(state, ("tcp [%s]:%d: %d line(s), then %s"):format(peer, port, lines, why))
end

local function accept_loop(tcp, cq, state)
  while not state.stopped do
    local c, err, code = tcp:accept()  -- yields to cqueues until a client comes
    if c then
      state.last = ds.monotime()
      cq:wrap(echo, c, state)
    else
      fail("accept", err, code)
    end
  end
end

-- Each datagram is answered with its own bytes, from the address it came to.
local function udp_loop(udp, state)
  while not state.stopped do
    local msg, err, code = udp:recvmsg()  -- yields to cqueues until one comes
    if msg then
      state.last = ds.monotime()
      local sent, serr, scode = udp:reply(msg, msg.data)
      finished(state, ("udp [%s]:%d to %s: %s"):format(msg.addr, msg.port, msg.dst,
        sent and "answered" or ("%s (%s)"):format(serr, scode)))
    else
      fail("recvmsg", err, code)
    end
  end
end

local function open(port)
  local tcp, err, code = ds.listen("*", port)
  if not tcp then fail(("cannot listen on * port %d"):format(port), err, code) end
  port = select(2, tcp:getsockname())
  local udp, uerr, ucode = ds.udp_listen("*", port)  -- packet info is on by default
  if not udp then fail(("cannot bind UDP * port %d"):format(port), uerr, ucode) end
  return tcp, udp, port
end

local function main(argv)
  local opts = args.parse(argv, USAGE, {
    defaults = {port = 7009, idle = 30},
    positional = {{"port", args.integer}},
    flags = {n = {"count", args.integer}, t = {"idle", args.number}},
  })
  io.stdout:setvbuf("line")  -- a pipe would otherwise hold our lines back
  local tcp, udp, port = open(opts.port)
  print(("listening on * port %d (%s, %s)"):format(port, tostring(tcp), tostring(udp)))
  local state, cq = new_state(opts), cqueues.new()
  cq:wrap(accept_loop, tcp, cq, state)
  cq:wrap(udp_loop, udp, state)
  -- The controller runs until it is time to stop; the coroutines still
  -- parked then (the listeners' loops, silent clients) end with the process.
  while not state.stopped do
    local ok, err = cq:step(0.5)
    if not ok then error(err) end
    if ds.monotime() - state.last > state.idle then state.stopped = true end
  end
  tcp:close()
  udp:close()
  print(("served %d conversation(s)"):format(state.done))
end

main(arg)
