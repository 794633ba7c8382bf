-- ip_agnostic_client.lua: the IP-version agnostic TCP/UDP client of
-- Microsoft's "IPv6 guide for Windows Sockets applications" (appendix B,
-- client.c), in Lua. Talks to ip_agnostic_server.lua.
--
-- getaddrinfo (without the passive flag) turns the server name into a list
-- of addresses, IPv6 and IPv4 alike, and the client tries each in turn
-- until one connects. Nothing below depends on the address family, and
-- almost nothing on TCP versus UDP: a connected UDP socket has send/recv.
--
-- usage: lua5.4 examples/ip_agnostic_client.lua [-s server] [-f family]
--          [-t transport] [-p port] [-b bytes] [-n number]

-- The in-tree build first, then whatever is installed.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"

local USAGE = [[

Simple socket sample client program.

usage: lua5.4 examples/ip_agnostic_client.lua [-s server] [-f family] [-t transport] [-p port] [-b bytes] [-n number]

  server     server name or IP address. (default: the loopback addresses)
  family     inet, inet6 or unspec (PF_INET etc. work too). (default: unspec)
  transport  tcp or udp. (default: tcp)
  port       port on which to connect. (default: 5001)
  bytes      bytes of extra data to send. (default: 0)
  number     number of sends to perform; 0 loops until interrupted. (default: 1)
]]

local BUFFER_SIZE = 65536
local TIMEOUT = 5 -- seconds any call may wait: a lost datagram ends the run

local function usage()
  io.stderr:write(USAGE)
  os.exit(1)
end

-- "-x value" pairs (or "/x value", as on Windows), each value passed
-- through its letter's converter; anything else prints the usage.
local function parse_args(argv)
  local convert = {
    s = tostring,
    f = function(v) return ({inet = "inet", inet6 = "inet6", unspec = "unspec"})[v:lower():gsub("^[ap]f_", "")] end,
    t = function(v) return ({tcp = "stream", udp = "dgram"})[v:lower()] end,
    p = tostring,
    b = function(v) local n = math.tointeger(tonumber(v)) return n and n >= 0 and n < BUFFER_SIZE - 20 and n end,
    n = function(v) local n = math.tointeger(tonumber(v)) return n and n >= 0 and n end,
  }
  local opts = {f = "unspec", t = "stream", p = "5001", b = 0, n = 1}
  for i = 1, #argv, 2 do
    local letter = (argv[i]:match("^[-/](%a)$") or ""):lower()
    local value = convert[letter] and argv[i + 1] and convert[letter](argv[i + 1])
    if not value then usage() end
    opts[letter] = value
  end
  return opts
end

local function fail(call, err, code)
  io.stderr:write(("%s failed: %s (%s)\n"):format(call, err, code))
  os.exit(1)
end

-- The first of getaddrinfo's answers that connects, and that answer.
local function connect_any(results, opts)
  local new = opts.t == "stream" and ds.tcp or ds.udp
  for _, ai in ipairs(results) do
    print(("socket call with family: %s socktype: %s, protocol: %d"):format(
      ai.family, ai.socktype, ai.protocol))
    local sock, err, code = new{family = ai.family}
    if not sock then
      io.stderr:write(("Error opening socket: %s (%s)\n"):format(err, code))
    else
      print("Attempting to connect to: " .. (opts.s or "localhost"))
      sock:settimeout(TIMEOUT)
      local ok
      ok, err, code = sock:connect(ai.addr, ai.port)
      if ok then return sock, ai end
      io.stderr:write(("connect() to %s failed: %s (%s)\n"):format(ai.addr, err, code))
      sock:close()
    end
  end
  io.stderr:write("Fatal error: unable to connect to the server.\n")
  os.exit(1)
end

-- "Message #n" followed by `extra` printable filler bytes.
local function message(n, extra)
  local filler = {}
  for i = 0, extra - 1 do filler[#filler + 1] = string.char((i & 0x3f) + 0x20) end
  return ("Message #%d"):format(n) .. table.concat(filler)
end

-- One recv; false once the server has closed the connection.
local function receive_and_print(sock)
  local data, err, code = sock:recv(BUFFER_SIZE)
  if data then
    print(("Received %d bytes from server: [%s]"):format(#data, data))
    return true
  end
  if code == "EOF" then
    print("Server closed connection")
    return false
  end
  fail("recv()", err, code)
end

local function exchange(sock, n, extra)
  local text = message(n, extra)
  local _, err, _, code = sock:send(text)
  if err then fail("send()", err, code) end
  print(("Sent %d bytes (out of %d bytes) of data: [%s]"):format(#text, #text, text))
  receive_and_print(sock)
end

local function main(argv)
  local opts = parse_args(argv)
  local results, err = ds.getaddrinfo(opts.s, opts.p, {family = opts.f, socktype = opts.t})
  if not results then
    io.stderr:write(("Cannot resolve address [%s] and port [%s]: %s\n"):format(
      opts.s or "loopback", opts.p, err))
    os.exit(1)
  end
  local sock, ai = connect_any(results, opts)
  local paddr, pport = sock:getpeername()
  print(("Connected to %s, port %d, protocol %s, protocol family %s"):format(
    paddr, pport, opts.t == "stream" and "TCP" or "UDP", ai.family == "inet" and "PF_INET" or "PF_INET6"))
  local laddr, lport = sock:getsockname()
  print(("Using local address %s, port %d"):format(laddr, lport))
  local n = 0
  while opts.n == 0 or n < opts.n do
    n = n + 1
    exchange(sock, n, opts.b)
  end
  print("Done sending")
  -- TCP keeps no message boundaries: more of the echo may still be on its
  -- way, so read until the server closes its side too.
  if opts.t == "stream" then
    sock:shutdown("send")
    while receive_and_print(sock) do end
  end
  sock:close()
end

main(arg)
