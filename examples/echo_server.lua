-- echo_server.lua: a dual-stack TCP echo server.
--
-- One socket bound to "*" (that is ::, with IPV6_V6ONLY off) serves IPv4
-- and IPv6 clients alike. An IPv4 client shows up with its address mapped
-- into IPv6 (::ffff:127.0.0.1); ds.unmap gives the plain IPv4 text back.
--
-- usage: lua5.4 examples/echo_server.lua [port [host]] [-n clients] [-t seconds]
--   port   0 picks a free port; the first line printed names it (default 7007)
--   host   address to listen on (default "*", every IPv4 and IPv6 address)
--   -n     exit after serving this many clients (default: serve forever)
--   -t     drop a client that stays silent this long (default 30 seconds)
--
-- Clients are served one at a time, line by line: each line comes back.

-- The in-tree build first, then whatever is installed; examples/ for the
-- shared command-line reader.
package.path = "lua/?.lua;lua/?/init.lua;examples/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"
local args = require "args"

local USAGE = "usage: lua5.4 examples/echo_server.lua [port [host]] [-n clients] [-t seconds]\n"

local function parse_args(argv)
  return args.parse(argv, USAGE, {
    defaults = {port = 7007, host = "*", idle = 30},
    positional = {{"port", args.integer}, {"host", args.text}},
    flags = {n = {"clients", args.integer}, t = {"idle", args.number}},
  })
end

local function listen(host, port)
  local server = assert(ds.tcp())  -- family "dual" is the default
  assert(server:setoption("reuseaddr", true))
  local ok, err, code = server:bind(host, port)
  if not ok then
    io.stderr:write(("cannot listen on %s port %d: %s (%s)\n"):format(host, port, err, code))
    os.exit(1)
  end
  assert(server:listen())
  return server
end

-- "IPv4" for 127.0.0.1 and ::ffff:127.0.0.1 alike, "IPv6" for ::1.
local function version(addr)
  return ds.family(ds.unmap(addr)) == "inet" and "IPv4" or "IPv6"
end

-- Echoes lines until the client closes, fails or stays silent too long.
local function serve(client, idle)
  local addr, port = client:getpeername()
  print(("accepted %s port %d: unmapped %s, an %s client"):format(
    addr, port, ds.unmap(addr), version(addr)))
  client:settimeout(idle)
  while true do
    local line, err = client:receive("*l")
    if not line then
      print(("done with %s: %s"):format(addr, err))
      break
    end
    print(("  echoing %q"):format(line))
    local sent, serr = client:send(line .. "\n")
    if not sent then
      print(("done with %s: send failed: %s"):format(addr, serr))
      break
    end
  end
  client:close()
end

local function main(argv)
  local opts = parse_args(argv)
  -- A pipe (as in `make demo`) would otherwise hold our lines back.
  io.stdout:setvbuf("line")
  local server = listen(opts.host, opts.port)
  local addr, port = server:getsockname()
  print(("listening on %s port %d (%s)"):format(addr, port, tostring(server)))
  local served = 0
  while not opts.clients or served < opts.clients do
    local client, err, code = server:accept()
    if client then
      serve(client, opts.idle)
      served = served + 1
    else
      io.stderr:write(("accept failed: %s (%s)\n"):format(err, code))
    end
  end
  server:close()
end

main(arg)
