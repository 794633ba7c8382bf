-- Shared helpers for the dualstack specs: real loopback sockets, bounded
-- waits, wall-clock timing and open-socket counting. No mocks.
local ds = require "dualstack"

local H = { ds = ds }

-- Every blocking call in a spec gets this timeout, so a broken library fails
-- a spec instead of hanging the suite.
H.WAIT = 2

-- Fail loudly with the library's own message when a call that must succeed
-- returns nil, msg, code.
function H.ok(value, msg, code, ...)
  assert(value ~= nil, string.format("unexpected failure: %s (%s)", tostring(msg), tostring(code)))
  return value, msg, code, ...
end

-- Asserts fn raises an error whose message contains fragment (plain text):
-- the "bad argument #n to 'name'" prefix depends on how fn was called.
-- what names the case in a failure.
function H.raises(fragment, fn, what)
  local ok, err = pcall(fn)
  local label = what and (what .. ": ") or ""
  assert(not ok, label .. "did not raise; expected: " .. fragment)
  assert(tostring(err):find(fragment, 1, true), label .. "raised " .. tostring(err) .. "; expected: " .. fragment)
end

-- The first number in a /proc file.
local function proc_number(path)
  local f = assert(io.open(path))
  local n = f:read("n")
  f:close()
  return n
end

-- Wall-clock seconds. os.clock is CPU time and does not advance while a
-- call sleeps in poll, so it cannot measure a timeout; /proc/uptime can
-- (10 ms resolution, plenty for bounds of 0.15 s and 2 s), and it is not
-- the module's own clock, which the timeouts under test use. Windows has
-- no /proc: there the module's clock it must be.
local UPTIME = package.config:sub(1, 1) == "/" and io.open("/proc/uptime")
if UPTIME then UPTIME:close() end
function H.now()
  return UPTIME and proc_number("/proc/uptime") or ds.monotime()
end

-- The platform the suite runs on, and what it cannot do there. Windows
-- (under Wine in CI) has no /proc, no shell for io.popen, no namespaces;
-- Wine also drops the source of WSASendMsg and has no ECN. Each returns
-- the reason to give pending(), or nil when the case can run.
H.WINDOWS = ds.PLATFORM == "windows"
H.WINE = ds.WINE

-- Loaded loop libraries, kept for the whole run: busted's insulation
-- unloads a file's modules, and luv loaded a second time into one Lua
-- state crashes (uv_timer_init).
local kept_modules = {}

-- The reason a case needing module (Debian's package pkg) cannot run
-- here, or nil with the module loaded (kept loaded for later files): musl,
-- cross and Windows runs may have it missing or built for another C
-- library, which loading it tells.
function H.needs_module(module, pkg)
  if kept_modules[module] then return nil end
  local ok, lib = pcall(require, module)
  if not ok then
    return ("needs %s (Debian's %s): %s"):format(module, pkg, tostring(lib):match("[^\n]*"))
  end
  kept_modules[module] = lib
  return nil
end

function H.needs_posix(what)
  if H.WINDOWS then return (what or "this case") .. " needs a POSIX system (/proc, a shell, namespaces)" end
end

-- For the repository checks (layout, readme, rockspec): they read the
-- source tree through a shell and run lua5.4 children.
function H.needs_source_tree(what)
  return H.needs_posix((what or "this case") .. " (reads the source tree through a shell)")
end

-- For the cases that count or inspect descriptors (H.socket_fds,
-- H.open_fds, H.fd_is_socket), which read /proc.
function H.needs_proc_fds(what)
  return H.needs_posix((what or "this case") .. " (counts descriptors in /proc)")
end

-- SO_REUSEPORT: Windows has no such option (the module does not know it there).
function H.needs_reuseport(what)
  if H.WINDOWS then return (what or "this case") .. ": Windows has no SO_REUSEPORT" end
end

-- IPV6_TCLASS (and the ECN bits it carries): Wine refuses it with ENOPROTOOPT.
function H.needs_ipv6_tclass(what)
  if H.WINE then return (what or "this case") .. ": Wine " .. H.WINE .. " refuses IPV6_TCLASS (ENOPROTOOPT; Windows does not)" end
end

function H.needs_send_source(what)
  if H.WINE then return (what or "this case") .. ": Wine " .. H.WINE .. " ignores WSASendMsg's source (Windows does not)" end
end

-- Wine passes none of WSASendMsg's control data on (source, interface,
-- hop limit, traffic class): cases that check what a send's control data did.
function H.needs_send_control(what)
  if H.WINE then
    return (what or "this case") .. ": Wine " .. H.WINE .. " ignores WSASendMsg's control data (Windows does not)"
  end
