--- TCP and UDP listeners that serve IPv4 and IPv6 clients through one
-- object, whether the host gives one dual-stack socket or one per family.
-- @module dualstack.listen
local core = require "dualstack.core"
local group = require "dualstack.group"

local on_ready = group.on_ready

local M = {}

local function class(name, methods)
  local c = { __name = name }
  for k, v in pairs(group.Group) do c[k] = v end
  for k, v in pairs(methods) do c[k] = v end
  c.__index = c
  return c
end

local TcpListener = class("dualstack.tcplistener", {
  --- The next client of any family, as socket:accept.
  -- @treturn socket a connected, blocking socket
  accept = function(self)
    return on_ready(self, function(s) return s:accept() end)
  end,
})

-- The family of addr: numeric text says it, a name is looked up.
local function family_of(addr)
  local family = core.family(addr)
  if family then return core.is_mapped(addr) and "inet" or family end
  local list = core.getaddrinfo(addr, nil, { socktype = "dgram" })
  return list and list[1] and list[1].family
end

-- The socket that carries traffic for addr: with one socket per family,
-- IPv4 (plain or mapped) goes through the inet one.
local function socket_for(self, addr)
  local socks = self.socks
  if #socks == 1 or type(addr) ~= "string" then return socks[1] end
  local v4 = family_of(addr) == "inet"
  for _, s in ipairs(socks) do
    if (s:getfamily() == "inet") == v4 then return s end
  end
  return socks[1]
end

local UdpListener = class("dualstack.udplistener", {
  --- The next datagram of any family, as socket:recvmsg.
  recvmsg = function(self, size, msg)
    return on_ready(self, function(s) return s:recvmsg(size, msg) end)
  end,
  --- The next datagram as data, addr, port (and, with pktinfo, dst,
  -- ifindex), as socket:recvfrom.
  recvfrom = function(self, size)
    return on_ready(self, function(s) return s:recvfrom(size) end)
  end,
  --- Answers req from the address it was sent to, as socket:reply.
  reply = function(self, req, data)
    return socket_for(self, req.addr):reply(req, data)
  end,
  --- Sends msg through the socket of its destination's family.
  sendmsg = function(self, msg)
    return socket_for(self, msg.addr):sendmsg(msg)
  end,
  --- Datagrams dropped for a spoofed IPv4-mapped source, as socket:spoofed,
  -- summed over the listener's sockets.
  spoofed = function(self)
    local n = 0
    for _, s in ipairs(self.socks) do n = n + s:spoofed() end
    return n
  end,
  --- Sends data to host, port (from src, by ifindex) through the socket
  -- of host's family, as socket:sendto.
  sendto = function(self, data, host, port, src, ifindex)
    return socket_for(self, host):sendto(data, host, port, src, ifindex)
  end,
})

--- A TCP listener on host and port.
-- @tparam string host "*" (or "::") for every address of both families,
-- "0.0.0.0" for IPv4 only, or a numeric address or name
-- @tparam integer port 0 picks a free port, shared by every socket
-- @tparam[opt] table opts backlog, reuseaddr (default true), reuseport,
-- v6only (IPv6 only), dualstack (false forces one socket per family),
-- maxline (the line limit of every accepted client)
-- @treturn[1] listener
-- @return[2] nil, message, code
function M.listen(host, port, opts)
  return group.open("tcp", TcpListener, "listen", host, port, opts)
end

--- A UDP listener on host and port, with packet info on.
-- @tparam string host as for listen
-- @tparam integer port as for listen
-- @tparam[opt] table opts pktinfo (default true), reuseaddr (default false:
-- on UDP it would share the port), reuseport, v6only, dualstack
-- @treturn[1] listener
-- @return[2] nil, message, code
function M.udp_listen(host, port, opts)
  return group.open("udp", UdpListener, "udp_listen", host, port, opts)
end

return M
