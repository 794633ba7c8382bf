--- ICMP echo: `ping(host[, opts])` → rtt_seconds, reply_from, or nil,
-- message, code. The name's addresses are tried in Happy Eyeballs order
-- (IPv6 first, families interleaved, a new attempt every 250 ms); the
-- first matching reply wins. One ICMP socket per family (core.icmp: a
-- datagram one where net.ipv4.ping_group_range allows it, else raw). The
-- kernel rewrites the identifier of a datagram socket's echo requests, so
-- a reply is matched on its sequence number and payload (an 8-byte random
-- token and the sequence number, padded to opts.size), and on a raw socket
-- on the identifier too. A raw socket also sees the errors (unreachable,
-- time exceeded) that quote one of our requests: they end that attempt.
-- opts.timeout bounds the whole call, name resolution included. Every wait
-- and lookup goes through the waiter (dualstack.wait), so a cqueues or luv
-- coroutine yields while a ping is in progress.
-- @module dualstack.ping
local core = require "dualstack.core"
local waiters = require "dualstack.wait"
local icmp = require "dualstack.icmp"
local interleave = require("dualstack.connect").interleave

local M = {}

local ATTEMPT_DELAY = 0.25
local SIZE_MAX = 65507 -- 65535 less the IPv4 and ICMP headers
local DEFAULT_SIZE = 56
local DEFAULT_TIMEOUT = 2

local REPLY = { inet = 0, inet6 = 129 }

-- What an error message about one of our requests says, by family, type
-- and code: message and errno name.
local function describe(family, p)
  local c = p.code
  if p.kind == "time_exceeded" then return "time exceeded", "EHOSTUNREACH" end
  if p.kind == "too_big" then return "fragmentation needed", "EMSGSIZE" end
  if p.kind == "param" then return "parameter problem", "EPROTO" end
  if family == "inet" then
    if c == 0 then return "network unreachable", "ENETUNREACH" end
    if c == 3 then return "port unreachable", "ECONNREFUSED" end
    if c == 4 then return "fragmentation needed", "EMSGSIZE" end
  else
    if c == 0 then return "network unreachable", "ENETUNREACH" end
    if c == 4 then return "port unreachable", "ECONNREFUSED" end
  end
  return "host unreachable", "EHOSTUNREACH"
end

local function optfail(name, what)
  error(("bad argument #2 to 'ping' (option '%s' %s)"):format(name, what), 4)
end

