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
  "lua >= 5.4",
}
build = {
  type = "builtin",
  modules = {
    ["dualstack"] = "lua/dualstack.lua",
    ["dualstack.listen"] = "lua/dualstack/listen.lua",
    ["dualstack.connect"] = "lua/dualstack/connect.lua",
    ["dualstack.select"] = "lua/dualstack/select.lua",
    ["dualstack.core"] = {
      sources = {
        "src/sys/posix.c",
        "src/core/addr.c", "src/core/cmsg.c", "src/core/errors.c",
        "src/core/net.c", "src/core/wait.c",
        "src/addr.c", "src/box.c", "src/core.c", "src/errors.c",
        "src/iface.c", "src/mcast.c", "src/msg.c", "src/object.c",
        "src/options.c", "src/poll.c", "src/recv.c", "src/socket.c",
      },
      incdirs = { "src" },
      defines = {},
    },
  },
}