end

-- Options only Linux has here: UDP GRO/GSO ("gro", segment), and
-- per-datagram receive timestamps ("timestamp"; Windows' timestamping is
-- an ioctl of its own, not a control message dualstack reads).
function H.needs_linux_option(option, what)
  if not H.WINDOWS then return nil end -- never skips where the option must exist
  local s = assert(ds.udp())
  local ok = pcall(s.getoption, s, option)
  s:close()
  if not ok then return (what or "this case") .. ": this platform has no '" .. option .. "' option" end
end

-- ICMP errors on UDP: Windows' SIO_UDP_CONNRESET is off in dualstack (an
-- ICMP error from one peer would otherwise break a server's next receive),
-- so a connected UDP socket is not told of a closed port.
function H.needs_icmp_errors(what)
  if H.WINDOWS then return (what or "this case") .. ": ICMP errors on UDP are off on Windows (SIO_UDP_CONNRESET)" end
end

-- recverr (issue 17): the error queue (IP_RECVERR / IPV6_RECVERR) is
-- Linux's; Windows answers ENOPROTOOPT (a case of its own checks that).
function H.needs_errqueue(what)
  if H.WINDOWS then return (what or "this case") .. ": no error queue (IP_RECVERR) on Windows" end
end

-- Wine sends from 127.0.0.1 whatever other loopback address a UDP socket
-- is bound to (Windows sends from the bound one).
function H.needs_bound_source(what)
  if H.WINE then return (what or "this case") .. ": Wine " .. H.WINE .. " sends from 127.0.0.1 whatever loopback address a socket is bound to" end
end

-- Emulated runs (test/cross/run.sh under qemu-user): DS_EMULATOR names the
-- emulator and target ("qemu-user s390x"), DS_EMULATOR_GAPS the gaps
-- test/cross/probes/gaps.c, a plain C program, measured under that very
-- emulator on this run ("name: what it saw;..."). A native run has
-- neither, so every needs_emulated is nil there.
H.EMULATOR = os.getenv("DS_EMULATOR")
local GAPS = {}
if H.EMULATOR then
  for name, seen in (os.getenv("DS_EMULATOR_GAPS") or ""):gmatch("([%w_]+): ([^;]*)") do GAPS[name] = seen end
end

-- gap: the probe's name for it (timestampns, mcast_if4, mcast_if6,
-- mcast_join, cmsg_in, cmsg_out, ctrunc, so_error, bindtodevice, ip_mtu).
function H.needs_emulated(gap, what)
  if GAPS[gap] then
    return (what or "this case") .. ": " .. H.EMULATOR .. " " .. gap .. " gap, not the module's ("
      .. GAPS[gap] .. " in test/cross/probes/gaps.c)"
  end
end

-- SO_TIMESTAMPNS, which the "timestamp" option sets: qemu-user 7.2 refuses it.
function H.needs_timestampns(what) return H.needs_emulated("timestampns", what) end

-- The multicast sending interface (IP_MULTICAST_IF with ip_mreqn,
-- IPV6_MULTICAST_IF) and joining (MCAST_JOIN_GROUP): qemu-user 7.2 refuses them.
function H.needs_multicast(what)
  return H.needs_emulated("mcast_join", what) or H.needs_emulated("mcast_if4", what)
    or H.needs_emulated("mcast_if6", what)
end

-- Control-message payloads qemu-user does not translate reach a big-endian
-- target unswapped (cmsg_in: a received PKTINFO ifindex of 1 reads
-- 16777216) and the kernel unswapped (cmsg_out: a sent IP_TTL is EINVAL).
-- Cases that send or read such payloads (ifindex, hop limit, traffic
-- class, segment size) need both directions.
function H.needs_cmsg(what)
  return H.needs_emulated("cmsg_in", what) or H.needs_emulated("cmsg_out", what)
