--- ICMP echo: `ping(host[, opts])` → rtt_seconds, reply_from, or nil,
-- message, code. The name's addresses are tried in Happy Eyeballs order
-- (IPv6 first, families interleaved, a new attempt every 250 ms); the
-- first matching reply wins. One ICMP socket per family (core.icmp: a
-- datagram one where net.ipv4.ping_group_range allows it, else raw). The
-- kernel rewrites the identifier of a datagram socket's echo requests, so
-- a reply is matched on its sequence number and payload (an 8-byte random
-- token and the sequence number, padded to opts.size), and on a raw socket
-- on the identifier too. An ICMP error (unreachable, time exceeded) that
-- quotes one of our requests ends that attempt: a raw socket receives it,
-- a datagram one has recverr on and reads it from its error queue (the
-- quoted request's sequence number and payload, and the destination, match
-- it); both give the same nil, message, code.
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

-- What an error message about one of our requests says, by family, kind
-- (icmp.kind) and code: message and errno name.
local function describe(family, kind, c)
  if kind == "time_exceeded" then return "time exceeded", "EHOSTUNREACH" end
  if kind == "too_big" then return "fragmentation needed", "EMSGSIZE" end
  if kind == "param" then return "parameter problem", "EPROTO" end
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
  -- a datagram socket receives no ICMP errors: its error queue holds them
  -- (where the system has none, ENOPROTOOPT, errors show as a timeout)
  local recverr = false
  if not raw then
    local ok, e, c = s:setoption("recverr", true)
    if not ok and c ~= "ENOPROTOOPT" then return fail(nil, e, c) end
    recverr = ok ~= nil
  end
  return { sock = s, family = family, raw = raw, recverr = recverr,
    id = raw and (opts.id or math.random(0, 0xffff)) or (opts.id or 0) }
end

