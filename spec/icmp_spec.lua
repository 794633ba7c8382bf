-- ICMP sockets (issue 17): core.icmp / ds.icmp, raw and datagram, with real
-- echo traffic on loopback inside network namespaces the spec makes (in a
-- fresh one net.ipv4.ping_group_range is "1 0": datagram ICMP is refused,
-- EACCES, even to root), and the echo codec (ds.icmp_echo, ds.icmp_parse).
local H = require "spec.helpers"
local N = require "spec.namespace"
local ds = require "dualstack"

local LO_UP = "ip link set lo up"
local OPEN_RANGE = LO_UP .. "\nsysctl -q -w net.ipv4.ping_group_range='0 2147483647'"

local function denied(gid)
  return ("ICMP sockets are not permitted: add a group of this process to net.ipv4.ping_group_range "
    .. "(sysctl -w net.ipv4.ping_group_range='%d %d') or run with CAP_NET_RAW for raw sockets"):format(gid, gid)
end

-- The child's prologue for every case: ds and an echo round trip on a
-- socket, reporting the parsed reply under prefix.
local ROUNDTRIP = [[
local ds = require "dualstack"
local function roundtrip(prefix, s, family, dst, id)
  s:settimeout(2)
  assert(s:sendto(ds.icmp_echo { family = family, id = id, seq = 7, data = "hello" }, dst))
  local msg, from, port = s:recvfrom()
  report(prefix .. "from", from)
  report(prefix .. "port", port)
  local p = assert(ds.icmp_parse(msg, family))
  report(prefix .. "type", p.type)
  report(prefix .. "id", p.id)
  report(prefix .. "seq", p.seq)
  report(prefix .. "data", p.data)
end
]]

local function run(setup, script)
  return N.run("-n", setup, ROUNDTRIP .. script)
end

