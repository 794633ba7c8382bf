-- echo_client.lua: talks to echo_server.lua over IPv4 or IPv6.
--
-- The client socket is dual-stack too, so one socket type reaches both
-- kinds of server address: "127.0.0.1" is mapped to ::ffff:127.0.0.1 by
-- the library, "::1" is used as it is, and names go through getaddrinfo.
--
-- usage: lua5.4 examples/echo_client.lua [host [port]] [message...]
--   host     default "localhost"
--   port     default 7007
--   message  each one is sent as a line; with none, lines are read from stdin
--
-- Every wait is bounded: an unresponsive server ends the client after 10 s.

-- The in-tree build first, then whatever is installed.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"

local TIMEOUT = 10

local function fail(what, err, code)
  io.stderr:write(("%s: %s (%s)\n"):format(what, err, code or "?"))
  os.exit(1)
end

local function connect(host, port)
  local sock = assert(ds.tcp())
  sock:settimeout(TIMEOUT)
  local ok, err, code = sock:connect(host, port)
  if not ok then fail(("connect to %s port %d"):format(host, port), err, code) end
  local laddr, lport = sock:getsockname()
  local paddr, pport = sock:getpeername()
  print(("connected from %s port %d to %s port %d (%s)"):format(
    laddr, lport, paddr, pport, ds.unmap(paddr)))
  return sock
end

-- Sends one line and prints the echo.
local function echo(sock, line)
  local _, err, _, code = sock:send(line .. "\n")
  if err then fail("send", err, code) end
  local reply, rerr, _, rcode = sock:receive("*l")
  if not reply then fail("receive", rerr, rcode) end
  print(("echoed: %s"):format(reply))
end

-- The command line's messages, or stdin's lines when there are none.
local function messages(argv)
  if #argv > 2 then
    local i = 2
    return function()
      i = i + 1
      return argv[i]
    end
  end
  return io.lines()
end

local function main(argv)
  local host = argv[1] or "localhost"
  local port = math.tointeger(tonumber(argv[2] or 7007))
  if not port then
    io.stderr:write("usage: lua5.4 examples/echo_client.lua [host [port]] [message...]\n")
    os.exit(2)
  end
  local sock = connect(host, port)
  for line in messages(argv) do echo(sock, line) end
  sock:close()
end

main(arg)
