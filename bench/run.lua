-- bench/run.lua: runs every workload (issues 5 and 12) against every
-- contender through the fixed peer (bench/peer.c), then writes the report.
-- Run from the repository root after the C programs are built (make bench).
--
-- Method
-- * The peer runs on CPU 0, the contender on CPU 1 (taskset).
-- * Repetitions are interleaved: for each workload, repetition r runs every
--   contender once before repetition r+1 starts, so slow drift of the
--   machine hits all contenders alike. Ratios are taken per repetition
--   against raw C of the same repetition; the report gives medians.
-- * Instructions (callgrind) and syscalls (perf stat, else strace) come
--   from separate short runs, each done at two lengths: the difference
--   divided by the difference in operations is the cost per operation
--   without the startup and exit of the interpreter.
-- * dualstack runs each UDP workload on both of its paths: the fast path
--   (recvfrom/sendto, no table) and the table path (recvmsg/reply,
--   recvmmsg), as rows of their own; every drain reads each datagram's
--   data and the peer checks what it read.
-- * Two references do in C only what no Lua binding can avoid, for the
--   TCP in and instruction targets: c-copy (raw C reading TCP with one
--   copy per read, as returning a Lua string needs) in tcpin, and the Lua
--   floor (bench/floor.c: the echo loop on C methods that do nothing, no
--   network; a variant for each path) in the callgrind phase.
--
-- Environment:
-- * BENCH_QUICK=1 divides the counts for a smoke test.
-- * BENCH_REPS=N changes the number of repetitions (5).
-- * BENCH_ONLY=a,b,... runs a part: workload keys (pp4 pp6 drain tcpin
--   tcpout; sink and mmsg mean drain) pick workloads, phase names (check
--   memory callgrind syscalls)
--   pick the other phases; e.g. BENCH_ONLY=pp4,callgrind while working on
--   the UDP hot path. The report then shows what was measured.
--
-- Counts, chosen so that `make bench` stays well under 10 minutes on 2
-- vCPUs (about 2.5 minutes idle, 4 under load):
local cfg = {
  reps = 5,
  pp_n = 50000, pp_warm = 2000,        -- ping-pong round trips (~1.3 s for C)
  drain_n = 200000,                    -- datagrams queued, then drained
  tcp_bytes = 1 << 30,                 -- 1 GiB each way, 64 KiB writes/reads
  mem_n = 1000000, mem_at = 10000,     -- RSS after 10,000 and 1,000,000
  mem_window = 64,                     -- datagrams in flight for the RSS run
  check_n = 100,                       -- round trips of the reply-address check
  cg = {2000, 12000},                  -- callgrind ping-pong lengths
  sc_pp = {2000, 12000},               -- syscall-count ping-pong lengths
  sc_drain = {20000, 120000},          -- syscall-count drain lengths
  sc_tcp = {16 << 20, 80 << 20},       -- syscall-count TCP lengths
}
if os.getenv("BENCH_QUICK") == "1" then
  cfg.reps, cfg.pp_n, cfg.drain_n, cfg.tcp_bytes, cfg.mem_n = 2, 2000, 20000, 64 << 20, 20000
  cfg.cg, cfg.sc_pp, cfg.sc_drain, cfg.sc_tcp = {200, 1200}, {200, 1200}, {2000, 12000}, {1 << 20, 5 << 20}
end
cfg.reps = math.tointeger(tonumber(os.getenv("BENCH_REPS") or "")) or cfg.reps

local OUT = "bench/out"
local PEER = "taskset -c 0 " .. OUT .. "/peer"
local PIN = "taskset -c 1 "

