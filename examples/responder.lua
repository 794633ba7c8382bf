-- responder.lua: what examples/udp_responder.lua, udp_responder_cqueues.lua
-- and luv_responder.lua share: their command line, the listener, the log
-- line for each datagram and the answer to it. Not a program of its own.
--
-- Both programs take each datagram on the fast path: with packet info on,
-- sock:recvfrom() gives data, addr, port and also dst (the local address
-- the datagram was sent to) and ifindex (the interface it came in on).
-- They answer with its own bytes through sock:sendto(data, addr, port,
-- dst, ifindex), which sends from dst, and log who asked, which address
-- they asked and on which interface.

local ds = require "dualstack"
local args = require "args"

local M = {}

-- The command line: one positional port, flags -n (datagrams), -t (idle
-- seconds) and, where allow_d is set, -d yes|no (one dual socket or one per
-- family). Returns {port, count, idle, dualstack}; count and idle are nil
-- for ever.
function M.parse_args(argv, usage, allow_d)
  return args.parse(argv, usage, {
    defaults = {port = 7008, dualstack = true},
    positional = {{"port", args.integer}},
    flags = {n = {"count", args.integer}, t = {"idle", args.number},
             d = allow_d and {"dualstack", args.yesno} or nil},
  })
end

-- The interface's name next to its index, since "1" alone says little.
local function interface(index)
  if not index then return "an unknown interface" end
  return ("ifindex %d (%s)"):format(index, ds.ifname(index) or "?")
end

-- One log line: peer, the local address asked (as the socket reports it
-- and unmapped), the interface, the payload and how the reply went.
function M.describe(data, addr, port, dst, ifindex, sent, err, code)
  local outcome = sent and ("replied from " .. tostring(dst))
    or ("reply failed: %s (%s)"):format(err, code)
  return ("from %s port %d to %s (%s) on %s: %q, %s"):format(
    addr, port, tostring(dst), dst and ds.unmap(dst) or "no pktinfo",
    interface(ifindex), data, outcome)
end

-- Answers one datagram (what recvfrom returned) with its own bytes, from
-- the address it was sent to, and logs it; sock is a socket or a listener.
function M.answer(sock, data, addr, port, dst, ifindex)
  local sent, err, code = sock:sendto(data, addr, port, dst, ifindex)
  print(M.describe(data, addr, port, dst, ifindex, sent, err, code))
  return sent
end

-- The UDP listener on every address the two loop-driven responders
-- serve (ds.udp_listen turns pktinfo on by default), its banner printed;
-- exits 1 when it cannot be made.
function M.listen(opts)
  local listener, err, code = ds.udp_listen("*", opts.port, {dualstack = opts.dualstack})
  if not listener then
    io.stderr:write(("cannot bind * port %d: %s (%s)\n"):format(opts.port, err, code))
    os.exit(1)
  end
  local addr, port = listener:getsockname()
  M.banner(addr, port, tostring(listener))
  return listener
end

-- The banner the demo reads the port from: "listening on :: port N (...)".
function M.banner(addr, port, what)
  print(("listening on %s port %d (%s)"):format(addr, port, what))
end

return M
