-- ds.interfaces(): the host's interfaces with flags and addresses, checked
-- against lo on the host and against links a network namespace made by the
-- spec gives known addresses and states.
local H = require "helpers"
local N = require "namespace"
local ds = H.ds

local function find(list, field, value)
  for _, entry in ipairs(list) do
    if entry[field] == value then return entry end
  end
  return nil
end

describe("ds.interfaces on the host", function()
  local list = ds.interfaces()

  it("lists lo with its index, loopback flags, 127.0.0.1/8 and ::1/128 of scope host", function()
    local lo = find(list, "name", H.LO_NAME)
    assert.is_table(lo, "no lo")
    assert.equal(ds.ifindex(H.LO_NAME), lo.index)
    assert.equal("integer", math.type(lo.index))
    assert.is_true(lo.flags.loopback)
    assert.is_true(lo.flags.up)
    assert.is_false(lo.flags.pointopoint)
    assert.same({ addr = "127.0.0.1", family = "inet", prefixlen = 8, scope = "host" },
      find(lo.addrs, "addr", "127.0.0.1"))
    assert.same({ addr = "::1", family = "inet6", prefixlen = 128, scope = "host" },
      find(lo.addrs, "addr", "::1"))
  end)

  it("lists each interface once, with every flag a boolean and index and name agreeing", function()
    local seen = {}
    for _, iface in ipairs(list) do
      assert.is_nil(seen[iface.name], "listed twice: " .. iface.name)
      seen[iface.name] = true
      assert.equal(ds.ifindex(iface.name), iface.index)
      assert.equal(iface.name, ds.ifname(iface.index))
      for _, flag in ipairs({ "up", "running", "loopback", "multicast", "broadcast", "pointopoint" }) do
        assert.is_boolean(iface.flags[flag], iface.name .. "." .. flag)
      end
      for _, a in ipairs(iface.addrs) do
        assert.equal(a.family, ds.family(a.addr))
        assert.is_true(a.prefixlen >= 0 and a.prefixlen <= (a.family == "inet" and 32 or 128))
      end
    end
  end)

  it("gives a new list on every call", function()
    assert.are_not.equal(list, ds.interfaces())
    assert.equal(#list, #ds.interfaces())
  end)
end)

-- v0 is up with addresses; its peer v1 stays down, so v0 has no carrier.
local SETUP = [[
ip link set lo up && ip link set lo multicast on || exit 1
sysctl -qw net.ipv6.conf.default.accept_dad=0 2>/dev/null
if ip link add v0 type veth peer name v1 && ip link set v0 up &&
   ip addr add 10.9.8.7/24 dev v0 && ip -6 addr add fd00::1/64 dev v0 nodad &&
   ip -6 addr add fe80::1/64 dev v0 nodad; then
  export VETH=ok
else
  export VETH=failed
fi
]]

local CHILD = [[
local ds = require "dualstack"
report("veth", os.getenv("VETH"))
for _, iface in ipairs(ds.interfaces()) do
  local p = "if." .. iface.name .. "."
  report(p .. "index", iface.index)
  for flag, on in pairs(iface.flags) do report(p .. flag, on) end
  for _, a in ipairs(iface.addrs) do
    report(p .. "addr." .. a.addr:gsub("[^%w]", "_"), a.family .. "/" .. a.prefixlen .. "/" .. a.scope)
  end
end
]]

describe("ds.interfaces in a network namespace", function()
  local usable, reason = N.available("-n")
  local r, out

  local function check(name, fn)
    it(name, function()
      if not usable then return pending(reason) end
      if not r then r, out = N.run("-n", SETUP, CHILD) end
      assert.equal("ok", r.veth, out)
      fn()
    end)
  end

  check("shows lo with the multicast flag the spec turned on", function()
    assert.equal("1", r["if.lo.index"], out)
    assert.equal("true", r["if.lo.multicast"], out)
    assert.equal("true", r["if.lo.loopback"], out)
  end)

  check("shows v0 up without carrier and v1 down", function()
    assert.equal("true", r["if.v0.up"], out)
    assert.equal("false", r["if.v0.running"], out)
    assert.equal("false", r["if.v0.loopback"], out)
    assert.equal("true", r["if.v0.broadcast"], out)
    assert.equal("true", r["if.v0.multicast"], out)
    assert.equal("false", r["if.v1.up"], out)
    assert.is_string(r["if.v1.index"], out) -- listed although it has no address
  end)

  check("gives v0's addresses with prefix lengths and scopes", function()
    assert.equal("inet/24/global", r["if.v0.addr.10_9_8_7"], out)
    assert.equal("inet6/64/global", r["if.v0.addr.fd00__1"], out)
    assert.equal("inet6/64/link", r["if.v0.addr.fe80__1_v0"], out)
  end)
end)
