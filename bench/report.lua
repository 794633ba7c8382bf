-- bench/report.lua RESULTS: turns bench/run.lua's results.txt into the
-- Markdown section for the README (stdout): the machine, one table of
-- measurements, one of instructions per round trip (with the Lua floor),
-- the reply-address and memory lines, and one of issue 12's targets, each
-- with its measured value, ratio and whether it is met.
local path = arg[1] or "bench/out/results.txt"

-- ---- reading ----

-- Fields that stay text even when they read as numbers (a short commit
-- hash such as 2111e17 is a valid Lua numeral).
local TEXT = {commit = true, date = true, cpu = true, kernel = true, os = true, lua = true, luasocket = true,
  cc = true, load = true, calls = true, error = true}

local function parse(line)
  local t = {}
  for pair in line:gmatch("[^\t]+") do
    local k, v = pair:match("^([^=]+)=(.*)$")
    t[k] = not TEXT[k] and tonumber(v) or v
  end
  return t
end

local machine, finish, checks, memory = {}, {}, {}, {}
local runs, cg, sc = {}, {}, {}

-- runs[workload][contender][rep] = record; cg/sc[workload][contender][n] = record
local function put(tbl, a, b, c, v)
  tbl[a] = tbl[a] or {}
  tbl[a][b] = tbl[a][b] or {}
  tbl[a][b][c] = v
end

for line in io.lines(path) do
  local r = parse(line)
  if r.kind == "machine" then machine = r
  elseif r.kind == "end" then finish = r
  elseif r.kind == "check" then checks[r.contender] = r
  elseif r.kind == "memory" then memory[r.contender] = r
  elseif r.kind == "run" then put(runs, r.workload, r.contender, r.rep, r)
  elseif r.kind == "callgrind" then put(cg, r.workload, r.contender, r.n, r)
  elseif r.kind == "syscalls" then
    put(sc, r.workload, r.contender, r.n, r)
    machine.syscall_tool = r.tool
  end
end

-- ---- arithmetic ----