describe("ds.icmp", function()
  it("is raw for root in a fresh namespace, where datagram ICMP is refused", function()
    local why = H.needs_icmp_netns("ICMP sockets") if why then return pending(why) end
    local r = run(LO_UP, [[
      local s4 = assert(ds.icmp { family = "inet" })
      local s6 = assert(ds.icmp { family = "inet6" })
      report("type4", s4:gettype()) report("type6", s6:gettype())
      report("str4", tostring(s4)) report("fam6", s6:getfamily())
      local n, msg, code = ds.icmp { family = "inet", raw = false }
      report("dgram", tostring(n)) report("msg", msg) report("code", code)
      local n6, msg6, code6 = ds.icmp { family = "inet6", raw = false }
      report("msg6", msg6) report("code6", code6)
      s4:close()
      report("closed", tostring(s4))
    ]])
    assert.equal("raw", r.type4)
    assert.equal("raw", r.type6)
    assert.matches("^icmp{inet, raw, fd %d+", r.str4)
    assert.equal("inet6", r.fam6)
    assert.equal("nil", r.dgram)
    assert.equal(denied(0), r.msg)
    assert.equal("EACCES", r.code)
    assert.equal(denied(0), r.msg6)
    assert.equal("EACCES", r.code6)
    assert.equal("icmp{closed}", r.closed)
  end)

  it("is a datagram socket once ping_group_range admits the process's group", function()
    local why = H.needs_icmp_netns("ICMP sockets") if why then return pending(why) end
    local r = run(OPEN_RANGE, [[
      report("type4", ds.icmp { family = "inet" }:gettype())
      report("type6", ds.icmp { family = "inet6" }:gettype())
      report("raw4", ds.icmp { family = "inet", raw = true }:gettype())
      report("str4", tostring(ds.icmp { family = "inet" }))
    ]])
    assert.equal("dgram", r.type4)
    assert.equal("dgram", r.type6)
    assert.equal("raw", r.raw4)
    assert.matches("^icmp{inet, dgram, fd %d+", r.str4)
  end)

  it("takes the echo identifier from the bound port on a datagram socket; seq and data intact", function()
    local why = H.needs_icmp_netns("ICMP sockets") if why then return pending(why) end
    local r = run(OPEN_RANGE, [[
      local s = assert(ds.icmp { family = "inet" })
      assert(s:bind("0.0.0.0", 4242))
      roundtrip("v4", s, "inet", "127.0.0.1", 1)
      local s6 = assert(ds.icmp { family = "inet6" })
      assert(s6:bind("::", 4343))
      roundtrip("v6", s6, "inet6", "::1", 1)
    ]])
    assert.same({ "127.0.0.1", "0", "0", "4242", "7", "hello" },
      { r.v4from, r.v4port, r.v4type, r.v4id, r.v4seq, r.v4data })
    assert.same({ "::1", "0", "129", "4343", "7", "hello" },
      { r.v6from, r.v6port, r.v6type, r.v6id, r.v6seq, r.v6data })
  end)

  it("gives the ICMP message without the IPv4 header on a raw socket, id as sent", function()
    local why = H.needs_icmp_netns("ICMP sockets") if why then return pending(why) end
    local r = run(LO_UP, [[
      roundtrip("v4", assert(ds.icmp { family = "inet" }), "inet", "127.0.0.1", 1234)
      roundtrip("v6", assert(ds.icmp { family = "inet6" }), "inet6", "::1", 1235)
    ]])
    assert.same({ "127.0.0.1", "0", "0", "1234", "7", "hello" },
      { r.v4from, r.v4port, r.v4type, r.v4id, r.v4seq, r.v4data })
    assert.same({ "::1", "0", "129", "1235", "7", "hello" },
      { r.v6from, r.v6port, r.v6type, r.v6id, r.v6seq, r.v6data })
  end)

  for _, kind in ipairs { "dgram", "raw" } do
    it("reports packet info, hop limit and timestamp through recvmsg (" .. kind .. ")", function()
      local why = H.needs_icmp_netns("ICMP sockets") or H.needs_timestampns("the timestamp option")
        or H.needs_cmsg("the ifindex and hop limit")
      if why then return pending(why) end
      local r = run(OPEN_RANGE, ([[
        for _, c in ipairs { { "inet", "127.0.0.1", "4" }, { "inet6", "::1", "6" } } do
          local s = assert(ds.icmp { family = c[1], raw = %s })
          s:settimeout(2)
          assert(s:setoption("pktinfo", true))
          assert(s:setoption("recvhoplimit", true))
          assert(s:setoption("timestamp", true))
          assert(s:sendto(ds.icmp_echo { family = c[1], id = 9, seq = 3, data = "x" }, c[2]))
          local m = assert(s:recvmsg())
          report("dst" .. c[3], m.dst) report("ifindex" .. c[3], m.ifindex)
          report("hop" .. c[3], m.hoplimit) report("ts" .. c[3], type(m.timestamp))
          report("seq" .. c[3], ds.icmp_parse(m.data, c[1]).seq)
        end
        report("lo", ds.ifindex("lo"))
      ]]):format(kind == "raw" and "true" or "false"))
      assert.equal("127.0.0.1", r.dst4)
      assert.equal("::1", r.dst6)
      assert.equal(r.lo, r.ifindex4)
      assert.equal(r.lo, r.ifindex6)
      assert.equal("64", r.hop4)
      assert.equal("64", r.hop6)
      assert.equal("number", r.ts4)
      assert.equal("number", r.ts6)
      assert.equal("3", r.seq4)
      assert.equal("3", r.seq6)
    end)
  end

  it("as the unprivileged user nobody: refused naming the sysctl, then works after it", function()
    local why = H.needs_icmp_netns("ICMP sockets as nobody") if why then return pending(why) end
    local r, nobody = H.as_nobody([[
      local ds = require "dualstack"
      local s, msg, code = ds.icmp { family = "inet" }
      if not s then print("icmp=" .. code .. "|" .. msg) else print("icmp=" .. s:gettype()) end
      local rtt, from = ds.ping("127.0.0.1", { timeout = 1 })
      print("ping=" .. tostring(type(rtt) == "number" and from or from))
    ]], function(as_nobody)
      return N.run("-n", LO_UP .. "\n" .. "echo before=$(" .. as_nobody .. " | tr '\\n' '#')\n"
        .. "sysctl -q -w net.ipv4.ping_group_range='65534 65534'\n"
        .. "echo after=$(" .. as_nobody .. " | tr '\\n' '#')\n", "")
    end)
    if not r then return pending(nobody) end
    assert.equal("icmp=EACCES|" .. denied(65534) .. "#ping=" .. denied(65534) .. "#", r.before)
    assert.equal("icmp=dgram#ping=127.0.0.1#", r.after)
  end)

  it("refuses a family that is not inet or inet6", function()
    assert.has_error(function() ds.icmp { family = "dual" } end,
      "bad argument #1 to 'icmp' (family 'inet' or 'inet6' expected: ICMP and ICMPv6 are different protocols)")
    assert.has_error(function() ds.icmp { family = "inet", raw = 1 } end,
      "bad argument #1 to 'icmp' (boolean 'raw' field expected)")
  end)
end)

