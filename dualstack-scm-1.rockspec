rockspec_format = "3.0"
package = "dualstack"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Dual-stack IPv4/IPv6 sockets with IPv4-mapped address helpers and packet info",
  detailed = [[
One AF_INET6 socket that serves IPv4 and IPv6 (IPV6_V6ONLY set to 0 before
bind), helpers for IPv4-mapped addresses, and recvmsg/sendmsg with packet
info, so a UDP server bound to the wildcard learns the local address and
interface of each datagram and answers from that same address.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.6",
}
-- The C module's sources: the binding and the core everywhere, and the
-- platform's backend (src/sys/); Windows links Winsock and the IP helper.
-- Each platform gets the whole list, as LuaSocket's rockspec does, since
-- luarocks merges a platform's lists into the base one index by index.
local COMMON = {
  "src/core/addr.c", "src/core/cmsg.c", "src/core/errors.c",
  "src/core/net.c", "src/core/wait.c",
  "src/core/unix.c", "src/unix.c", -- local sockets
  "src/core/icmp.c", "src/icmp.c", -- ICMP sockets (issue 17)
  "src/addr.c", "src/adopt.c", "src/box.c", "src/core.c", "src/errors.c",
  "src/iface.c", "src/mcast.c", "src/msg.c", "src/object.c",
  "src/options.c", "src/poll.c", "src/recv.c", "src/socket.c",
  "src/core/errq.c", "src/errq.c", -- recverr (issue 17)
}

local function platform(backend, libraries)
  local sources = { backend }
  for i = 1, #COMMON do sources[i + 1] = COMMON[i] end
  return {
    modules = {
      ["dualstack.core"] = { sources = sources, libraries = libraries, incdirs = { "src" } },
    },
  }
end

build = {
  type = "builtin",
  modules = {
    ["dualstack"] = "lua/dualstack.lua",
    ["dualstack.listen"] = "lua/dualstack/listen.lua",
    ["dualstack.connect"] = "lua/dualstack/connect.lua",
    ["dualstack.select"] = "lua/dualstack/select.lua",
    ["dualstack.inherit"] = "lua/dualstack/inherit.lua",
    ["dualstack.wait"] = "lua/dualstack/wait.lua",
    ["dualstack.luasocket"] = "lua/dualstack/luasocket.lua",
    ["dualstack.icmp"] = "lua/dualstack/icmp.lua",
    ["dualstack.ping"] = "lua/dualstack/ping.lua",
  },
  platforms = {
    unix = platform("src/sys/posix.c"),
    win32 = platform("src/sys/win32.c", { "ws2_32", "iphlpapi" }),
    mingw32 = platform("src/sys/win32.c", { "ws2_32", "iphlpapi" }),
  },
}
-- `luarocks test`: the whole spec suite through `make check`, which builds
-- what the specs load (build/dualstack/core.so and the C helper
-- build/spec/testhelp.so, as .busted says) and runs busted under lua5.4
-- (Debian's busted script starts whichever Lua `lua` is).
test = {
  type = "command",
  command = "make check",
}