-- Contenders by name, each a command line (the peer appends MODE N). Some
-- share a program and differ in the mode their workload gives them
-- (MODE_FOR below): c-mmsg and dualstack-mmsg drain with recvmmsg.
-- c-copy is a reference, not a contender: raw C plus the one copy per read
-- that any binding returning Lua strings must make (see c_contender.c).
-- dualstack: -fast is the fast path (recvfrom/sendto), -table the table
-- path (recvmsg/reply), -batch echoes with recvmmsg/replymmsg (check and
-- memory only); plain dualstack and -recv are its TCP readers.
local DS = "lua5.4 bench/dualstack_contender.lua"
local contenders = {
  c = OUT .. "/c_contender",
  ["c-mmsg"] = OUT .. "/c_contender",
  ["c-copy"] = OUT .. "/c_contender copy",
  ["dualstack-fast"] = DS .. " fast",
  ["dualstack-table"] = DS,
  ["dualstack-mmsg"] = DS,
  ["dualstack-batch"] = DS .. " batch",
  dualstack = DS,
  ["dualstack-recv"] = DS .. " recv",
  luasocket = "lua5.4 bench/luasocket_contender.lua",
  -- The same LuaSocket code on the drop-in (dualstack.luasocket): the
  -- shim first on the path makes its require "socket" dualstack's.
  dropin = "env LUA_PATH='test/luasocket/?.lua;lua/?.lua;;' LUA_CPATH='build/?.so;;'"
    .. " lua5.4 bench/luasocket_contender.lua",
}

-- The UDP echo contenders: every path that answers a datagram.
local ECHOERS = {"c", "dualstack-fast", "dualstack-table", "dualstack-batch", "luasocket"}

-- LuaSocket cannot answer from the address it was asked on (no pktinfo),
-- so its IPv4 ping-pong goes to 127.0.0.1, where the routing table's
-- choice happens to be right; the reply check shows the difference.
local PP4_DEST = {luasocket = "127.0.0.1", dropin = "127.0.0.1"}
local PP = {"c", "dualstack-fast", "dualstack-table", "luasocket", "dropin"}
-- One drain workload: both raw C receives and all of dualstack's, side by
-- side in each repetition, so the drain ratios pair runs made together.
local MMSG = "-n %d mmsg"
local workloads = {
  {key = "pp4", dest = "127.0.0.2", dest_for = PP4_DEST, args = "-n %d -w %d pingpong", n = "pp_n",
   who = PP},
  {key = "pp6", dest = "::1", args = "-n %d -w %d pingpong", n = "pp_n", who = PP},
  {key = "drain", dest = "127.0.0.2", args = "-n %d sink", n = "drain_n",
   args_for = {["c-mmsg"] = MMSG, ["dualstack-mmsg"] = MMSG},
   who = {"c", "c-mmsg", "dualstack-fast", "dualstack-table", "dualstack-mmsg", "luasocket", "dropin"}},
  {key = "tcpin", dest = "127.0.0.1", args = "-n %d tcp-in", n = "tcp_bytes",
   who = {"c", "c-copy", "dualstack", "dualstack-recv", "luasocket", "dropin"}},
  {key = "tcpout", dest = "127.0.0.1", args = "-n %d tcp-out", n = "tcp_bytes",
   who = {"c", "dualstack", "luasocket", "dropin"}},
}

-- "-d ADDR " for workload w as contender who sees it.
local function dest(w, who)
  return "-d " .. (w.dest_for and w.dest_for[who] or w.dest) .. " "
end

-- The peer's arguments for workload w, contender who, n operations.
local function args(w, who, n, warm)
  return dest(w, who) .. string.format(w.args_for and w.args_for[who] or w.args, n, warm)
end

-- Workload keys of before issue 12, now one workload.
local ALIAS = {sink = "drain", mmsg = "drain"}
local only = {}
for name in (os.getenv("BENCH_ONLY") or ""):gmatch("[^,%s]+") do only[ALIAS[name] or name] = true end
local some_workload = false
for _, w in ipairs(workloads) do some_workload = some_workload or only[w.key] end

-- Does this run include the phase, and workload w (if given) in it?
local function wanted(phase, w)
  if next(only) and not only[phase] and not (phase == "runs" and some_workload) then return false end
  return not w or not some_workload or only[w.key] == true
end

local results = assert(io.open(OUT .. "/results.txt", "w"))
os.remove(OUT .. "/errors.txt")
local failures = 0