-- Does an ICMP error of kind and code (from address from), quoting q
-- ({dst, seq, id (raw), data (queued errors: the quoted payload, maybe
-- cut)}), end attempt a? false, message, code; nil else.
local function ended(a, kind, code, q, from)
  if not (kind and q and q.seq == a.seq and core.same(q.dst, a.addr)) then return nil end
  if a.sk.raw and q.id ~= a.sk.id then return nil end
  if q.data and a.payload:sub(1, #q.data) ~= q.data then return nil end
  local m, c = describe(a.sk.family, kind, code)
  return false, m .. " from " .. from, c
end

-- Does the received message msg (from address from) answer attempt a?
-- true, from for the reply; false, msg, code for an error quoting it (raw
-- sockets); nil else.
local function judge_received(a, msg, from)
  local p = icmp.parse(msg, a.sk.family)
  if not p then return nil end
  if p.type == REPLY[a.sk.family] then
    if p.seq == a.seq and p.data == a.payload and (not a.sk.raw or p.id == a.sk.id) then return true, from end
    return nil
  end
  return ended(a, p.kind, p.code, p.inner, from)
end

-- Does the queued error e (sock:recverr's table; its data is the quoted
-- echo request, whose id the kernel rewrote) end attempt a? As ended.
local function judge_queued(a, e)
  local family = a.sk.family
  local q = e.origin ~= "local" and e.addr and e.offender and icmp.parse(e.data, family)
  if not q then return nil end
  return ended(a, icmp.kind(family, e.type), e.icmpcode, { dst = e.addr, seq = q.seq, data = q.data }, e.offender)
end

-- The next thing waiting on sk (a message, else a queued error) as a
-- judge of attempts (function(a): as judge_received); nil when none waits.
local function next_judge(sk)
  local msg, from = sk.sock:recvfrom()
  if msg then return function(a) return judge_received(a, msg, from) end end
  local e = sk.recverr and sk.sock:recverr()
  if e then return function(a) return judge_queued(a, e) end end
  return nil
end

-- Applies judge to the attempts pending on sk: the attempt it answers and
-- the replier; or nil, after dropping each attempt it ended (its error
-- kept in st, and the next attempt due at once, as after a failed connect).
local function settle(st, sk, judge)
  for i = #st.pending, 1, -1 do
    local a = st.pending[i]
    if a.sk == sk then
      local ok, m, c = judge(a)
      if ok then return a, m end
      if ok == false then
        table.remove(st.pending, i)
        st.err, st.code, st.next_start = m, c, core.monotime()
      end
    end
  end
  return nil
end

-- Reads all that waits on sk: rtt and replier for a reply to a pending
-- attempt, else nil (errors settled into st).
local function drain(st, sk)
  while true do
    local judge = next_judge(sk)
    if not judge then return nil end
    local now = core.monotime()
    local a, from = settle(st, sk, judge)
    if a then return math.max(now - a.sent, 1e-9), from end
  end
end

local function close_all(socks)
  for _, sk in pairs(socks) do sk.sock:close() end
end

-- Sends the echo request of st's next address (opening its family's
-- socket first): pending on success, else its error kept in st.
local function start_attempt(st)
  local r = st.addrs[st.nexti]
  st.nexti = st.nexti + 1
  local sk = st.socks[r.family]
  if not sk then
    local err, code
    sk, err, code = open_socket(r.family, st.opts)
    if not sk then
      st.err, st.code = err, code
      return
    end
    st.socks[r.family] = sk
  end
  local a = { sk = sk, addr = r.addr, seq = (st.seq0 + st.nexti) & 0xffff }
  a.payload = payload(st.token, a.seq, st.size)
  local msg = icmp.echo { family = r.family, id = sk.id, seq = a.seq, data = a.payload }
  a.sent = core.monotime()
  local n, e, c = sk.sock:sendto(msg, r.addr)
  if n then
    st.pending[#st.pending + 1] = a
    st.next_start = core.monotime() + ATTEMPT_DELAY
  else
    st.err, st.code = e, c
  end
end

-- Waits (within the call's deadline, and until the next attempt is due)
-- for st's sockets, then reads the ready ones: rtt, replier for a reply;
-- nil, message, code when the wait failed; nil when the loop goes on.
local function wait_and_read(st, waiter, left)
  local fds = {}
  for _, sk in pairs(st.socks) do fds[#fds + 1] = sk.sock:getfd() end
  local ready, e, c = waiter.wait(fds, {}, left)
  if not ready then return nil, e, c end
  for _, sk in pairs(st.socks) do
    if ready[sk.sock:getfd()] then
      local rtt, from = drain(st, sk)
      if rtt then return rtt, from end
    end
  end
  return nil
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
--   "EHOSTUNREACH" and the like (either kind of socket); or why no socket or
--   address could be had
-- @raise on bad options
function M.ping(host, opts)
  if type(host) == "number" then host = tostring(host) end -- as the C functions take it
  opts = check_opts(opts)
  local waiter = waiters.current(opts)
  local deadline = core.monotime() + (opts.timeout or DEFAULT_TIMEOUT)
  local addrs, err, code = resolve(waiter, host, opts, deadline)
  if not addrs then return nil, err, code end
  local st = { opts = opts, addrs = addrs, nexti = 1, next_start = core.monotime(), socks = {}, pending = {},
    token = random_token(), seq0 = math.random(0, 0xffff), size = opts.size or DEFAULT_SIZE }
  local function finish(...)
    close_all(st.socks)
    return ...
  end
  while true do
    if st.nexti <= #addrs and core.monotime() >= st.next_start then start_attempt(st) end
    if #st.pending == 0 and st.nexti > #addrs then return finish(nil, st.err, st.code) end
    local left = until_time(deadline)
    if left == 0 then return finish(nil, "timeout", "ETIMEDOUT") end
    if st.nexti <= #addrs then left = math.min(left, until_time(st.next_start)) end
    local rtt, from, c = wait_and_read(st, waiter, left)
    if rtt or from then return finish(rtt, from, c) end
  end
end

return M
