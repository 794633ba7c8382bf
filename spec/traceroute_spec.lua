-- examples/traceroute.lua, run as its users run it: across N.CHAIN (A - R -
-- B) from A, where R answers the hop-1 probes with "time exceeded" and B
-- the hop-2 ones with "port unreachable"; and on loopback, where the first
-- probe reaches the host. One dual UDP socket with recverr serves both
-- families; each line is checked whole.
local N = require "spec.namespace"
local H = require "spec.helpers"

local ROOT = N.read_command("pwd"):gsub("%s+$", "")

-- Runs the example in A once per case; reports each output (newlines as
-- "\n") and exit status as CASE and CASE_status.
local CHILD = ([[
local function run(key, args)
  local p = io.popen(%q .. args .. " 2>&1")
  local out = p:read("a")
  local _, _, status = p:close()
  report(key, (out:gsub("\n", "\\n")))
  report(key .. "_status", status)
end
run("v4", "-m 4 198.51.100.2")
run("v6", "-m 4 2001:db8:2::2")
run("v4_verbose", "-v -m 4 198.51.100.2")
run("v6_verbose", "-m 4 -v 2001:db8:2::2")
-- Nothing has 198.51.100.77: R asks for it (ARP) for longer than a hop waits.
run("silent", "-v -m 2 198.51.100.77")
os.execute("kill $R $B")
]]):format("cd " .. N.shell_quote(ROOT) .. " && lua5.4 examples/traceroute.lua ")

local function lines(...)
  return "^" .. table.concat({ ... }, "\n") .. "\n$"
end
local MS = "[%d.]+ ms"

describe("examples/traceroute.lua", function()
  local r, out

  local function skip()
    if H.WINDOWS then return "network namespaces are Linux's, and Windows has no error queue" end
    local why = H.needs_errqueue("the example's recverr") or H.needs_cmsg("the error queue's messages")
    if why then return why end
    local usable, reason = N.available("-n")
    if not usable then return reason end
    if not r then
      r, out = N.run("-n", N.CHAIN, CHILD)
      for k, v in pairs(r) do r[k] = v:gsub("\\n", "\n") end
    end
  end

  it("finds R and then B over IPv4, with the addresses unmapped", function()
    local why = skip(); if why then return pending(why) end
    assert.equal("0", r.v4_status, out)
    assert.matches(lines(
      "traceroute to 198%.51%.100%.2 %(198%.51%.100%.2%), 4 hops max",
      " 1  192%.0%.2%.2  " .. MS,
      " 2  198%.51%.100%.2  " .. MS .. "  reached"), r.v4, nil, out)
  end)

  it("finds R and then B over IPv6 through the same kind of socket", function()
    local why = skip(); if why then return pending(why) end
    assert.equal("0", r.v6_status, out)
    assert.matches(lines(
      "traceroute to 2001:db8:2::2 %(2001:db8:2::2%), 4 hops max",
      " 1  2001:db8:1::2  " .. MS,
      " 2  2001:db8:2::2  " .. MS .. "  reached"), r.v6, nil, out)
  end)

  it("-v shows each answer's code, origin and ICMP type/code", function()
    local why = skip(); if why then return pending(why) end
    assert.equal("0", r.v4_verbose_status, out)
    assert.matches(lines(
      "traceroute to 198%.51%.100%.2 %(198%.51%.100%.2%), 4 hops max",
      " 1  192%.0%.2%.2  " .. MS .. "  EHOSTUNREACH icmp 11/0",
      " 2  198%.51%.100%.2  " .. MS .. "  ECONNREFUSED icmp 3/3  reached"), r.v4_verbose, nil, out)
    assert.equal("0", r.v6_verbose_status, out)
    assert.matches(lines(
      "traceroute to 2001:db8:2::2 %(2001:db8:2::2%), 4 hops max",
      " 1  2001:db8:1::2  " .. MS .. "  EHOSTUNREACH icmp6 3/0",
      " 2  2001:db8:2::2  " .. MS .. "  ECONNREFUSED icmp6 1/4  reached"), r.v6_verbose, nil, out)
  end)

  it("prints * for a hop without an answer and exits 1 when the host is not reached", function()
    local why = skip(); if why then return pending(why) end
    assert.equal("1", r.silent_status, out)
    assert.matches(lines(
      "traceroute to 198%.51%.100%.77 %(198%.51%.100%.77%), 2 hops max",
      " 1  192%.0%.2%.2  " .. MS .. "  EHOSTUNREACH icmp 11/0",
      " 2  %*"), r.silent, nil, out)
  end)
end)

describe("examples/traceroute.lua on loopback", function()
  local function run(args)
    local out, _, status = N.read_command("lua5.4 examples/traceroute.lua " .. args)
    return out, status
  end

  for _, host in ipairs { "127.0.0.2", "::1" } do
    it("reaches " .. host .. " at hop 1", function()
      local why = H.needs_posix("running the example as a child process")
        or H.needs_errqueue("the example's recverr") or H.needs_cmsg("the error queue's messages")
      if why then return pending(why) end
      local out, status = run("-v -m 3 " .. host)
      local text = host:gsub("%.", "%%.")
      assert.equal(0, status, out)
      assert.matches(lines(
        ("traceroute to %s %%(%s%%), 3 hops max"):format(text, text),
        (" 1  %s  %s  ECONNREFUSED %s  reached"):format(text, MS,
          host == "::1" and "icmp6 1/4" or "icmp 3/3")), out)
    end)
  end

  it("prints its usage and exits 2 without a host or with a bad -m", function()
    local why = H.needs_posix("running the example as a child process"); if why then return pending(why) end
    local usage = "^usage: lua5.4 examples/traceroute.lua %[%-m maxhops%] %[%-v%] HOST\n$"
    for _, args in ipairs { "", "-v", "-m 0 ::1", "-m x ::1", "-x ::1", "::1 ::2" } do
      local out, status = run(args)
      assert.equal(2, status, args)
      assert.matches(usage, out, nil, args)
    end
  end)
end)
