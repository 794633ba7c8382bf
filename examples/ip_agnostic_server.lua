-- ip_agnostic_server.lua: the IP-version agnostic TCP/UDP echo server of
-- Microsoft's "IPv6 guide for Windows Sockets applications" (appendix B,
-- server.c), in Lua.
--
-- As in the original, getaddrinfo with the passive flag says what to listen
-- on: with no address, one wildcard per family the host supports (0.0.0.0
-- and ::). Where the host can do dual-stack, the :: socket is made a dual
-- one and already takes the IPv4 clients, so 0.0.0.0 needs no socket of its
-- own; otherwise each family gets its own socket on the same port.
--
-- usage: lua5.4 examples/ip_agnostic_server.lua [-f family] [-t transport]
--          [-p port] [-a address] [-n count] [-d yes|no]

-- The in-tree build first, then whatever is installed.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"

local USAGE = [[

Simple socket sample server program.

usage: lua5.4 examples/ip_agnostic_server.lua [-f family] [-t transport] [-p port] [-a address] [-n count] [-d yes|no]

  family     inet, inet6 or unspec (PF_INET etc. work too). (default: unspec)
  transport  tcp or udp. (default: tcp)
  port       port on which to bind; 0 picks a free one. (default: 5001)
  address    IP address on which to bind. (default: the unspecified address)
  count      exit after this many connections or datagrams; 0 never exits.
             (default: 0)
  -d no      one socket per family even where one dual-stack socket would
             do, as on hosts without dual-stack. (default: yes)
]]

local TCP_BUFFER = 64      -- set very small, as in the original, to show
                           -- that TCP does not keep message boundaries
local UDP_BUFFER = 65507   -- the largest UDP payload over IPv4
local CLIENT_TIMEOUT = 60  -- a silent client cannot hold the server forever

local function usage()
  io.stderr:write(USAGE)
  os.exit(1)
end

-- "-x value" pairs (or "/x value", as on Windows) through each letter's
-- converter; a missing or unconvertible value is a usage error.
local function getopt(argv, converters)
  local opts = {}
  for i = 1, #argv, 2 do
    local letter = (argv[i]:match("^[-/](%a)$") or ""):lower()
    local convert = converters[letter]
    opts[letter] = convert and argv[i + 1] and convert(argv[i + 1]) or usage()
  end
  return opts
end

local FAMILIES = {inet = "inet", inet6 = "inet6", unspec = "unspec"}
local TRANSPORTS = {tcp = "stream", udp = "dgram"}

local function parse_args(argv)
  local opts = getopt(argv, {
    f = function(v) return FAMILIES[v:lower():gsub("^[ap]f_", "")] end,
    t = function(v) return TRANSPORTS[v:lower()] end,
    p = function(v) return v end,
    a = function(v) return v end,
    n = function(v) local n = math.tointeger(tonumber(v)) return n and n >= 0 and n end,
    d = function(v) return ({yes = "yes", no = "no"})[v:lower()] end,
  })
  return {family = opts.f or "unspec", socktype = opts.t or "stream",
          port = opts.p or "5001", address = opts.a, count = opts.n or 0,
          dual = opts.d ~= "no" and ds.has_dualstack()}
end

local function has_wildcard6(results)
  for _, ai in ipairs(results) do
    if ai.family == "inet6" and ai.addr == "::" then return true end
  end
  return false
end

