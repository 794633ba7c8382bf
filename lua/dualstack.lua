--- dualstack: IPv4/IPv6 sockets done right. One dual-stack socket serves
-- both families, IPv4-mapped addresses have helpers, and recvmsg/sendmsg
-- carry packet info so a UDP server answers from the address it was asked
-- on. This module re-exports the C core (dualstack.core) and adds the
-- conveniences written in Lua.
-- @module dualstack
local core = require "dualstack.core"

local M = {}
for name, value in pairs(core) do M[name] = value end

local listen = require "dualstack.listen"
M.listen = listen.listen
M.udp_listen = listen.udp_listen
M.connect = require("dualstack.connect").connect
M.select = require("dualstack.select").select

-- Waiting inside event loops (dualstack.wait): the waiter every Lua-level
-- wait and lookup goes through, chosen per call or detected.
local wait = require "dualstack.wait"
M.wait = wait.wait
M.resolve = wait.resolve
M.setwaiter = wait.setwaiter
M.waiters = { poll = wait.poll, cqueues = wait.cqueues, luv = wait.luv }
M.luv = { spawn = wait.spawn, run = wait.run }

-- Descriptors the process was given (systemd socket activation).
M.listen_fds = require("dualstack.inherit").listen_fds

-- ICMP echo (issue 17): sockets, the message codec, ping.
local icmp = require "dualstack.icmp"
M.icmp = core.icmp
M.icmp_echo = icmp.echo
M.icmp_parse = icmp.parse
M.ping = require("dualstack.ping").ping

return M
