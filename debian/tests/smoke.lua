-- Smoke test of dualstack as a package installs it; needs no root, only
-- the loopback. It loads from Lua's own paths, reports a version
-- (DS_EXPECT_VERSION, when set, must be it), and a UDP datagram sent to
-- itself on 127.0.0.1 comes back with pktinfo's dst (127.0.0.1) and the
-- loopback's ifindex. Run by the package build (dh-lua's test, on the
-- module just built), by autopkgtest and by `make check-deb` (in a root
-- filesystem with the .deb installed).
local ds = require "dualstack"

local want = os.getenv("DS_EXPECT_VERSION")
assert(type(ds._VERSION) == "string" and ds._VERSION:match("^%d+%.%d+%.%d+"),
       "bad _VERSION: " .. tostring(ds._VERSION))
assert(want == nil or want == ds._VERSION,
       ("version %s, expected %s"):format(ds._VERSION, tostring(want)))

local lo
for _, i in ipairs(assert(ds.interfaces())) do
  if i.flags.loopback then lo = i.index end
end
assert(lo, "no loopback interface")

local s = assert(ds.udp())
assert(s:setoption("pktinfo", true))
assert(s:settimeout(2))
assert(s:bind("127.0.0.1", 0))
local _, port = assert(s:getsockname())
assert(s:sendto("ping", "127.0.0.1", port))
local data, addr, from, dst, ifindex = s:recvfrom()
assert(data == "ping", "received " .. tostring(data) .. ", " .. tostring(addr) .. ", " .. tostring(from))
assert(ds.unmap(addr) == "127.0.0.1" and from == port, "from " .. tostring(addr) .. " port " .. tostring(from))
assert(dst and ds.unmap(dst) == "127.0.0.1", "dst " .. tostring(dst))
assert(ifindex == lo, ("ifindex %s, loopback is %d"):format(tostring(ifindex), lo))
s:close()
print(("dualstack %s from %s: 127.0.0.1 round-trip, dst %s, ifindex %d"):format(
  ds._VERSION, package.searchpath("dualstack.core", package.cpath), dst, ifindex))
