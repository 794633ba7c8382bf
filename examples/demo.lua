-- demo.lua: what `make demo` shows. Run from the repository root:
--   lua5.4 examples/demo.lua
--
-- Part 1, TCP: starts examples/echo_server.lua on a free port (one
-- dual-stack socket), then connects to it once over IPv4 (127.0.0.1) and
-- once over IPv6 (::1) with plain single-family client sockets, and prints
-- what each side saw.
--
-- Part 2, UDP packet info: starts examples/udp_responder.lua on a free port
-- (one dual-stack socket on "*" with pktinfo), queries it at 127.0.0.1 and
-- 127.0.0.2 from a plain inet socket bound to 127.0.0.1, and at ::1 from an
-- inet6 socket, and shows each reply's source next to the address queried.
-- They must match: that is what the dst and ifindex recvfrom returns are
-- for, handed back to sendto.
--
-- It exits 0 when every echo came back, every reply came from the address
-- queried and both servers ended cleanly, 1 otherwise. It never hangs:
-- client calls time out after CALL_TIMEOUT seconds, and each server runs
-- under timeout(1), so even a wedged server is gone after SERVER_LIMIT
-- seconds, which ends every read from its pipe.

-- The in-tree build first, then whatever is installed.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"

local CALL_TIMEOUT = 5
local SERVER_LIMIT = 20

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- An example server (script, with args after it) as a child process whose
-- output we read through a pipe. The shell prints its pid first; exec makes
-- that pid timeout(1)'s, which passes a TERM on to the server. The server's
-- first line names its port.
local function start_server(script, args)
  local cmd = ("echo $$; exec timeout %d %s %s %s 2>&1"):format(
    SERVER_LIMIT, shell_quote(arg[-1] or "lua5.4"), script, args)
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

-- One UDP query: send from client to host, read one reply, and show the
-- reply's source next to the address queried. They must be the same.
local function query(server, label, client, host)
  print(("\n%s: a plain %s socket (%s) queries %s port %d"):format(
    label, client:getfamily(), (client:getsockname()), host, server.port))
  local text = "who answers " .. host .. "?"
  local data, from, from_port = client:sendto(text, host, server.port)
  if data then data, from, from_port = client:recvfrom() end
  if not data then
    print(("  client | failed: %s (%s)"):format(from, from_port))
    return false
  end
  local match = from == host and from_port == server.port and data == text
  print(("  client | queried %-9s  the reply came from %-9s  %s"):format(
    host, from, match and "(same address)" or "(MISMATCH: the client would drop it)"))
  relay(server, "^from ")
  return match
end

-- A plain inet UDP socket bound to 127.0.0.1 (so its own address is fixed
-- and only the server's choice of source is under test), or inet6.
local function udp_client(family, bind_host)
  local sock = assert(ds.udp{family = family})
  sock:settimeout(CALL_TIMEOUT)
  if bind_host then assert(sock:bind(bind_host, 0)) end
  return sock
end

local function tcp_visits()
  local visits = {{"IPv4", "inet", "127.0.0.1"}}
  if ds.has_ipv6() then
    visits[#visits + 1] = {"IPv6", "inet6", "::1"}
  else
    print("(this host has no IPv6: the IPv6 client is skipped)")
  end
  return visits
end

local function udp_queries()
  local v4 = udp_client("inet", "127.0.0.1")
  local queries = {{"IPv4", v4, "127.0.0.1"}, {"IPv4", v4, "127.0.0.2"}}
  if ds.has_ipv6() then queries[#queries + 1] = {"IPv6", udp_client("inet6"), "::1"} end
  return queries
end

-- Runs one part: starts the server, runs each step (fn(server, ...)) and
-- waits for the server to finish. Returns true when all went well.
local function run_part(title, script, args, steps, fn)
  local server = start_server(script, args:format(#steps, CALL_TIMEOUT))
  print(title)
  print("  server | " .. server.banner)
  if not server.port then
    stop_server(server)
    print("demo failed: the server did not start")
    return false
  end
  for _, step in ipairs(steps) do
    if not fn(server, table.unpack(step)) then
      stop_server(server)
      print("\ndemo failed")
      return false
    end
  end
  relay(server)
  return server.pipe:close() == true
end

local function main()
  local ok = run_part("One dual-stack echo server (examples/echo_server.lua):",
    "examples/echo_server.lua", "0 -n %d -t %d", tcp_visits(), visit)
  if not ok then return false end
  print("\nOne socket served both: the IPv4 peer appeared as ::ffff:127.0.0.1,"
    .. " which ds.unmap turns back into 127.0.0.1.")

  ok = run_part("\n\nOne dual-stack UDP responder with packet info (examples/udp_responder.lua):",
    "examples/udp_responder.lua", "0 -n %d -t %d", udp_queries(), query)
  if not ok then return false end
  print("\nOne socket on * answered each query from the address it was sent to"
    .. " (recvfrom's dst, handed back to sendto).")
  return true
end

os.exit(main() and 0 or 1)