end

-- qemu-user hands the kernel a control buffer larger than the program's and
-- drops what does not fit into the program's without MSG_CTRUNC.
function H.needs_ctrunc(what) return H.needs_emulated("ctrunc", what) end

-- qemu-user passes the host's errno number in getsockopt(SO_ERROR) on
-- untranslated: a refused connect reads 111 on mips, whose ECONNREFUSED is
-- 146, so the error of a failed non-blocking connect is not the system's.
-- SO_BINDTODEVICE read back, which qemu-user 7.2 refuses with EINVAL.
function H.needs_bindtodevice(what) return H.needs_emulated("bindtodevice", what) end

function H.needs_so_error(what) return H.needs_emulated("so_error", what) end

-- The loopback interface's index and name ("lo" on Linux, "loopback_N"
-- on Windows), found by its flag.
function H.loopback()
  for _, i in ipairs(ds.interfaces()) do
    if i.flags.loopback then return i.index, i.name end
  end
end
H.LO, H.LO_NAME = H.loopback()

-- Run fn, return its elapsed wall time, elapsed CPU time and its results.
function H.timed(fn)
  local wall, cpu = H.now(), os.clock()
  local results = table.pack(fn())
  return H.now() - wall, os.clock() - cpu, table.unpack(results, 1, results.n)
end

-- The pid of this Lua process. /proc/self opened from Lua is this process,
-- whereas inside a shell started by io.popen it would be the shell.
local function own_pid()
  return math.tointeger(proc_number("/proc/self/stat"))
end

-- Number of socket fds this process holds. Counting only sockets keeps the
-- pipe io.popen opens for the count itself out of the number.
function H.socket_fds()
  local p = assert(io.popen("ls -l /proc/" .. own_pid() .. "/fd 2>/dev/null"))
  local n = 0
  for line in p:lines() do
    if line:find("socket:%[") then n = n + 1 end
  end
  p:close()
  return n
end

-- Every descriptor this process holds (lfs.dir's own is there at both
-- counts, so differences are exact).
function H.open_fds()
  local lfs = require "lfs"
  local n = 0
  for name in lfs.dir("/proc/self/fd") do
    if name ~= "." and name ~= ".." then n = n + 1 end
  end
  return n
end

-- Whether fd is an open socket of this process right now.
function H.fd_is_socket(fd)
  local p = assert(io.popen("readlink /proc/" .. own_pid() .. "/fd/" .. fd .. " 2>/dev/null"))
  local target = p:read("a")
  p:close()
  return target:find("^socket:%[") ~= nil
end

-- A socket of the given kind ("tcp"/"udp") and family with a bounded timeout.
function H.socket(kind, family)
  local s = H.ok(ds[kind]({ family = family }))
  s:settimeout(H.WAIT)
  return s
end

-- A listening TCP socket on host, port 0; returns it and the port it got.
function H.listener(family, host)
  local l = H.socket("tcp", family)
  H.ok(l:bind(host, 0))
  H.ok(l:listen())
  local _, port = l:getsockname()
  return l, port
end

-- A connected TCP pair: a client of client_family (bound to client_bind
-- when given, so its source address is known) connects to connect_host on a
-- listener of server_family bound to bind_host. Returns client, the accepted
-- server side and the listener (closed by the caller).
function H.tcp_pair(server_family, bind_host, client_family, connect_host, client_bind)
  local l, port = H.listener(server_family, bind_host)
  local c = H.socket("tcp", client_family)
  if client_bind then H.ok(c:bind(client_bind, 0)) end
  H.ok(c:connect(connect_host, port))
  local a = H.ok(l:accept())
  a:settimeout(H.WAIT)
  return c, a, l
end

-- A UDP socket bound to host, port 0, with the options in opts set before
-- it binds; returns it and its port.
function H.udp_bound(family, host, opts)
  local s = H.socket("udp", family)
  for name, v in pairs(opts or {}) do H.ok(s:setoption(name, v)) end
  H.ok(s:bind(host, 0))
  local _, port = s:getsockname()
  return s, port