-- One result line: tab-separated key=value pairs (values may hold spaces).
local function record(fields)
  local parts = {}
  for _, k in ipairs(fields) do parts[#parts + 1] = k .. "=" .. tostring(fields[k]) end
  results:write(table.concat(parts, "\t"), "\n")
  results:flush()
end

local function fields(list)
  local t = {}
  for i = 1, #list, 2 do
    t[#t + 1] = list[i]
    t[list[i]] = list[i + 1]
  end
  return t
end

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

-- The last line of what a failed run wrote to stderr (the peer's verdict);
-- all of it is kept in errors.txt, since a contender's traceback comes first.
local function failure(cmd, path)
  local f = io.open(path)
  local text = f and f:read("a") or ""
  if f then f:close() end
  local log = assert(io.open(OUT .. "/errors.txt", "a"))
  log:write("$ ", cmd, "\n", text, "\n")
  log:close()
  return (text:match("([^\n]*)\n*$"))
end

-- Runs the peer once; returns its key=value output as a table, or nil and
-- the peer's last words.
local function peer(args, contender, wrapper)
  local err = OUT .. "/peer.err"
  local cmd = string.format("%s %s %s%s%s", PEER, args, PIN, wrapper or "", contender)
  local ok, out = sh(cmd .. " 2>" .. err)
  if not ok then return nil, failure(cmd, err) end
  local t = {}
  for k, v in out:gmatch("(%w+)=(%S+)") do t[k] = v end
  return t
end

local function progress(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
end

local function measure(w, who, rep)
  local t, err = peer("-t 30 " .. args(w, who, cfg[w.n], cfg.pp_warm), contenders[who])
  local line = fields {"kind", "run", "workload", w.key, "contender", who, "rep", rep}
  if t then
    for _, k in ipairs {"ops", "wall", "cpu", "bg"} do
      line[#line + 1] = k
      line[k] = t[k]
    end
    progress("%-6s rep %d %-15s %12.0f ops/s  (others used %.2f CPUs)", w.key, rep, who,
      t.ops / t.wall, t.bg)
  else
    failures = failures + 1
    line[#line + 1], line.error = "error", err
    progress("%-6s rep %d %-15s FAILED: %s", w.key, rep, who, err)
  end
  record(line)
end

local function interleaved()
  for _, w in ipairs(workloads) do
    if not wanted("runs", w) then goto next end
    for rep = 1, cfg.reps do
      for _, who in ipairs(w.who) do measure(w, who, rep) end
    end
    ::next::
  end
end

-- Does each contender answer a query to 127.0.0.2 from 127.0.0.2?
local function reply_check()
  for _, who in ipairs(ECHOERS) do
    local args = string.format("-d 127.0.0.2 -n %d -w 0 pingpong", cfg.check_n)
    local t, err = peer(args, contenders[who])
    if not t and who ~= "luasocket" then failures = failures + 1 end
    record(fields {"kind", "check", "contender", who, "n", cfg.check_n, "ok", t and "yes" or "no",
      "error", err or ""})
    progress("reply-address check %-15s %s", who, t and "ok" or err)
  end
end

-- RSS after mem_at and after mem_n datagrams echoed, on every path.
local function memory()
  for _, who in ipairs(ECHOERS) do
    local args = string.format("-d %s -n %d -w 0 -W %d -r %d pingpong", PP4_DEST[who] or "127.0.0.2",
      cfg.mem_n, cfg.mem_window, cfg.mem_at)
    local t, err = peer("-t 30 " .. args, contenders[who])
    if not t then failures = failures + 1 end
    record(fields {"kind", "memory", "contender", who, "n", cfg.mem_n, "at", cfg.mem_at,
      "rss0", t and t.rss0 or "", "rss1", t and t.rss1 or "", "error", err or ""})
    progress("memory %-15s %s", who, t and (t.rss0 .. " -> " .. t.rss1 .. " KiB") or err)
  end
end

-- callgrind's total of user-space instructions ("summary:" or "totals:").
local function callgrind_total(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("\nsummary: (%d+)") or text:match("\ntotals: (%d+)"))
end

-- Exclusive instructions per function from callgrind_annotate; lua5.4 is
-- stripped, so its internal functions are lumped together.
local function by_function(path)
  local t = {}
  local _, text = sh("callgrind_annotate --threshold=100 " .. path .. " 2>/dev/null")
  for n, where in text:gmatch("\n%s*([%d,]+) %(%s*[%d.]+%%%)%s+([^\n]+)") do
    local name = where:match("^%?%?%?:0x%x+ %[(.-)%]$")
    name = name and name .. " (unnamed)" or where:gsub("^%S-:", "", 1):gsub(" %[.-%]$", "")
    t[name] = (t[name] or 0) + tonumber((n:gsub(",", "")))
  end
  return t
end

-- Where a contender's instructions per round trip go: the difference of
-- the two callgrind runs per function, written for whoever works on the
-- hot path (bench/out/profile.*.txt).
local function profile(key, who)
  local base = string.format("%s/callgrind.%s.%s.", OUT, key, who)
  local short, long = by_function(base .. cfg.cg[1]), by_function(base .. cfg.cg[2])
  local rows = {}
  for name, n in pairs(long) do
    local per = (n - (short[name] or 0)) / (cfg.cg[2] - cfg.cg[1])
    if per >= 1 then rows[#rows + 1] = {name, per} end
  end
  table.sort(rows, function(a, b) return a[2] > b[2] end)
  local f = assert(io.open(string.format("%s/profile.%s.%s.txt", OUT, key, who), "w"))
  f:write(string.format("# %s, %s: user-space instructions per round trip by function\n", who, key))
  for _, r in ipairs(rows) do f:write(string.format("%8.1f  %s\n", r[2], r[1])) end
  f:close()
end

-- Runs a program that needs no peer; returns true, or nil and its last words.
local function alone(cmd)
  local err = OUT .. "/alone.err"
  if sh(cmd .. " 2>" .. err) then return true end
  return nil, failure(cmd, err)
end

-- One callgrind run of who at length n, recorded under workload key.
-- start(wrap) runs the program with wrap before its command; it returns
-- a true value, or nil and the error.
local function callgrind(key, who, n, start)
  local file = string.format("%s/callgrind.%s.%s.%d", OUT, key, who, n)
  local ok, err = start("valgrind --tool=callgrind --callgrind-out-file=" .. file .. " ")
  local ir = ok and callgrind_total(file)
  if not ir then failures = failures + 1 end
  record(fields {"kind", "callgrind", "workload", key, "contender", who, "n", n,
    "ir", ir or "", "error", err or ""})
  progress("callgrind %-5s %-15s n=%-5d %s", key, who, n, ir or err)
end

-- The Lua floor (bench/floor.c), the reference beside the instruction
-- targets: dualstack's echo loops on methods that do nothing, without the
-- network, at the contenders' two lengths. "string" adds the datagram to
-- the table path's loop, "bare" is "string" without the socket argument
-- checks, "fast" is the fast path's loop (five values each way).
local function floor_instructions()
  for _, variant in ipairs {"noop", "string", "bare", "fast"} do
    for _, n in ipairs(cfg.cg) do
      callgrind("floor", variant, n, function(wrap)
        return alone(string.format("%slua5.4 bench/floor_loop.lua %s %d", wrap, variant, n))
      end)
    end
  end
  profile("floor", "string")
  profile("floor", "fast")
end

local function instructions()
  for _, w in ipairs {workloads[1], workloads[2]} do
    for _, who in ipairs(wanted("callgrind", w) and w.who or {}) do
      for _, n in ipairs(cfg.cg) do
        callgrind(w.key, who, n, function(wrap)
          return peer(dest(w, who) .. string.format("-t 60 -n %d -w 0 pingpong", n), contenders[who], wrap)
        end)
      end
    end
  end
  if wanted("callgrind", workloads[1]) then
    for _, who in ipairs {"dualstack-fast", "dualstack-table", "luasocket"} do profile("pp4", who) end
  end
  if wanted("callgrind") then floor_instructions() end
end

-- Syscall counters: a prefix for the contender's command, and a reader of
-- what it wrote as "name:calls,name:calls". perf stat counts the kernel's
-- syscall tracepoints without stopping the contender. strace -c stops it
-- at every call, which changes what timing-dependent code does (LuaSocket's
-- recvfrom that fails with EAGAIN before poll happens only when the next
-- datagram is not there yet), so it is the fallback where perf cannot count.

-- strace -c's table (errors included in calls).
local function strace_counts(path)
  local list = {}
  for line in io.lines(path) do
    local calls, rest = line:match("^%s*[%d.]+%s+[%d.]+%s+%d+%s+(%d+)%s+(.*)$")
    if calls then
      local name = rest:match("(%S+)%s*$")
      if name ~= "total" then list[#list + 1] = name .. ":" .. calls end
    end
  end
  return table.concat(list, ",")
end

local STRACE = {name = "strace -c -f", counts = strace_counts,
  wrap = function(file) return "strace -f -c -o " .. file .. " " end}

-- The syscalls perf counts by name; the rest are counted as "other".
local NAMED = {"read", "write", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg",
  "poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "brk", "mmap", "munmap",
  "mremap", "fcntl", "ioctl", "getsockopt", "setsockopt", "futex"}

-- perf stat -x, lines: count,unit,event,...
local function perf_counts(path)
  local total, named, list = 0, 0, {}
  for line in io.lines(path) do
    local n, event = line:match("^(%d+),[^,]*,([^,]+),")
    if event == "raw_syscalls:sys_enter" then
      total = tonumber(n)
    elseif event then
      named = named + tonumber(n)
      list[#list + 1] = event:match("sys_enter_(.+)") .. ":" .. n
    end
  end
  list[#list + 1] = "other:" .. (total - named)
  return table.concat(list, ",")
end

-- perf with the tracepoints this kernel has, or nil when perf cannot count.
local function perf_counter()
  local _, names = sh("ls /sys/kernel/tracing/events/syscalls 2>/dev/null")
  local have, events = {}, {"raw_syscalls:sys_enter"}
  for name in names:gmatch("sys_enter_(%S+)") do have[name] = true end
  for _, name in ipairs(NAMED) do
    if have[name] then events[#events + 1] = "syscalls:sys_enter_" .. name end
  end
  local list = table.concat(events, ",")
  if #events == 1 or not sh("perf stat -e " .. list .. " true >/dev/null 2>&1") then return nil end
  return {name = "perf stat", counts = perf_counts,
    wrap = function(file) return "perf stat -x, -o " .. file .. " -e " .. list .. " " end}
end

-- Syscall-count lengths per workload (ping-pong runs without warm-up here).
local COUNT_LENS = {pp4 = "sc_pp", pp6 = "sc_pp", drain = "sc_drain", tcpin = "sc_tcp", tcpout = "sc_tcp"}

local function syscalls()
  local counter = perf_counter() or STRACE
  for _, w in ipairs(workloads) do
    for _, who in ipairs(wanted("syscalls", w) and w.who or {}) do
      for _, n in ipairs(cfg[COUNT_LENS[w.key]]) do
        local file = string.format("%s/syscalls.%s.%s.%d", OUT, w.key, who, n)
        local t, err = peer("-t 60 " .. args(w, who, n, 0), contenders[who], counter.wrap(file))
        local counts = t and counter.counts(file)
        if not counts then failures = failures + 1 end
        record(fields {"kind", "syscalls", "tool", counter.name, "workload", w.key, "contender", who,
          "n", n, "calls", counts or "", "error", err or ""})
        progress("syscalls (%s) %s %-15s n=%d %s", counter.name, w.key, who, n, counts or err)
      end
    end
  end
end

local function machine()
  local function cmd(c) return (select(2, sh(c)):gsub("%s+$", "")) end
  record(fields {"kind", "machine",
    "nproc", cmd("nproc"),
    "cpu", cmd("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1"),
    "kernel", cmd("uname -sr"),
    "os", cmd(". /etc/os-release && echo \"$PRETTY_NAME\""),
    "date", cmd("date -u +'%Y-%m-%d %H:%M UTC'"),
    "commit", cmd("git rev-parse --short HEAD 2>/dev/null; git diff --quiet HEAD -- src lua 2>/dev/null || echo '(modified)'"):gsub("\n", " "),
    "lua", cmd("lua5.4 -v"),
    "luasocket", cmd("dpkg-query -W -f='${Version}' lua-socket"),
    "cc", cmd("cc --version | head -1"),
    "load", cmd("cut -d' ' -f1-3 /proc/loadavg"),
    "reps", cfg.reps, "pp_n", cfg.pp_n, "drain_n", cfg.drain_n, "tcp_bytes", cfg.tcp_bytes,
    "mem_window", cfg.mem_window})
end

local started = os.time()
machine()
if wanted("check") then reply_check() end
interleaved()
if wanted("memory") then memory() end
instructions()
syscalls()
record(fields {"kind", "end", "load", (select(2, sh("cut -d' ' -f1-3 /proc/loadavg")):gsub("%s+$", "")),
  "seconds", os.time() - started})
results:close()
progress("measured in %d s; %d failed runs", os.time() - started, failures)
os.exit(os.execute("lua5.4 bench/report.lua " .. OUT .. "/results.txt > " .. OUT .. "/report.md")
  and failures == 0 and 0 or 1)
