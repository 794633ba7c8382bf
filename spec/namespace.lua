-- Runs a Lua script in a child process inside namespaces the spec makes
-- (unshare -n for a private network, -m for a private /etc/hosts), so specs
-- can set up routes, links and names without touching the host. The child
-- reports with lines "key=value"; the spec parses them and asserts.
local N = {}

-- Every child is killed after this many seconds, so a broken library fails
-- the spec instead of hanging the suite.
N.LIMIT = 30

-- s quoted for sh.
local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
N.shell_quote = shell_quote

-- A command's output (stderr too), whether it succeeded, and its exit code.
local function read_command(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return out, ok, code
end
N.read_command = read_command

-- The repository root as an absolute path: the child runs from anywhere.
local ROOT = read_command("pwd"):gsub("%s+$", "")

-- The in-tree module paths, absolute (spec.testhelp included).
local PATHS = string.format([[
package.path = %q .. package.path
package.cpath = %q .. package.cpath
]], ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;", ROOT .. "/build/?.so;")

-- What receiver(ns, count) runs in namespace ns: a dual UDP socket on "*"
-- with pktinfo and recvhoplimit that prints its port, then one line per
-- datagram (count of them, 3 s each at most): "tag addr ifname hoplimit
-- size", tag being the data's leading word.
local RECEIVER = [[
local count = tonumber((...))
local ds = require "dualstack"
local s = assert(ds.udp())
assert(s:setoption("pktinfo", true))
assert(s:setoption("recvhoplimit", true))
assert(s:bind("*", 0))
s:settimeout(3)
local _, port = s:getsockname()
io.stdout:setvbuf("line")
print(port)
for _ = 1, count do
  local m, err = s:recvmsg(65535)
  if not m then print("error " .. tostring(err)) break end
  print(("%s %s %s %s %d"):format(m.data:match("^%w+"), m.addr, ds.ifname(m.ifindex),
    tostring(m.hoplimit), #m.data))
end
]]

-- Prepended to every child script: the paths, report(key, value) to write
-- one result line, and in_ns(name, code, ...), which starts code (with the
-- same paths, its arguments as ...) in the namespace whose holder's pid is
-- in the environment variable name (N.PAIR: "PEER"; N.CHAIN: "R", "B";
-- N.TWOLINK: "P") and returns io.popen's handle of its output; in_peer(code,
-- ...) is in_ns("PEER", code, ...).
local PROLOGUE = PATHS .. string.format([[
io.stdout:setvbuf("line")
function report(key, value) print(key .. "=" .. tostring(value)) end
local peer_paths = %q
function in_ns(name, code, ...)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(peer_paths, code)
  f:close()
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = ("%%q"):format(tostring(a)) end
  return assert(io.popen(("nsenter -t %%s -n lua5.4 %%s %%s; rm -f %%s"):format(
    assert(os.getenv(name), "no namespace " .. name .. ": use N.PAIR, N.CHAIN or N.TWOLINK"),
    file, table.concat(args, " "), file)))
end
function in_peer(code, ...) return in_ns("PEER", code, ...) end
-- Starts a receiver of count datagrams in namespace ns; returns its port
-- and collect(), which waits for its lines and returns them by tag (IPv6
-- arrivals may reorder: match by tag); a failure line is tag "error".
function receiver(ns, count)
  local peer = in_ns(ns, %q, count)
  local port = assert(tonumber(peer:read("l")), "the receiver did not start")
  return port, function()
    local got = {}
    for line in peer:lines() do
      local tag, rest = line:match("^(%%S+) (.*)$")
      if tag then got[tag] = rest end
    end
    peer:close()
    return got
  end
end
]], PATHS, RECEIVER)

-- Two hosts joined by a veth pair, for N.run("-n", N.PAIR, script): the
-- child's namespace has va (2001:db8::1/64, 192.0.2.1/24) and a second
-- namespace, the peer, has vb (2001:db8::2/64, 192.0.2.2/24). PEER is the
-- pid that holds the peer's namespace; in_peer (below) runs code there.
N.PAIR = [[
set -e
ip link set lo up
unshare -n sleep 30 &
PEER=$!
sleep 0.2
ip link add va type veth peer name vb netns $PEER
ip addr add 2001:db8::1/64 dev va nodad
ip addr add 192.0.2.1/24 dev va
ip link set va up
nsenter -t $PEER -n sh -c 'ip link set lo up; ip addr add 2001:db8::2/64 dev vb nodad; ip addr add 192.0.2.2/24 dev vb; ip link set vb up'
export PEER
]]

-- Waits (up to 5 s) until no IPv6 address of this namespace or of the
-- namespaces whose pids the variables hold is tentative: until then a
-- link-local address is in duplicate-address detection and the first
-- IPv6 packets through a router are lost.
local function settle(...)
  local where = { '""' }
  for _, var in ipairs { ... } do where[#where + 1] = ('"nsenter -t $%s -n"'):format(var) end
  return ("for ns in %s; do\n"):format(table.concat(where, " "))
    .. '  i=0; while [ -n "$($ns ip -6 addr show tentative)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done\n'
    .. "done\n"
end

-- Three hosts in a row, for N.run("-n", N.CHAIN, script): the child's
-- namespace A (a0: 192.0.2.1/24, 2001:db8:1::1/64), a router R (r0:
-- 192.0.2.2/24, 2001:db8:1::2/64; r1: 198.51.100.1/24, 2001:db8:2::1/64;
-- forwarding on, ICMP rate limits off so every probe gets its error) and B
-- (b0: 198.51.100.2/24, 2001:db8:2::2/64). The R-B link has MTU 1280, so a
-- larger datagram from A needs fragmenting at R (path MTU). A and B route
-- everything through R. R and B are the pids in $R and $B (in_ns("R", ...)).
-- No link name starts with "br": `ip link set br...` parses as "broadcast".
N.CHAIN = [[
set -e
ip link set lo up
unshare -n sleep 30 &
R=$!
unshare -n sleep 30 &
B=$!
sleep 0.2
ip link add a0 type veth peer name r0 netns $R
nsenter -t $R -n ip link add r1 type veth peer name b0 netns $B
ip addr add 192.0.2.1/24 dev a0
ip addr add 2001:db8:1::1/64 dev a0 nodad
ip link set a0 up
ip route add default via 192.0.2.2
ip -6 route add default via 2001:db8:1::2
nsenter -t $R -n sh -c 'set -e; ip link set lo up
sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
sysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
ip addr add 192.0.2.2/24 dev r0; ip addr add 2001:db8:1::2/64 dev r0 nodad; ip link set r0 up
ip link set r1 mtu 1280
ip addr add 198.51.100.1/24 dev r1; ip addr add 2001:db8:2::1/64 dev r1 nodad; ip link set r1 up'
nsenter -t $B -n sh -c 'set -e; ip link set lo up
sysctl -q -w net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
ip link set b0 mtu 1280
ip addr add 198.51.100.2/24 dev b0; ip addr add 2001:db8:2::2/64 dev b0 nodad; ip link set b0 up
ip route add default via 198.51.100.1; ip -6 route add default via 2001:db8:2::1'
]] .. settle("R", "B") .. [[
export R B
]]

-- Two links between two hosts, for N.run("-n", N.TWOLINK, script): the
-- child's namespace A has l1 (10.1.0.1/24, 2001:db8:a::1/64) and l2
-- (10.2.0.1/24, 2001:db8:b::1/64), joined to p1 (10.1.0.2, 2001:db8:a::2)
-- and p2 (10.2.0.2, 2001:db8:b::2) of the peer P (pid in $P), whose lo
-- also carries 198.51.100.9 and 2001:db8:9::9. A reaches those by l1
-- (metric 10) or, failing that, l2 (metric 20): the routing table alone
-- always picks l1, so only a device binding sends through l2.
N.TWOLINK = [[
set -e
ip link set lo up
unshare -n sleep 30 &
P=$!
sleep 0.2
ip link add l1 type veth peer name p1 netns $P
ip link add l2 type veth peer name p2 netns $P
ip addr add 10.1.0.1/24 dev l1
ip addr add 2001:db8:a::1/64 dev l1 nodad
ip addr add 10.2.0.1/24 dev l2
ip addr add 2001:db8:b::1/64 dev l2 nodad
ip link set l1 up
ip link set l2 up
ip route add 198.51.100.9/32 via 10.1.0.2 dev l1 metric 10
ip route add 198.51.100.9/32 via 10.2.0.2 dev l2 metric 20
ip -6 route add 2001:db8:9::9/128 via 2001:db8:a::2 dev l1 metric 10
ip -6 route add 2001:db8:9::9/128 via 2001:db8:b::2 dev l2 metric 20
nsenter -t $P -n sh -c 'set -e; ip link set lo up
ip addr add 198.51.100.9/32 dev lo; ip addr add 2001:db8:9::9/128 dev lo
ip addr add 10.1.0.2/24 dev p1; ip addr add 2001:db8:a::2/64 dev p1 nodad; ip link set p1 up
ip addr add 10.2.0.2/24 dev p2; ip addr add 2001:db8:b::2/64 dev p2 nodad; ip link set p2 up'
]] .. settle("P") .. [[
export P
]]

-- A setup line (append it to N.PAIR, N.CHAIN, ...) that lets the groups lo
-- to hi open datagram ICMP sockets (net.ipv4.ping_group_range, which also
-- governs ICMPv6 ones; per namespace, "1 0" = nobody in a fresh one): in
-- the child's namespace, or in the namespace whose holder's pid is in the
-- environment variable ns ("PEER", "R", "B", "P").
function N.ping_range(lo, hi, ns)
  assert(math.type(lo) == "integer" and math.type(hi) == "integer", "integer group ids expected")
  local cmd = ("sysctl -q -w net.ipv4.ping_group_range=%s"):format(shell_quote(lo .. " " .. hi))
  if ns then
    assert(ns:match("^[%a_][%w_]*$"), "a variable name expected")
    cmd = ("nsenter -t $%s -n %s"):format(ns, cmd)
  end
  return cmd .. "\n"
end

-- Whether unshare with these flags works here; if not, the reason.
function N.available(flags)
  if package.config:sub(1, 1) == "\\" then
    return false, "namespaces (unshare " .. flags .. ") are Linux's: Windows has none"
  end
  local out, ok = read_command("unshare " .. flags .. " true")
  if ok then return true end
  return false, "cannot make namespaces (unshare " .. flags .. "): " .. out:gsub("%s+$", "")
end

-- The topologies (issue 17: N.CHAIN, N.TWOLINK): why they cannot run
-- here, or nil. Their receiver reports control-message payloads.
function N.needs_topology()
  if package.config:sub(1, 1) == "\\" then return "network namespaces are Linux's: Windows has none" end
  local why = require("spec.helpers").needs_cmsg("control-message payloads"); if why then return why end
  local usable, reason = N.available("-n")
  if not usable then return reason end
end

-- Runs script (Lua source) after the shell commands in setup, inside
-- `unshare flags`. Returns the reported keys as a table and the whole output.
function N.run(flags, setup, script)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(PROLOGUE, script)
  f:close()
  local inner = setup .. "\nexec lua5.4 " .. file
  local out = read_command(string.format("timeout %d unshare %s sh -c %s", N.LIMIT, flags,
    shell_quote(inner)))
  os.remove(file)
  local results = {}
  for key, value in ("\n" .. out):gmatch("\n([%w_%.]+)=([^\n]*)") do results[key] = value end
  return results, out
end

return N