end

-- H.udp_bound's socket, registered with spec.cleanup to be closed after
-- the running case (the file calls after_each(cleanup.close_all)).
function H.udp_kept(family, host, opts)
  local s, port = H.udp_bound(family, host, opts)
  return require("spec.cleanup").keep(s), port
end

-- A shallow copy of t with the fields of extra set over it.
function H.copy(t, extra)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

-- Asserts that nothing arrives on s within 0.1 s.
function H.assert_idle(s)
  local assert = require "luassert" -- busted's, which spec files see as assert
  local t = s:gettimeout()
  s:settimeout(0.1)
  assert.same({ nil, "timeout", "ETIMEDOUT" }, { s:recvfrom() })
  s:settimeout(t)
end

-- Close every socket in list, for after_each blocks.
function H.close_all(list)
  for _, s in pairs(list) do s:close() end
end

-- A TCP port on host that nothing listens on: bind, read the port, close.
-- Without listen(), nothing accepts on it even in the instant before close.
function H.closed_port(family, host)
  local s = H.socket("tcp", family)
  H.ok(s:bind(host, 0))
  local _, port = s:getsockname()
  s:close()
  return port
end


-- Connects to host:port, a listener that never accepts, until a connect
-- hangs (its accept queue full: Linux then drops further SYNs, so nothing
-- leaves the host). True then; false when the kernel let none hang. The
-- clients stay open until the case ends (the cleanup module the specs
-- close after each case).
function H.fill_backlog(family, host, port)
  local keep = require("cleanup").keep
  for _ = 1, 8 do
    local c = keep(H.socket("tcp", family))
    c:settimeout(0.2)
    local ok, _, code = c:connect(host, port)
    if not ok then return code == "ETIMEDOUT" end
  end
  return false
end

-- Listeners on ::1 and on 127.0.0.1 with one port, the IPv6 one's accept
-- queue full (a connect to it hangs), the IPv4 one accepting. The port is
-- the kernel's free one on ::1; on 127.0.0.1 another socket (a client's
-- port, TIME_WAIT) may hold it, and then another port is tried. nil and
-- why when the kernel lets no connect hang (the spec marks the case pending).
function H.hanging_pair()
  local keep = require("cleanup").keep
  for _ = 1, 20 do
    local l6 = keep(H.socket("tcp", "inet6"))
    H.ok(l6:bind("::1", 0))
    H.ok(l6:listen(1))
    local port = select(2, l6:getsockname())
    local l4 = keep(H.socket("tcp", "inet"))
    if l4:bind("127.0.0.1", port) then
      H.ok(l4:listen(1))
      if not H.fill_backlog("inet6", "::1", port) then
        return nil, "a full accept queue does not hold back connects on this kernel"
      end
      return l6, l4, port
    end
    l6:close()
    l4:close()
  end
  error("no port is free on both ::1 and 127.0.0.1")
end

-- Puts the collector in incremental mode with pause, stepmul and, on Lua
-- 5.4, stepsize (the log2 of the bytes between steps); 5.5 takes the step
-- size in bytes, bytes55, and its steps differ, so each caller says which
-- it needs there: below 8 bytes each step is a whole cycle (5.4 does that
-- with a huge stepsize), 8 bytes at stepmul 100 is one single step (5.4 does
-- that under 16 bytes). Returns a function that puts back the mode and 5.4's
-- defaults, or the values 5.5 had.
function H.gc_incremental(pause, stepmul, stepsize, bytes55)
  local mode
  if _VERSION == "Lua 5.4" then
    mode = collectgarbage("incremental", pause, stepmul, stepsize)
    return function()
      collectgarbage("incremental", 200, 100, 13)
      if mode == "generational" then collectgarbage("generational") end
    end
  end
  mode = collectgarbage("incremental")
  local old = {}
  for name, value in pairs { pause = pause, stepmul = stepmul, stepsize = bytes55 } do
    old[name] = collectgarbage("param", name, value)
  end
  return function()
    for name, value in pairs(old) do collectgarbage("param", name, value) end
    if mode == "generational" then collectgarbage("generational") end
  end