-- Which sockets to open: {ai, family} pairs, family being the socket's.
local function plan(results, opts)
  local dual = opts.dual and opts.family == "unspec" and has_wildcard6(results)
  local sockets = {}
  for _, ai in ipairs(results) do
    if ai.family == "inet6" then
      sockets[#sockets + 1] = {ai = ai, family = (dual and ai.addr == "::") and "dual" or "inet6"}
    elseif not (dual and ai.addr == "0.0.0.0") then
      sockets[#sockets + 1] = {ai = ai, family = "inet"}
    end
  end
  return sockets
end

local function describe(sock)
  return ({dual = "dual (IPv4 and IPv6)", inet6 = "PF_INET6", inet = "PF_INET"})[sock:getfamily()]
end

-- Opens, binds and (for TCP) listens one socket; nil, message on failure.
local function open(entry, port, socktype)
  local new = socktype == "stream" and ds.tcp or ds.udp
  local sock, err, code = new{family = entry.family}
  if not sock then return nil, ("socket() failed: %s (%s)"):format(err, code) end
  local addr = entry.ai.addr
  if addr:match("^[fF][eE][89aAbB]%x:") and not addr:find("%", 1, true) then
    io.stderr:write("IPv6 link local addresses should specify a scope ID!\n")
  end
  local ok = true
  -- One step beyond the original: with packet info on, recvfrom also says
  -- which local address each datagram was sent to, and the echo is sent
  -- from there (on a wildcard socket of a multi-homed host the routing
  -- table may pick another source, whose answer the client drops).
  if socktype == "dgram" then ok, err, code = sock:setoption("pktinfo", true) end
  if ok then ok, err, code = sock:bind(addr, port) end
  if ok and socktype == "stream" then ok, err, code = sock:listen(5) end
  if not ok then
    sock:close()
    return nil, ("binding %s port %d failed: %s (%s)"):format(addr, port, err, code)
  end
  return sock
end

-- Every planned socket on one port: with port 0 the first bind picks it
-- and the others follow, so a client needs to know only one number.
local function open_all(entries, socktype)
  local socks, port = {}, nil
  for _, entry in ipairs(entries) do
    local sock, err = open(entry, port or entry.ai.port, socktype)
    if sock then
      socks[#socks + 1] = sock
      port = select(2, sock:getsockname())
      print(("'Listening' on port %d, protocol %s, protocol family %s"):format(
        port, socktype == "stream" and "TCP" or "UDP", describe(sock)))
    else
      io.stderr:write(err, "\n")
    end
  end
  return socks
end

-- The peer as the kernel gave it, and as IPv4 text when it was mapped.
local function peer_text(addr)
  local plain = ds.unmap(addr)
  return plain == addr and addr or ("%s (%s)"):format(addr, plain)
end

local function serve_connection(conn)
  print("\nAccepted connection from " .. peer_text((conn:getpeername())))
  conn:settimeout(CLIENT_TIMEOUT)
  while true do
    local data, err, code = conn:recv(TCP_BUFFER)
    if not data then
      print(err == "closed" and "Client closed connection"
        or ("recv() failed: %s (%s)"):format(err, code))
      break
    end
    print(("Received %d bytes from client: [%s]"):format(#data, data))
    print("Echoing same data back to client")
    local sent, serr, _, scode = conn:send(data)
    if not sent then
      print(("send() failed: %s (%s)"):format(serr, scode))
      break
    end
  end
  conn:close()
end

-- dst and ifindex (from recvfrom, with packet info) make the echo leave
-- from the address the datagram was sent to.
local function serve_datagram(sock, data, addr, port, dst, ifindex)
  print(("Received a %d byte datagram from %s: [%s]"):format(#data, peer_text(addr), data))
  print("Echoing same data back to client")
  local _, err, code = sock:sendto(data, addr, port, dst, ifindex)
  if err then print(("sendto() failed: %s (%s)"):format(err, code)) end
end

local function fatal(call, err, code)
  io.stderr:write(("%s failed: %s (%s)\n"):format(call, err, code))
  os.exit(1)
end

-- Waits on one socket for a connection or a datagram and serves it: true
-- when something was served, false when the wait timed out.
local function serve_one(sock, socktype)
  if socktype == "stream" then
    local conn, err, code = sock:accept()
    if conn then serve_connection(conn) return true end
    if err ~= "timeout" then fatal("accept()", err, code) end
  else
    local data, addr, port, dst, ifindex = sock:recvfrom(UDP_BUFFER)
    if data then serve_datagram(sock, data, addr, port, dst, ifindex) return true end
    if addr ~= "timeout" then fatal("recvfrom()", addr, port) end
  end
  return false
end

local function main(argv)
  local opts = parse_args(argv)
  io.stdout:setvbuf("line")
  local results, err = ds.getaddrinfo(opts.address, opts.port,
    {family = opts.family, socktype = opts.socktype, passive = true, numerichost = true})
  if not results then
    io.stderr:write(("getaddrinfo failed: %s\n"):format(err))
    os.exit(1)
  end
  local socks = open_all(plan(results, opts), opts.socktype)
  if #socks == 0 then
    io.stderr:write("Fatal error: unable to serve on any address.\n")
    os.exit(1)
  end
  local served = 0
  -- Without a select call (dualstack's own comes with its next release)
  -- several sockets are polled in turn with a short timeout; a single
  -- socket simply blocks.
  local slice = #socks > 1 and 0.1 or nil
  for _, sock in ipairs(socks) do sock:settimeout(slice) end
  while opts.count == 0 or served < opts.count do
    for _, sock in ipairs(socks) do
      if serve_one(sock, opts.socktype) then served = served + 1 end
      if served == opts.count then break end
    end
  end
  for _, sock in ipairs(socks) do sock:close() end
end

main(arg)