local function check_opts(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then
    error("bad argument #2 to 'ping' (table expected, got " .. (io.type(opts) and "FILE*" or type(opts)) .. ")", 3)
  end
  local t = opts.timeout
  if t ~= nil and (type(t) ~= "number" or t ~= t or t < 0) then optfail("timeout", "must be a number >= 0") end
  local size = opts.size
  if size ~= nil and math.type(size) ~= "integer" then optfail("size", "must be an integer") end
  if size and (size < 0 or size > SIZE_MAX) then optfail("size", "out of range (0-" .. SIZE_MAX .. ")") end
  local id = opts.id
  if id ~= nil and (math.type(id) ~= "integer" or id < 0 or id > 0xffff) then optfail("id", "out of range (0-65535)") end
  if opts.raw ~= nil and type(opts.raw) ~= "boolean" then optfail("raw", "must be a boolean") end
  if opts.numeric ~= nil and type(opts.numeric) ~= "boolean" then optfail("numeric", "must be a boolean") end
  if opts.source ~= nil and type(opts.source) ~= "string" then optfail("source", "must be a string") end
  if opts.waiter ~= nil and not waiters.check(opts.waiter) then
    optfail("waiter", "a table with wait and resolve expected")
  end
  return opts
end

local function until_time(at)
  return math.max(0, at - core.monotime())
end

local function resolve(waiter, host, opts, deadline)
  if type(host) ~= "string" then
    error("bad argument #1 to 'ping' (string expected, got " .. (io.type(host) and "FILE*" or type(host)) .. ")", 3)
  end
  if opts.numeric and not waiters.is_numeric(host) then return waiters.refuse_name(host) end
  local hints = { socktype = "dgram", resolver = opts.resolver }
  if not waiters.is_numeric(host) then hints.timeout = until_time(deadline) end
  local list, err, code = waiter.resolve(host, nil, hints)
  if list and #list == 0 then return nil, "no address for " .. host, "EAI_NONAME" end
  if not list then return nil, err, code end
  local want = opts.source and core.family(opts.source)
  local out = {}
  for _, r in ipairs(list) do
    if not want or r.family == want then out[#out + 1] = r end
  end
  if #out == 0 then
    return nil, ("source %s cannot reach %s: the families differ"):format(opts.source, host), "EINVAL"
  end
  return interleave(out)
end

local function random_token()
  local t = {}
  for i = 1, 8 do t[i] = string.char(math.random(0, 255)) end
  return table.concat(t)
end

-- The payload of the attempt with sequence number seq: token, seq, then
-- padding, cut or filled to size bytes.
local function payload(token, seq, size)
  local p = token .. string.pack(">I2", seq)
  if size <= #p then return p:sub(1, size) end
  return p .. string.rep("\0", size - #p)
end

-- One ICMP socket of family set up for opts: hop limit, device, source and
-- (datagram sockets) the identifier as the bound port. nil, msg, code.
local function open_socket(family, opts)
  local s, err, code = core.icmp { family = family, raw = opts.raw }
  if not s then return nil, err, code end
  local function fail(...)
    s:close()
    return nil, select(2, ...)
  end
  s:settimeout(0)
  local raw = s:gettype() == "raw"
  if opts.hoplimit ~= nil then
    local ok, e, c = s:setoption("hoplimit", opts.hoplimit)
    if not ok then return fail(nil, e, c) end
  end
  if opts.device ~= nil then
    local ok, e, c = s:setoption("device", opts.device)
    if not ok then return fail(nil, e, c) end
  end
  if opts.source or (opts.id and not raw) then
    local src = opts.source or (family == "inet" and "0.0.0.0" or "::")
    local ok, e, c = s:bind(src, raw and 0 or opts.id or 0)
    if not ok then return fail(nil, e, c) end
  end
  return { sock = s, family = family, raw = raw, id = raw and (opts.id or math.random(0, 0xffff)) or (opts.id or 0) }
end

-- Does the received message msg (from address from) answer attempt a?
-- true for the reply; false, msg, code for an error quoting it; nil else.
local function judge(a, msg, from)
  local p = icmp.parse(msg, a.sk.family)
  if not p then return nil end
  if p.type == REPLY[a.sk.family] then
    if p.seq == a.seq and p.data == a.payload and (not a.sk.raw or p.id == a.sk.id) then return true end
    return nil
  end
  local q = p.inner
  if p.kind and q and q.seq == a.seq and core.same(q.dst, a.addr) and (not a.sk.raw or q.id == a.sk.id) then
    local m, c = describe(a.sk.family, p)
    return false, m .. " from " .. from, c
  end
  return nil
end

local function close_all(socks)
  for _, sk in pairs(socks) do sk.sock:close() end
end

--- Pings host (see the module).
-- @tparam string host a name or a numeric address
-- @tparam[opt] table opts timeout (seconds for the whole call, default 2),
--   size (payload bytes, 0-65507, default 56), hoplimit, source (address
--   to send from), device (interface), id (echo identifier: a datagram
--   socket's bound port), raw (true: raw socket only; false: datagram
--   only), waiter, numeric, resolver (as ds.connect's)
-- @treturn[1] number the round-trip time, seconds
-- @treturn[1] string the address that answered
-- @return[2] nil, "timeout", "ETIMEDOUT"; nil, "time exceeded from X",
--   "EHOSTUNREACH" (raw sockets) and the like; or why no socket or
--   address could be had
-- @raise on bad options
function M.ping(host, opts)
  if type(host) == "number" then host = tostring(host) end -- as the C functions take it
  opts = check_opts(opts)
  local waiter = waiters.current(opts)
  local deadline = core.monotime() + (opts.timeout or DEFAULT_TIMEOUT)
  local size = opts.size or DEFAULT_SIZE
  local addrs, err, code = resolve(waiter, host, opts, deadline)
  if not addrs then return nil, err, code end
  local token, seq0 = random_token(), math.random(0, 0xffff)
  local socks, pending, nexti, next_start = {}, {}, 1, core.monotime()
  local function finish(...)
    close_all(socks)
    return ...
  end
  while true do
    if nexti <= #addrs and core.monotime() >= next_start then
      local r = addrs[nexti]
      nexti = nexti + 1
      local sk = socks[r.family]
      if not sk then
        sk, err, code = open_socket(r.family, opts)
        socks[r.family] = sk or nil
      end
      if sk then
        local a = { sk = sk, addr = r.addr, seq = (seq0 + nexti) & 0xffff }
        a.payload = payload(token, a.seq, size)
        local msg = icmp.echo { family = r.family, id = sk.id, seq = a.seq, data = a.payload }
        a.sent = core.monotime()
        local n, e, c = sk.sock:sendto(msg, r.addr)
        if n then
          pending[#pending + 1] = a
          next_start = core.monotime() + ATTEMPT_DELAY
        else
          err, code = e, c
        end
      end
    end
    if #pending == 0 and nexti > #addrs then return finish(nil, err, code) end
    local left = until_time(deadline)
    if left == 0 then return finish(nil, "timeout", "ETIMEDOUT") end
    if nexti <= #addrs then left = math.min(left, until_time(next_start)) end
    local fds = {}
    for _, sk in pairs(socks) do fds[#fds + 1] = sk.sock:getfd() end
    local ready, e, c = waiter.wait(fds, {}, left)
    if not ready then return finish(nil, e, c) end
    for _, sk in pairs(socks) do
      if ready[sk.sock:getfd()] then
        while true do
          local msg, from = sk.sock:recvfrom()
          if not msg then break end
          local now = core.monotime()
          for i = #pending, 1, -1 do
            local a = pending[i]
            if a.sk == sk then
              local ok, m, mc = judge(a, msg, from)
              if ok then return finish(math.max(now - a.sent, 1e-9), from) end
              if ok == false then
                table.remove(pending, i)
                err, code = m, mc
                next_start = now -- as a failed connect: the next at once
              end
            end
          end
        end
      end
    end
  end
end

return M