local function median(list)
  if #list == 0 then return nil end
  local s = {table.unpack(list)}
  table.sort(s)
  local m = (#s + 1) // 2
  return #s % 2 == 1 and s[m] or (s[m] + s[m + 1]) / 2
end

local TCP = {tcpin = true, tcpout = true}
local CHUNK = 65536

-- Operations in a run's unit: round trips, datagrams, or 64 KiB chunks.
local function ops(workload, n)
  return TCP[workload] and n / CHUNK or n
end

-- Per repetition: f(record) for the runs that succeeded.
local function per_rep(workload, who, f)
  local out = {}
  for rep, r in pairs(runs[workload] and runs[workload][who] or {}) do
    if r.ops and not r.error then out[rep] = f(r) end
  end
  return out
end

local function rate(r) return r.ops / r.wall end

-- Operations per second of the contender's own CPU time: steadier than the
-- wall-clock rate where the machine's other load moves the latter.
local function cpu_rate(r) return r.ops / r.cpu end

local function values(t)
  local l = {}
  for _, v in pairs(t) do l[#l + 1] = v end
  return l
end

-- Median over repetitions of rate(a) / rate(b), pairing the same repetition;
-- by is the rate (default: wall clock).
local function ratio(wa, a, wb, b, by)
  by = by or rate
  local ra, rb, l = per_rep(wa, a, by), per_rep(wb, b, by), {}
  for rep, x in pairs(ra) do
    if rb[rep] then l[#l + 1] = x / rb[rep] end
  end
  return median(l)
end

-- Cost per operation from two runs of different length.
local function slope(tbl, workload, who, get)
  local byn = tbl[workload] and tbl[workload][who]
  if not byn then return nil end
  local ns = {}
  for n, r in pairs(byn) do
    if r.error == "" then ns[#ns + 1] = n end
  end
  if #ns < 2 then return nil end
  table.sort(ns)
  local a, b = byn[ns[1]], byn[ns[#ns]]
  return get(a, b, ops(workload, ns[#ns]) - ops(workload, ns[1]))
end

local function instructions(workload, who)
  return slope(cg, workload, who, function(a, b, d)
    if type(a.ir) ~= "number" or type(b.ir) ~= "number" then return nil end
    return (b.ir - a.ir) / d
  end)
end

local function counts(s)
  local t = {}
  for name, n in tostring(s):gmatch("([%w_]+):(%d+)") do t[name] = tonumber(n) end
  return t
end

-- Syscalls per operation: total and a {name, per-op} list, largest first.
local function syscalls(workload, who)
  return slope(sc, workload, who, function(a, b, d)
    local ca, cb, total, list = counts(a.calls), counts(b.calls), 0, {}
    for name, n in pairs(cb) do
      local per = (n - (ca[name] or 0)) / d
      if per >= 0.005 then
        total = total + per
        list[#list + 1] = {name, per}
      end
    end
    table.sort(list, function(x, y) return x[2] > y[2] or x[2] == y[2] and x[1] < y[1] end)
    return {total = total, list = list}
  end)
end

-- ---- formatting ----

local function commas(n)
  local s = string.format("%.0f", n)
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

local function num(x, digits)
  return (string.format("%." .. (digits or 2) .. "f", x):gsub("%.?0+$", ""))
end

local function fmt_rate(workload, r)
  if not r then return "failed" end
  if TCP[workload] then return string.format("%.2f GB/s", r / 1e9) end
  return commas(r) .. (workload:match("^pp") and " rt/s" or " dgram/s")
end

-- The user/system split in /proc/PID/stat is tick-sampled and adjusted to
-- stay monotonic, meaningless over a second; only the total is shown.
local function fmt_cpu(workload, who)
  local cpu = median(values(per_rep(workload, who, function(r) return r.cpu / ops(workload, r.ops) end)))
  if not cpu then return "–" end
  return cpu >= 1e-6 and string.format("%.2f µs", cpu * 1e6) or string.format("%.0f ns", cpu * 1e9)
end

local function fmt_spread(workload, who)
  local l = values(per_rep(workload, who, rate))
  local m = median(l)
  if not m then return "–" end
  table.sort(l)
  return string.format("±%d%%", math.floor((l[#l] - l[1]) / 2 / m * 100 + 0.5))
end

local function fmt_syscalls(workload, who)
  local s = syscalls(workload, who)
  if not s then return "–" end
  local parts = {}
  for _, e in ipairs(s.list) do parts[#parts + 1] = e[1] .. " " .. num(e[2], 2) end
  return num(s.total, 2) .. " (" .. table.concat(parts, ", ") .. ")"
end

-- ---- the tables ----

local UNIT = {pp4 = "round trip", pp6 = "round trip", drain = "datagram", tcpin = "64 KiB", tcpout = "64 KiB"}

local TITLE = {
  pp4 = "UDP ping-pong, 64 B, IPv4 to 127.0.0.2 on a dual socket, reply from 127.0.0.2",
  pp6 = "UDP ping-pong, 64 B, IPv6 ::1",
  drain = "Drain a queued backlog, reading every datagram's data ²",
  tcpin = "TCP bulk in (contender reads), 64 KiB",
  tcpout = "TCP bulk out (contender writes), 64 KiB",
}

local PP_NAME = {c = "raw C recvmsg/sendmsg + pktinfo", ["dualstack-fast"] = "dualstack (fast) recvfrom/sendto",
  ["dualstack-table"] = "dualstack (table) recvmsg/reply", luasocket = "LuaSocket receivefrom/sendto",
  dropin = "LuaSocket's code on the drop-in (dualstack.luasocket)"}

local NAME = {
  pp4 = setmetatable({luasocket = "LuaSocket receivefrom/sendto ¹",
    dropin = "LuaSocket's code on the drop-in (dualstack.luasocket) ¹"}, {__index = PP_NAME}),
  pp6 = PP_NAME,
  drain = {c = "raw C recvmsg + pktinfo", ["c-mmsg"] = "raw C recvmmsg + pktinfo, 64 per call",
    ["dualstack-fast"] = "dualstack (fast) recvfrom + pktinfo",
    ["dualstack-table"] = "dualstack (table) recvmsg + pktinfo",
    ["dualstack-mmsg"] = "dualstack (table) recvmmsg + pktinfo, 64 per call",
    luasocket = "LuaSocket receivefrom (no pktinfo)", dropin = "LuaSocket's code on the drop-in"},
  tcpin = {c = "raw C read",
    ["c-copy"] = "raw C read + one copy per read (the copy any binding returning strings makes: its best case)",
    dualstack = "dualstack receive(65536)",
    ["dualstack-recv"] = "dualstack recv(65536)", luasocket = "LuaSocket receive(65536)",
    dropin = "LuaSocket's code on the drop-in"},
  tcpout = {c = "raw C write", dualstack = "dualstack send", luasocket = "LuaSocket send",
    dropin = "LuaSocket's code on the drop-in"},
}

local ORDER = {"pp4", "pp6", "drain", "tcpin", "tcpout"}
local PP = {"c", "dualstack-fast", "dualstack-table", "luasocket", "dropin"}
local WHO = {"c", "c-mmsg", "c-copy", "dualstack-fast", "dualstack-table", "dualstack-mmsg", "dualstack",
  "dualstack-recv", "luasocket", "dropin"}

-- The echo paths, as the check and memory lines name them.
local ECHOERS = {"c", "dualstack-fast", "dualstack-table", "dualstack-batch", "luasocket"}
local LABEL = {c = "raw C", ["dualstack-fast"] = "dualstack (fast)", ["dualstack-table"] = "dualstack (table)",
  ["dualstack-batch"] = "dualstack (batch: recvmmsg/replymmsg)", luasocket = "LuaSocket"}

local out = {}
local function say(fmt, ...) out[#out + 1] = string.format(fmt, ...) end

-- Other processes' CPU use during the timed parts (the peer's bg: busy
-- ticks of all CPUs minus ours, per second; tick resolution, so only a
-- large value means something).
local function background()
  local l = {}
  for _, byc in pairs(runs) do
    for _, byrep in pairs(byc) do
      for _, r in pairs(byrep) do
        if type(r.bg) == "number" then l[#l + 1] = math.max(0, r.bg) end
      end
    end
  end
  if #l == 0 then return "" end
  table.sort(l)
  return string.format("Other processes used a median of %.2f and at most %.2f CPUs during the timed parts.",
    median(l), l[#l])
end

local function header()
  say("Measured by `make bench` on %s: %s vCPUs (%s), %s, %s; %s, LuaSocket %s; dualstack %s.",
    machine.date or "?", machine.nproc or "?", machine.cpu or "?", machine.kernel or "?",
    machine.os or "?", machine.lua or "Lua 5.4", machine.luasocket or "?", machine.commit or "?")
  say("Peer on CPU 0, contender on CPU 1. Each figure is the median of %s interleaved repetitions;"
    .. " × C is the median of the per-repetition ratios to raw C; spread is half the range over the median."
    .. " CPU is the contender's own time per operation. Instructions: callgrind, user space only;"
    .. " syscalls: %s; both from the difference of two run lengths, so startup is excluded."
    .. " Load average at start %s, at end %s; the whole run took %s s. %s",
    machine.reps or "?", machine.syscall_tool or "?", machine.load or "?", finish.load or "?",
    finish.seconds or "?", background())
  say("")
end

local function measurements()
  if not next(runs) then return end
  say("| Workload | Contender | Throughput | × C | Spread | CPU per op | Syscalls per op |")
  say("|---|---|---:|---:|---:|---:|---|")
  for _, w in ipairs(ORDER) do
    local first = true
    for _, who in ipairs(WHO) do
      if runs[w] and runs[w][who] then
        local m = median(values(per_rep(w, who, rate)))
        local x = who == "c" and 1 or ratio(w, who, w, "c")
        say("| %s | %s | %s | %s | %s | %s | %s |",
          first and TITLE[w] .. " (per " .. UNIT[w] .. ")" or "", NAME[w][who] or who, fmt_rate(w, m),
          x and string.format("%.2f", x) or "–", fmt_spread(w, who), fmt_cpu(w, who), fmt_syscalls(w, who))
        first = false
      end
    end
  end
  say("")
  if runs.pp4 and runs.pp4.luasocket then
    say("¹ LuaSocket has no pktinfo: asked at 127.0.0.2 it answers from 127.0.0.1 (the reply check below), so its IPv4 ping-pong is sent to 127.0.0.1; so is the drop-in's, running the same code.")
  end
  if runs.drain then
    say("² Every contender reads each datagram's data, as a server does, and the peer checks what it read:"
      .. " the Lua contenders add up `#data`, raw C sums each payload's 8-byte words. × C is to raw C's single"
      .. " recvmsg; the targets below also give the ratio to raw C's recvmmsg, measured in the same repetitions.")
  end
  say("")
end

-- The Lua floor's variants (bench/floor.c), measured as workload "floor".
local FLOOR = {
  {"noop", "Lua 5.4 floor, table loop: two no-op C methods and one field read"},
  {"string", "floor, table loop + a 64-byte string per datagram"},
  {"bare", "floor, table loop + string, without the socket argument check"},
  {"fast", "floor, fast loop: two C calls, five values each way, a 64-byte string"},
}

-- One row of the instructions table: count(w) for pp4 and pp6, each with
-- its ratio to raw C of the same workload.
local function instruction_row(name, count)
  local cells = {}
  for _, w in ipairs {"pp4", "pp6"} do
    local i, c = count(w), instructions(w, "c")
    cells[#cells + 1] = i and commas(i) or "–"
    cells[#cells + 1] = i and c and num(i / c, 1) .. "×" or "–"
  end
  say("| %s | %s |", name, table.concat(cells, " | "))
end

local function instruction_table()
  if not next(cg) then return end
  say("| User-space instructions per round trip | IPv4 (pp4) | × C | IPv6 (pp6) | × C |")
  say("|---|---:|---:|---:|---:|")
  for _, who in ipairs(PP) do
    if (cg.pp4 and cg.pp4[who]) or (cg.pp6 and cg.pp6[who]) then
      instruction_row(PP_NAME[who], function(w) return instructions(w, who) end)
    end
  end
  for _, f in ipairs(FLOOR) do
    if cg.floor and cg.floor[f[1]] then
      instruction_row(f[2], function() return instructions("floor", f[1]) end)
    end
  end
  say("")
  if cg.floor then
    say("The floor rows run the dualstack contender's echo loops, the same Lua bytecode, on a fake socket"
      .. " whose C methods only check their socket argument (`bench/floor.c`), without the network:"
      .. " what the interpreter spends per round trip, which no Lua binding that type-checks its"
      .. " arguments can go below. The table loop's rows are for the table path (the \"bare\" row leaves"
      .. " the check out, as no safe binding can); the fast loop's row is for the fast path, its address"
      .. " texts made once. The same count is set against raw C of each workload.")
    say("")
  end
end

-- "raw C text; dualstack (fast) text; ..." with text = f(record) for each
-- echo path that has a record in tbl (and f gives text for).
local function per_contender(tbl, f)
  local parts = {}
  for _, who in ipairs(ECHOERS) do
    local text = tbl[who] and f(tbl[who])
    if text then parts[#parts + 1] = LABEL[who] .. " " .. text end
  end
  return table.concat(parts, "; ")
end

local function check_line()
  local any = checks.c
  if not any then return end
  say("Reply from the address asked (%s queries to 127.0.0.2 on a dual socket bound to ::): %s.",
    any.n or "?", per_contender(checks, function(c)
      return c.ok == "yes" and "yes" or "no (" .. c.error .. ")"
    end))
  say("")
end

local function rss_growth(r)
  return r and type(r.rss0) == "number" and type(r.rss1) == "number" and r.rss1 - r.rss0
end

local function memory_line()
  local m = memory.c or memory["dualstack-fast"] or memory["dualstack-table"]
  if not m then return end
  say("Resident size after %s and %s echoed datagrams (%s in flight): %s.", commas(m.at or 0), commas(m.n or 0),
    machine.mem_window or "64", per_contender(memory, function(r)
      return rss_growth(r) and string.format("%s → %s KiB", commas(r.rss0), commas(r.rss1))
    end))
  say("")
end

-- ---- issue 12's targets ----

local function verdict(ok) return ok == nil and "not measured" or ok and "met" or "**missed**" end
local function times(x) return x and string.format("%.2f×", x) or "–" end

local PATH = {["dualstack-fast"] = "fast path", ["dualstack-table"] = "table path",
  ["dualstack-batch"] = "batch path (recvmmsg/replymmsg)"}
local FAMILY = {pp4 = "IPv4", pp6 = "IPv6"}

local function targets()
  local rows = {}
  local function row(name, value, x, ok) rows[#rows + 1] = {name, value, x or "–", verdict(ok)} end

  -- Instructions per round trip, set against raw C and the floor of the path's loop.
  local function instr(who, limit, aim, floor_variant)
    for _, w in ipairs {"pp4", "pp6"} do
      local d, c, f = instructions(w, who), instructions(w, "c"), instructions("floor", floor_variant)
      local x = {}
      if d and c then x[#x + 1] = num(d / c, 1) .. "× raw C (" .. commas(c) .. ")" end
      if d and f then x[#x + 1] = num(d / f, 2) .. "× its loop's floor (" .. commas(f) .. ")" end
      local ok = d and d <= limit
      local name = string.format("Instructions per round trip, %s, %s ≤ %s", PATH[who], FAMILY[w], commas(limit))
      if aim then name = name .. string.format(" (aim %s)", commas(aim)) end
      row(name, d and commas(d) or "–", #x > 0 and table.concat(x, "; ") or nil, ok)
      if aim and ok then rows[#rows][4] = rows[#rows][4] .. (d <= aim and ", aim met" or ", aim missed") end
    end
  end
  instr("dualstack-fast", 2400, 2000, "fast")
  instr("dualstack-table", 4000, nil, "string")

  for _, who in ipairs {"dualstack-fast", "dualstack-table"} do
    local parts, ok = {}, true
    for _, w in ipairs {"pp4", "pp6"} do
      local s = syscalls(w, who)
      parts[#parts + 1] = FAMILY[w] .. " " .. (s and num(s.total, 2) or "–")
      if not s then ok = nil elseif ok and math.abs(s.total - 2) >= 0.01 then ok = false end
    end
    row("2 syscalls per round trip, " .. PATH[who], table.concat(parts, ", "), nil, ok)
  end

  for _, who in ipairs {"dualstack-fast", "dualstack-table"} do
    for _, w in ipairs {"pp4", "pp6"} do
      local x = ratio(w, who, w, "c")
      local m, c = median(values(per_rep(w, who, rate))), median(values(per_rep(w, "c", rate)))
      row(string.format("Ping-pong ≥ 0.95× raw C, %s, %s", PATH[who], FAMILY[w]),
        m and c and string.format("%s (raw C %s)", fmt_rate(w, m), fmt_rate(w, c)) or "–", times(x), x and x >= 0.95)
    end
  end

  local DRAIN = {["dualstack-fast"] = "fast path (recvfrom)", ["dualstack-mmsg"] = "table path (recvmmsg, 64 per call)"}
  for _, who in ipairs {"dualstack-fast", "dualstack-mmsg"} do
    local x, xm = ratio("drain", who, "drain", "c"), ratio("drain", who, "drain", "c-mmsg")
    local m = median(values(per_rep("drain", who, rate)))
    row(string.format("Drain, reading the data, ≥ 1.0× raw C recvmsg + pktinfo, %s", DRAIN[who]),
      m and fmt_rate("drain", m) or "–",
      x and string.format("%s raw C recvmsg; %s raw C recvmmsg", times(x), times(xm)) or "–", x and x >= 1.0)
  end

  -- TCP in: wall clock (the target), then by CPU time, each beside c-copy.
  local function tcp_in(name, who)
    local function x(a, by) return ratio("tcpin", a, "tcpin", "c", by) end
    local wall = x(who)
    local m = median(values(per_rep("tcpin", who, rate)))
    row(name, m and fmt_rate("tcpin", m) or "–", wall and string.format("%s (raw C + one copy: %s); by CPU time %s (one copy: %s)",
      times(wall), times(x("c-copy")), times(x(who, cpu_rate)), times(x("c-copy", cpu_rate))), wall and wall >= 0.9)
  end
  tcp_in("TCP in ≥ 0.9× raw C, receive(65536)", "dualstack")
  tcp_in("TCP in ≥ 0.9× raw C, recv(65536)", "dualstack-recv")
  local out_x = ratio("tcpout", "dualstack", "tcpout", "c")
  local out_m = median(values(per_rep("tcpout", "dualstack", rate)))
  row("TCP out ≥ 0.9× raw C", out_m and fmt_rate("tcpout", out_m) or "–", times(out_x), out_x and out_x >= 0.9)

  for _, who in ipairs {"dualstack-fast", "dualstack-table", "dualstack-batch"} do
    local m = memory[who]
    local grow = rss_growth(m)
    row(string.format("RSS flat: after %s datagrams within 1 MiB of after %s, %s", commas(m and m.n or 1000000),
      commas(m and m.at or 10000), PATH[who]),
      grow and string.format("%s → %s KiB (%+d)", commas(m.rss0), commas(m.rss1), grow) or "–",
      grow and string.format("%.3f×", m.rss1 / m.rss0), grow and grow <= 1024)
  end

  say("| Target (issue 12) | Measured | Ratio | Met |")
  say("|---|---:|---|---|")
  for _, r in ipairs(rows) do say("| %s | %s | %s | %s |", r[1], r[2], r[3], r[4]) end
end

header()
measurements()
instruction_table()
check_line()
memory_line()
targets()
print(table.concat(out, "\n"))