end

-- A table whose length (#t, lua_rawlen) is 2^61: a list length any C code
-- must bound. Its integer keys all sit in the hash part (a constructor of
-- [k] = v fields sizes the hash for them, so no rehash moves any to an array
-- part), along the path rawlen's unbound search takes: 5.4 doubles from 1
-- (keys 1, 2, 4, ..., 2^61); 5.5.1 goes from j to 2j or 2j + 1 by the bits
-- of a per-state seed, so each step is probed, and then the binary search
-- between the last key and the first absent one is led to end at 2^61.
local HUGE = 1 << 61

local function hash_table(keys, value)
  local fields = {}
  for i = 1, #keys do fields[i] = ("[%d] = v"):format(keys[i]) end
  return assert(load("local v = ... return { " .. table.concat(fields, ", ") .. " }"))(value)
end

function H.huge_border(value)
  local keys = { 1 }
  local last, absent = 1, nil
  while not absent do
    -- The search goes from last to 2*last when t[2*last] alone stops it there.
    local try = 2 * last
    keys[#keys + 1] = try
    local step = #hash_table(keys, true) == try and try or try + 1
    keys[#keys] = nil
    if step > HUGE then absent = step else keys[#keys + 1], last = step, step end
  end
  local i, j = last, absent
  while j - i > 1 do
    local m = (i + j) // 2
    if m <= HUGE then keys[#keys + 1], i = m, m else j = m end
  end
  return hash_table(keys, value)
end

-- The repository root, from this file's own path (busted runs from it, but
-- a spec should not depend on that).
function H.repo_root()
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = src:match("^(.*)/[^/]*$") or "."
  local p = assert(io.popen("cd '" .. dir .. "/..' && pwd"))
  local root = p:read("l")
  p:close()
  return root
end

-- Children run as another user (issue 17: the nobody cases). The Lua they
-- run is the specs' children's, "lua5.4" on PATH: the Lua under test in the
-- flavour and cross runs (a wrapper there, test/lua/tree.sh and
-- test/cross/run.sh), the host's in the others. As the files it executes:
-- /proc's exe of a lua5.4 started here, then its arguments before the
-- script (qemu-user's Lua): the wrapper, which nobody may not be able to
-- read, is left out.
local function child_lua()
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write([[
local p = io.popen("readlink /proc/$PPID/exe && tr '\\0' '\\n' </proc/$PPID/cmdline")
io.write(p:read("a"))
p:close()
]])
  f:close()
  local p = assert(io.popen("lua5.4 " .. script .. " 2>&1"))
  local out = p:read("a")
  p:close()
  os.remove(script)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local files = { lines[1] }
  for i = 3, #lines do
    if lines[i] == script then return files end
    files[#files + 1] = lines[i]
  end
  return nil, "cannot tell which Lua lua5.4 runs: " .. (out:match("[^\n]+") or "no output")
end

-- s quoted for sh.
local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- A copy of lua/, build/dualstack/core.so and the children's Lua (above)
-- that every user may read, for children run as another user (setpriv): a
-- fresh clone may sit in a 0700 directory (mktemp -d), the flavour's Lua
-- in it. Returns its root and the command that runs that Lua (shell
-- words), or nil, why; remove it with os.execute("rm -rf ...").
function H.readable_tree()
  local lua, why = child_lua()
  if not lua then return nil, why end
  local root = H.repo_root()
  local copies, names = {}, {}
  for i, file in ipairs(lua) do
    -- The exe, then those of its arguments that are files (qemu's Lua).
    local f = i > 1 and io.open(file)
    if f then f:close() end
    if i == 1 or f then
      names[i] = ("bin/%d-%s"):format(i, file:match("[^/]*$"))
      copies[#copies + 1] = ("cp -L %s \"$d\"/%s"):format(quote(file), quote(names[i]))
    end
  end
  local p = assert(io.popen(([[
set -e
d=$(mktemp -d)
cp -RL %s/lua "$d/"
mkdir -p "$d/build/dualstack" "$d/bin"
cp -L %s/build/dualstack/core.so "$d/build/dualstack/"
%s
chmod -R a+rX "$d"
echo "$d"
]]):format(quote(root), quote(root), table.concat(copies, "\n"))))
  local dir = p:read("l")
  p:close()
  assert(dir, "could not copy lua/, build/ and the Lua for another user")
  local command = {}
  for i, file in ipairs(lua) do command[i] = quote(names[i] and dir .. "/" .. names[i] or file) end
  return dir, table.concat(command, " ")
end

-- Runs body (Lua source; the package paths name the copy, H.readable_tree)
-- as the user nobody on the children's Lua: run(command) is given the shell
-- command that starts it and returns what the case needs (default: its
-- output, stderr too). Returns run's results, or nil, why where no such
-- child can run here (no root or setpriv, or the copy does not load as
-- nobody). The copy goes after run, even when run raises.
function H.as_nobody(body, run)
  local why = H.needs_posix("a child run as nobody (setpriv)")
  if why then return nil, why end
  local p = assert(io.popen("id -u; command -v setpriv"))
  local who = p:read("a")
  p:close()
  if not who:match("^0\n") or not who:match("setpriv") then
    return nil, "needs root and setpriv(1) to run a child as nobody"
  end
  local dir, lua = H.readable_tree()
  if not dir then return nil, lua end
  local paths = ("package.path = %q .. package.path\npackage.cpath = %q .. package.cpath\n")
    :format(dir .. "/lua/?.lua;" .. dir .. "/lua/?/init.lua;", dir .. "/build/?.so;")
  local f = assert(io.open(dir .. "/child.lua", "w"))
  f:write(paths, body)
  f:close()
  local check = assert(io.open(dir .. "/check.lua", "w"))
  check:write(paths, 'require "dualstack"\n')
  check:close()
  os.execute("chmod a+r " .. quote(dir) .. "/*.lua")
  local nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups " .. lua .. " "
  p = assert(io.popen(nobody .. quote(dir .. "/check.lua") .. " 2>&1"))
  local err = p:read("a")
  p:close()
  if err ~= "" then
    os.execute("rm -rf " .. quote(dir))
    return nil, "the children's Lua (" .. lua .. ") cannot load this build's module as nobody: "
      .. (err:match("[^\n]+") or err)
  end
  local results = table.pack(pcall(run or function(cmd)
    p = assert(io.popen(cmd .. " 2>&1"))
    local out = p:read("a")
    p:close()
    return out
  end, nobody .. quote(dir .. "/child.lua")))
  os.execute("rm -rf " .. quote(dir))
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

-- Local sockets (issue 17 D): Windows has AF_UNIX stream sockets on paths
-- only, no socketpair, datagrams, abstract names or credentials.
-- posix: the case needs more than stream sockets on paths.
function H.needs_unix(what, posix)
  if not H.WINDOWS then return nil end
  what = what or "this case"
  if posix then return what .. " needs POSIX local sockets (Windows: stream on paths only)" end
  local s, msg, code = ds.unix()
  if not s then return ("%s: no AF_UNIX sockets here (%s, %s)"):format(what, tostring(msg), tostring(code)) end
  s:close()
  return nil
end

-- ICMP sockets (issue 17): the ping specs run in network namespaces they
-- make (ping_group_range is per namespace), as root.
function H.needs_icmp_netns(what)
  what = what or "this case"
  if H.WINDOWS then return what .. " needs Linux network namespaces (unshare -n): Windows has none" end
  local function ok(cmd)
    local a, how, code = os.execute(cmd .. " >/dev/null 2>&1")
    return a == true and how == "exit" and code == 0
  end
  if not ok("test \"$(id -u)\" = 0") then return what .. " needs root (unshare -n, sysctl in the namespace)" end
  if not ok("unshare -n true") then return what .. " needs network namespaces: unshare -n failed" end
  if not ok("command -v sysctl") then return what .. " needs sysctl(8)" end
  return nil
end

-- Event loops (waiter_spec, unix_loops_spec): BODY run in a coroutine of
-- cqueues or luv in a child lua5.4 while a ticker counts every 10 ms, so
-- a case measures that a wait let the loop run.

-- Seconds every loop may run before the case fails.
H.LOOP_LIMIT = 10
H.LOOPS = { "cqueues", "luv" }

-- The loop library, or nil and why not (musl, cross and Windows runs have
-- neither; Linux native has both). The spec marks the case pending: busted
-- gives pending() to spec files only, not to this module.
function H.loop_lib(module)
  local why = H.needs_module(module, "lua-" .. module)
  if why then return nil, why end
  return require(module)
end

-- The cases with both loops run in a child lua5.4 each: luv cannot be
-- loaded twice into one Lua state (a second require after busted's
-- insulation dropped the first crashes in uv_timer_init), and a child
-- keeps one loop's handles out of the others' way. LOOP_CHILD runs BODY
-- (Lua source; env.ticks, env.spawn(fn), env.sleep(s), listener(kind,
-- opts), now()) in a coroutine of LOOP while a ticker counts env.ticks
-- every 10 ms; BODY reports what the spec asserts. "finished" tells the
-- body ran to its end, "error" what it raised.
local LOOP_CHILD = [[
local ds = require "dualstack"
-- pcall: so a tree without dualstack.wait still runs the cqueues cases
-- and reports what they measured
local _, wait = pcall(require, "dualstack.wait")
local function now() return ds.monotime() end
local function listener(kind, opts)
  local open = kind == "tcp" and ds.listen or ds.udp_listen
  local l = assert(open("*", 0, opts))
  return l, select(2, l:getsockname())
end
local env = { ticks = 0 }
local function body(env)
BODY
end
local function guarded()
  local ok, err = pcall(body, env)
  if not ok then report("error", (tostring(err):gsub("\n", " | "))) end
  report("finished", true)
end
if "LOOP" == "cqueues" then
  local cqueues = require "cqueues"
  local cq = cqueues.new()
  local done = false
  env.sleep = cqueues.sleep
  function env.spawn(fn) cq:wrap(fn) end
  cq:wrap(function() while not done do cqueues.sleep(0.01); env.ticks = env.ticks + 1 end end)
  cq:wrap(function() guarded(); done = true end)
  assert(cq:loop(LIMIT))
else
  local uv = require "luv"
  env.sleep, env.spawn = wait.luv.sleep, ds.luv.spawn
  local tick = uv.new_timer()
  tick:start(10, 10, function() env.ticks = env.ticks + 1 end)
  local go = uv.new_timer()
  go:start(0, 0, function()
    go:close()
    ds.luv.spawn(function() guarded(); tick:close() end)
  end)
  ds.luv.run()
end
]]

-- Runs body (with each key of subs replaced by its text) in a child under
-- loop, in namespaces flags with setup; returns the reports and output.
-- nil and why when loop is not installed.
function H.in_loop(loop, body, subs, flags, setup)
  local lib, why = H.loop_lib(loop)
  if not lib then return nil, why end
  for key, text in pairs(subs or {}) do
    body = body:gsub(key, function() return text end)
  end
  local script = LOOP_CHILD:gsub('"LOOP"', '"' .. loop .. '"'):gsub("LIMIT", tostring(H.LOOP_LIMIT))
    :gsub("BODY", function() return body end)
  local r, out = require("namespace").run(flags or "", setup or "", script)
  assert(r.finished, "child did not finish:\n" .. out)
  assert(not r.error, "child raised: " .. tostring(r.error) .. "\n" .. out)
  return r, out
end

-- The number a child reported as key, asserted there.
function H.loop_number(r, key, out)
  local v = tonumber(r[key])
  assert(v, "no " .. key .. " reported:\n" .. out)
  return v
end

-- Asserts the reported elapsed time is in [from, to).
function H.loop_waited(r, out, from, to)
  local elapsed = H.loop_number(r, "elapsed", out)
  require("luassert").is_true(elapsed >= from and elapsed < to, "waited " .. elapsed .. " s:\n" .. out)
end

-- Asserts the ticker ticked at least least times.
function H.loop_ticked(r, out, least)
  local ticks = H.loop_number(r, "ticks", out)
  require("luassert").is_true(ticks >= least, "the ticker ticked " .. ticks .. " times:\n" .. out)
end

return H
