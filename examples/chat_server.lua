-- chat_server.lua: a line-based chat room for IPv4 and IPv6 clients at once.
--
-- ds.listen("*", port) gives one listener: a single dual-stack socket where
-- the host allows it, or (with -d no, or on a host without dual-stack
-- sockets) one IPv6 and one IPv4 socket on the same port behind the same
-- object. ds.select waits on the listener and every client together, with
-- LuaSocket's signature. Each line a client sends goes to every other
-- client, prefixed with the sender's address, unmapped: an IPv4 client shows
-- as 127.0.0.1:40000, not ::ffff:127.0.0.1.
--
-- usage: lua5.4 examples/chat_server.lua [port] [-n lines] [-t seconds] [-d yes|no]
--   port   0 picks a free port; the first line printed names it (default 7009)
--   -n     exit after relaying this many lines (a test mode; default: for ever)
--   -t     exit after this many seconds without any traffic (default: never)
--   -d     yes: one dual-stack socket (default); no: one socket per family
--
-- Try it with two terminals and any line client:
--   lua5.4 examples/chat_server.lua 7009 &
--   nc 127.0.0.1 7009      # and in another terminal: nc ::1 7009

-- The in-tree build first, then whatever is installed; examples/ for the
-- shared command-line reader.
package.path = "lua/?.lua;lua/?/init.lua;examples/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"
local args = require "args"

local USAGE = "usage: lua5.4 examples/chat_server.lua [port] [-n lines] [-t seconds] [-d yes|no]\n"

local function parse_args(argv)
  return args.parse(argv, USAGE, {
    defaults = {port = 7009, dualstack = true},
    positional = {{"port", args.integer}},
    flags = {n = {"lines", args.integer}, t = {"idle", args.number},
             d = {"dualstack", args.yesno}},
  })
end

-- "127.0.0.1:40000" for an IPv4 peer, mapped or not; "[::1]:40000" for IPv6.
local function name_of(addr, port)
  local plain = ds.unmap(addr)
  if ds.family(plain) == "inet6" then return ("[%s]:%d"):format(plain, port) end
  return ("%s:%d"):format(plain, port)
end

local Room = {}
Room.__index = Room

local function new_room(listener)
  -- clients: array of {sock, name, partial} in joining order (for select)
  return setmetatable({listener = listener, clients = {}, relayed = 0}, Room)
end

-- Sends text to every client but the one excluded. Sockets never wait
-- (timeout 0): a client whose send buffer is full is too slow for the room
-- and is dropped rather than stalling everyone.
function Room:broadcast(text, except)
  for _, c in ipairs(self.clients) do
    if c ~= except and not c.gone then
      local ok, err = c.sock:send(text .. "\n")
      if not ok then self:drop(c, "send failed: " .. err) end
    end
  end
end

function Room:join(sock)
  sock:settimeout(0)
  local c = {sock = sock, name = name_of(sock:getpeername()), partial = ""}
  print(("%s joined (seen as %s)"):format(c.name, (sock:getpeername())))
  self.clients[#self.clients + 1] = c
  sock:send(("welcome %s, %d other(s) here\n"):format(c.name, #self.clients - 1))
  self:broadcast("* " .. c.name .. " joined", c)
end

-- Marks c gone; the room forgets it after the current pass (sweep), so the
-- client list is never changed while it is being walked.
function Room:drop(c, why)
  if c.gone then return end
  c.gone = true
  c.sock:close()
  print(("%s left: %s"):format(c.name, why))
  self:broadcast("* " .. c.name .. " left", c)
end

function Room:sweep()
  local kept = {}
  for _, c in ipairs(self.clients) do
    if not c.gone then kept[#kept + 1] = c end
  end
  self.clients = kept
end

-- Reads every complete line c has sent and relays each. A line that is
-- not complete yet is kept (LuaSocket's partial result) and handed back as
-- the prefix of the next receive.
function Room:read(c)
  while not c.gone do
    local line, err, partial = c.sock:receive("*l", c.partial)
    if line then
      c.partial = ""
      self.relayed = self.relayed + 1
      print(("%s says %q"):format(c.name, line))
      self:broadcast(c.name .. ": " .. line, c)
    elseif err == "timeout" then
      c.partial = partial
      return
    else
      self:drop(c, err)
    end
  end
end

function Room:accept()
  local sock, err, code = self.listener:accept()
  if sock then self:join(sock)
  elseif err ~= "timeout" then print(("accept failed: %s (%s)"):format(err, code)) end
end

-- One round: wait for the listener or any client, then serve what is ready.
-- Returns false when nothing happened for idle seconds.
function Room:round(idle)
  local watch, by_sock = {self.listener}, {}
  for _, c in ipairs(self.clients) do
    watch[#watch + 1] = c.sock
    by_sock[c.sock] = c
  end
  local readable, _, err = ds.select(watch, nil, idle)
  if err == "timeout" then return false end
  for _, obj in ipairs(readable) do
    if obj == self.listener then self:accept() else self:read(by_sock[obj]) end
  end
  self:sweep()
  return true
end

function Room:close()
  for _, c in ipairs(self.clients) do
    if not c.gone then c.sock:close() end
  end
  self.listener:close()
end

local function main(argv)
  local opts = parse_args(argv)
  io.stdout:setvbuf("line")  -- a pipe would otherwise hold our lines back
  local listener, err, code = ds.listen("*", opts.port, {dualstack = opts.dualstack})
  if not listener then
    io.stderr:write(("cannot listen on * port %d: %s (%s)\n"):format(opts.port, err, code))
    os.exit(1)
  end
  listener:settimeout(0)  -- accept only what select said is there
  local addr, port = listener:getsockname()
  print(("listening on %s port %d (%s)"):format(addr, port, tostring(listener)))
  local room = new_room(listener)
  while not opts.lines or room.relayed < opts.lines do
    if not room:round(opts.idle) then
      print("idle: stopping")
      break
    end
  end
  room:close()
  print(("relayed %d line(s)"):format(room.relayed))
end

main(arg)