describe("ds.icmp_echo and ds.icmp_parse", function()
  it("build an echo request with the checksum computed by hand", function()
    -- 0x0800 + 0x0001 + 0x0001 + 0x6162 ("ab") + 0x6364 ("cd") = 0xccc8; ~ = 0x3337
    assert.equal("\8\0\x33\x37\0\1\0\1abcd", ds.icmp_echo { family = "inet", id = 1, seq = 1, data = "abcd" })
    assert.equal("\128\0\0\0\0\1\0\1abcd", ds.icmp_echo { family = "inet6", id = 1, seq = 1, data = "abcd" })
    assert.equal("\8\0\xf7\xff\0\0\0\0", ds.icmp_echo { family = "inet" })
  end)

  it("parse echo replies and refuse short messages", function()
    assert.same({ type = 0, code = 0, id = 513, seq = 772, data = "zz" },
      ds.icmp_parse("\0\0\0\0\2\1\3\4zz", "inet"))
    assert.same({ nil, "short ICMP message (4 bytes)", "EINVAL" }, { ds.icmp_parse("\0\0\0\0", "inet") })
  end)

  it("parse errors with the quoted request", function()
    local ip4 = string.pack(">BBI2I2I2BBI2", 0x45, 0, 28, 0, 0, 1, 1, 0) .. "\192\0\2\1" .. "\198\51\100\2"
    local quoted = ip4 .. "\8\0\0\0\0\5\0\9"
    assert.same({ type = 11, code = 0, kind = "time_exceeded", inner = { dst = "198.51.100.2", proto = 1, id = 5, seq = 9 } },
      ds.icmp_parse("\11\0\0\0\0\0\0\0" .. quoted, "inet"))
    assert.same({ type = 3, code = 4, kind = "unreachable", mtu = 1280,
      inner = { dst = "198.51.100.2", proto = 1, id = 5, seq = 9 } },
      ds.icmp_parse("\3\4\0\0\0\0\5\0" .. quoted, "inet"))
    local ip6 = "\96\0\0\0\0\8\58\64" .. ds.pton("2001:db8::1") .. ds.pton("2001:db8:2::2")
    assert.same({ type = 2, code = 0, kind = "too_big", mtu = 1280,
      inner = { dst = "2001:db8:2::2", proto = 58, id = 5, seq = 9 } },
      ds.icmp_parse("\2\0\0\0\0\0\5\0" .. ip6 .. "\128\0\0\0\0\5\0\9", "inet6"))
  end)
end)

-- The same raw receive paths in this process (so check-asan covers them),
-- on the host's loopback: 127.0.0.1 and ::1 only. Other pingers on the
-- host may be heard too: only replies with our id and data count.
describe("ds.icmp in this process", function()
  local function open(family)
    if H.WINDOWS then return nil, "raw ICMP on Windows needs an administrator" end
    local s, msg = ds.icmp { family = family, raw = true }
    if not s then return nil, "raw ICMP sockets need CAP_NET_RAW here: " .. msg end
    s:settimeout(2)
    return s
  end
  local ID = 0x4d00 + (ds.getpid() % 256)

  for _, c in ipairs { { "inet", "127.0.0.1" }, { "inet6", "::1" } } do
    local family, dst = c[1], c[2]
    it("gives echo replies without the IP header through recvfrom, recvmsg and recvmmsg (" .. family .. ")", function()
      local s, why = open(family)
      if not s then return pending(why) end
      local function echo(seq) return ds.icmp_echo { family = family, id = ID, seq = seq, data = "ds-spec" .. seq } end
      local function ours(data)
        local p = ds.icmp_parse(data, family)
        return p and p.id == ID and p.data == "ds-spec" .. p.seq and p or nil
      end
      H.ok(s:sendto(echo(1), dst))
      local p
      repeat local d, from = H.ok(s:recvfrom()); assert.equal(dst, from); p = ours(d) until p
      assert.same({ type = family == "inet" and 0 or 129, code = 0, id = ID, seq = 1, data = "ds-spec1" }, p)
      H.ok(s:sendmsg { data = echo(2), addr = dst }) -- no port on an ICMP socket
      repeat local m = H.ok(s:recvmsg()); p = ours(m.data) until p
      assert.equal(2, p.seq)
      for seq = 3, 5 do H.ok(s:sendto(echo(seq), dst)) end
      local seen = {}
      while not (seen[3] and seen[4] and seen[5]) do
        for _, m in ipairs(H.ok(s:recvmmsg(3))) do
          p = ours(m.data)
          if p then seen[p.seq] = #m.data end
        end
      end
      assert.same({ [3] = 16, [4] = 16, [5] = 16 }, seen)
      s:close()
    end)
  end
end)

describe("ds.icmp in this process, a raw IPv4 reply cut short", function()
  it("gives only the message's own bytes, as many as asked, and says it was truncated", function()
    if H.WINDOWS then return pending("raw ICMP on Windows needs an administrator") end
    local s, msg = ds.icmp { family = "inet", raw = true }
    if not s then return pending("raw ICMP sockets need CAP_NET_RAW here: " .. msg) end
    s:settimeout(2)
    local id = 0x4e00 + (ds.getpid() % 256)
    local data = string.rep("z", 100)
    H.ok(s:sendto(ds.icmp_echo { family = "inet", id = id, seq = 1, data = data }, "127.0.0.1"))
    local m
    repeat
      m = H.ok(s:recvmsg(30)) -- 30 bytes of the ICMP message (the IPv4 header is not counted)
      local p = ds.icmp_parse(m.data, "inet")
    until p and p.id == id and p.seq == 1
    assert.equal(ds.icmp_echo { family = "inet", id = id, seq = 1, data = data }:sub(5, 30), m.data:sub(5, 30))
    assert.equal("\0\0", m.data:sub(1, 2)) -- echo reply, code 0
    assert.equal(30, #m.data)
    assert.equal(108, m.size) -- the message's real length, as a datagram socket says
    assert.is_true(m.truncated)
    s:close()
  end)
end)
