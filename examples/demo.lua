-- demo.lua: what `make demo` shows. Run from the repository root:
--   lua5.4 examples/demo.lua
--
-- Starts examples/echo_server.lua on a free port (one dual-stack socket),
-- then connects to it once over IPv4 (127.0.0.1) and once over IPv6 (::1)
-- with plain single-family client sockets, and prints what each side saw.
-- It exits 0 when both echoes came back and the server ended cleanly.
--
-- It never hangs: client calls time out after CALL_TIMEOUT seconds, and the
-- server runs under timeout(1), so even a wedged server is gone after
-- SERVER_LIMIT seconds, which ends every read from its pipe.

-- The in-tree build first, then whatever is installed.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"

local CALL_TIMEOUT = 5
local SERVER_LIMIT = 20

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The echo server as a child process whose output we read through a pipe.
-- The shell prints its pid first; exec makes that pid timeout(1)'s, which
-- passes a TERM on to the server.
local function start_server(clients)
  local cmd = ("echo $$; exec timeout %d %s examples/echo_server.lua 0 -n %d -t %d 2>&1"):format(
    SERVER_LIMIT, shell_quote(arg[-1] or "lua5.4"), clients, CALL_TIMEOUT)
  local pipe = assert(io.popen(cmd, "r"))
  local server = {pipe = pipe, pid = math.tointeger(tonumber(pipe:read("l")))}
  server.banner = pipe:read("l") or "(the server printed nothing)"
  server.port = math.tointeger(tonumber(server.banner:match("port (%d+)")))
  return server
end

-- Copies the server's lines to our output, up to one matching stop (or,
-- without stop, up to the end of its output).
local function relay(server, stop)
  for line in server.pipe:lines() do
    print("  server | " .. line)
    if stop and line:match(stop) then return end
  end
end

-- Ends the server early (by the pid we started), shows what it said last
-- and reaps it.
local function stop_server(server)
  if server.pid then os.execute(("kill %d 2>/dev/null"):format(server.pid)) end
  relay(server)
  server.pipe:close()
end

-- One client: connect, send a line, read the echo, show both ends.
local function visit(server, label, family, host)
  print(("\n%s: a plain %s client connects to %s port %d"):format(label, family, host, server.port))
  local sock = assert(ds.tcp{family = family})
  sock:settimeout(CALL_TIMEOUT)
  local ok, err, code = sock:connect(host, server.port)
  if not ok then
    print(("  client | connect failed: %s (%s)"):format(err, code))
    sock:close()
    return false
  end
  local laddr, lport = sock:getsockname()
  print(("  client | connected from %s port %d"):format(laddr, lport))
  local text = "hello over " .. label
  local reply, rerr, _, rcode
  ok, err, _, code = sock:send(text .. "\n")
  if ok then reply, rerr, _, rcode = sock:receive("*l") end
  sock:close()
  if not reply then
    print(("  client | failed: %s (%s)"):format(err or rerr, code or rcode))
    return false
  end
  print(("  client | sent %q, the echo came back as %q"):format(text, reply))
  relay(server, "^done with")
  return reply == text
end

local function plan()
  local visits = {{"IPv4", "inet", "127.0.0.1"}}
  if ds.has_ipv6() then
    visits[#visits + 1] = {"IPv6", "inet6", "::1"}
  else
    print("(this host has no IPv6: the IPv6 client is skipped)")
  end
  return visits
end

local function main()
  local visits = plan()
  local server = start_server(#visits)
  print("One dual-stack echo server (examples/echo_server.lua):")
  print("  server | " .. server.banner)
  if not server.port then
    stop_server(server)
    print("demo failed: the server did not start")
    return false
  end
  for _, v in ipairs(visits) do
    if not visit(server, v[1], v[2], v[3]) then
      stop_server(server)
      print("\ndemo failed")
      return false
    end
  end
  relay(server)
  local exited = server.pipe:close()
  print("\nOne socket served both: the IPv4 peer appeared as ::ffff:127.0.0.1,"
    .. " which ds.unmap turns back into 127.0.0.1.")
  return exited == true
end

os.exit(main() and 0 or 1)
