-- bench/gso.lua: bulk UDP over loopback with and without segmentation
-- offload (issue 5, "beyond the C baseline"). The sender writes TOTAL
-- bytes as 1,400-byte datagrams, either one sendmsg each or 46 at a time
-- as one GSO buffer (msg.segment); the receiver reads them one datagram per
-- recvmsg, or coalesced by GRO (setoption("gro", true), msg.segment).
-- Run from the repository root: lua5.4 bench/gso.lua [MiB]
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"

local SEG, PER_GSO = 1400, 46 -- 46 * 1400 = 64,400 bytes: under 65,507
local REPS = 3

-- Receiver (a child): counts bytes until the sender's "end" datagram or
-- 2 s of silence, then prints bytes, datagrams read and seconds.
local function receive(gro)
  local s = assert(ds.udp { family = "inet" })
  assert(s:setoption("rcvbuf", 4 << 20))
  if gro then assert(s:setoption("gro", true)) end
  assert(s:bind("127.0.0.1", 0))
  io.write(select(2, s:getsockname()), "\n")
  io.flush()
  s:settimeout(2)
  local msg, bytes, reads, first, last = {}, 0, 0, nil, nil
  while true do
    local m = s:recvmsg(65535, msg)
    if not m or m.data == "end" then break end
    first = first or ds.monotime()
    last = ds.monotime()
    bytes, reads = bytes + #m.data, reads + 1
  end
  io.write(string.format("%d %d %.6f\n", bytes, reads, first and (last - first) or 0))
end

local function send(port, total, gso)
  local s = assert(ds.udp { family = "inet" })
  local one = string.rep("x", SEG)
  local msg = { data = one, addr = "127.0.0.1", port = port }
  if gso then
    msg.data, msg.segment = string.rep("x", SEG * PER_GSO), SEG
  end
  local sent, calls, t0 = 0, 0, ds.monotime()
  while sent < total do
    assert(s:sendmsg(msg))
    sent, calls = sent + #msg.data, calls + 1
  end
  local secs = ds.monotime() - t0
  for _ = 1, 5 do s:sendto("end", "127.0.0.1", port) end
  return sent, calls, secs
end

local function run_once(total, gso, gro)
  local cmd = string.format("taskset -c 1 lua5.4 bench/gso.lua --receive %s", gro and "gro" or "plain")
  local child = assert(io.popen(cmd, "r"))
  local port = assert(math.tointeger(tonumber(child:read("l"))), "receiver gave no port")
  local sent, calls, secs = send(port, total, gso)
  local bytes, reads, rsecs = child:read("n", "n", "n")
  child:close()
  return { sent = sent, calls = calls, secs = secs, bytes = bytes, reads = reads, rsecs = rsecs }
end

local function median(list, key)
  local v = {}
  for i, r in ipairs(list) do v[i] = r[key] end
  table.sort(v)
  return v[(#v + 1) // 2]
end

local function main()
  local total = (tonumber(arg[1]) or 256) * (1 << 20)
  local variants = {
    { name = "1,400-byte sendmsg, recvmsg each", gso = false, gro = false },
    { name = "GSO sendmsg (segment 1400), recvmsg each", gso = true, gro = false },
    { name = "GSO sendmsg (segment 1400), GRO recvmsg", gso = true, gro = true },
  }
  local runs = {}
  for r = 1, REPS do -- interleaved repetitions
    for i, v in ipairs(variants) do
      runs[i] = runs[i] or {}
      runs[i][r] = run_once(total, v.gso, v.gro)
    end
  end
  print(string.format("Bulk UDP over 127.0.0.1, %d MiB per run, median of %d interleaved runs (%s)",
    total >> 20, REPS, os.date("!%Y-%m-%d %H:%M UTC")))
  print("")
  print("| Variant | Sender GB/s | Sends per MiB | Delivered | Receiver GB/s | Reads per MiB |")
  print("|---|---:|---:|---:|---:|---:|")
  for i, v in ipairs(variants) do
    local rs = runs[i]
    local sent, secs, calls = median(rs, "sent"), median(rs, "secs"), median(rs, "calls")
    local bytes, rsecs, reads = median(rs, "bytes"), median(rs, "rsecs"), median(rs, "reads")
    print(string.format("| %s | %.2f | %.0f | %.0f%% | %.2f | %.0f |", v.name,
      sent / secs / 1e9, calls / (sent / (1 << 20)), 100 * bytes / sent,
      rsecs > 0 and bytes / rsecs / 1e9 or 0, bytes > 0 and reads / (bytes / (1 << 20)) or 0))
  end
end

if arg[1] == "--receive" then receive(arg[2] == "gro") else main() end
