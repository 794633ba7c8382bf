--- Connecting by name with Happy Eyeballs v2 (RFC 8305).
-- `connect(host, port[, opts])` resolves the name with getaddrinfo's
-- `addrconfig`, and without it when that gives nothing (a loopback-only
-- host, which `addrconfig` hides), then races the addresses: IPv6 first,
-- families interleaved, a new attempt every 250 ms while earlier ones are
-- pending, and at once after an attempt fails; the first to connect wins
-- and the others are closed. `opts.timeout` bounds the whole call, name
-- resolution included. Every wait and lookup goes through the waiter
-- (dualstack.wait): inside a cqueues or ds.luv.spawn coroutine the loop
-- runs while the race is in progress.
-- @module dualstack.connect
local core = require "dualstack.core"
local waiters = require "dualstack.wait"

local M = {}

local ATTEMPT_DELAY = 0.25

-- RFC 8305 section 4: alternate families, starting with IPv6.
local function interleave(list)
  local v6, v4 = {}, {}
  for _, r in ipairs(list) do
    local t = r.family == "inet6" and v6 or v4
    t[#t + 1] = r
  end
  local out = {}
  for i = 1, math.max(#v6, #v4) do
    out[#out + 1] = v6[i]
    out[#out + 1] = v4[i]
  end
  return out
end
M.interleave = interleave -- for ds.ping (issue 17)

-- Seconds from now until the time at, never negative: the clock may pass
-- it between the deadline check and this read, and poll takes a negative
-- wait as "for ever".
local function until_time(at, now)
  return math.max(0, at - now())
end

local function resolve(waiter, host, port, opts, deadline)
  if opts.numeric and not waiters.is_numeric(host) then return waiters.refuse_name(host) end
  local function lookup(hints)
    hints.resolver = opts.resolver
    -- numeric text is answered at once: no clock read for it
    hints.timeout = deadline and not waiters.is_numeric(host) and until_time(deadline, core.monotime) or nil
    return waiter.resolve(host, port, hints)
  end
  local list, err, code = lookup { socktype = "stream", addrconfig = true }
  if not list or #list == 0 then -- addrconfig hides loopback-only hosts
    if code == "ETIMEDOUT" then return nil, err, code end
    list, err, code = lookup { socktype = "stream" }
  end
  if list and #list == 0 then return nil, "no address for " .. host, "EAI_NONAME" end
  return list, err, code
end

-- Starts a non-blocking attempt; returns the socket and whether it is
-- already connected, or nil, message, code.
local function start(r, port, opts)
  local s, err, code = core.tcp { family = r.family }
  if not s then return nil, err, code end
  s:settimeout(0)
  local ok = true
  -- opts.device: bound before connect, so the SYN leaves by that interface
  if opts.device ~= nil then ok, err, code = s:setoption("device", opts.device) end
  if not ok then
    s:close()
    return nil, err, code
  end
  ok, err, code = s:connect(r.addr, port)
  if ok then return s, true end
  if code == "ETIMEDOUT" then return s, false end -- in progress
  s:close()
  return nil, err, code
end

-- A pending attempt whose socket turned writable has finished: asking
-- connect again gives its outcome (EISCONN means it succeeded).
local function outcome(a, port)
  local ok, err, code = a.sock:connect(a.addr, port)
  if ok or code == "EISCONN" then return true end
  return false, err, code
end

local function close_attempts(pending, keep)
  for _, a in ipairs(pending) do
    if a.sock ~= keep then a.sock:close() end
  end
end

local function winner(s, pending)
  close_attempts(pending, s)
  s:settimeout(nil)
  return s
end

-- opts.timeout, checked before anything starts: a NaN or negative one
-- would reach poll as "for ever" or raise there, naming poll's argument.
local function check_opts(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error("bad argument #3 to 'connect' (table expected, got " .. type(opts) .. ")", 3)
  end
  local t = opts.timeout
  if t ~= nil and (type(t) ~= "number" or t ~= t or t < 0) then
    error("bad argument #3 to 'connect' (timeout must be a number >= 0)", 3)
  end
  local w = opts.waiter
  if w ~= nil and not waiters.check(w) then
    error("bad argument #3 to 'connect' (option 'waiter': a table with wait and resolve expected)", 3)
  end
  if opts.numeric ~= nil and type(opts.numeric) ~= "boolean" then
    error("bad argument #3 to 'connect' (option 'numeric': boolean expected, got " .. type(opts.numeric) .. ")", 3)
  end
  local d = opts.device
  if d ~= nil and d ~= false and type(d) ~= "string" and math.type(d) ~= "integer" then
    error("bad argument #3 to 'connect' (option 'device': interface name or index expected, got " .. type(d) .. ")", 3)
  end
  return opts
end

--- Connects to host and port, racing its addresses (see the module).
-- @tparam string host a name or a numeric address
-- @tparam integer port the destination port
-- @tparam[opt] table opts timeout: seconds for the whole call (default:
--   none); numeric: true makes a name an error, without any lookup; waiter:
--   the waiter to use (see dualstack.wait); resolver: a cqueues.dns
--   resolver pool for the cqueues waiter; device: an interface name or
--   index every attempt is bound to (setoption "device") before it connects
-- @treturn[1] socket a connected, blocking TCP socket
-- @return[2] nil, message, code: the last attempt's failure
--   ("connection refused", "ECONNREFUSED"...), "timeout", "ETIMEDOUT" when
--   opts.timeout ran out, or the resolver's ("no address for HOST",
--   "EAI_NONAME" when it gives none; "a numeric address is required:
--   'HOST'", "EAI_NONAME" for a name in numeric mode)
-- @raise when opts is not a table, opts.timeout is not a number >= 0,
--   opts.waiter not a waiter, opts.numeric not a boolean or opts.device
--   neither a string nor an integer
-- @usage
-- local sock = assert(ds.connect("localhost", 8080, {timeout = 5}))
function M.connect(host, port, opts)
  opts = check_opts(opts)
  local waiter = waiters.current(opts)
  local now = core.monotime
  local deadline = opts.timeout and now() + opts.timeout
  local list, err, code = resolve(waiter, host, port, opts, deadline)
  if not list then return nil, err, code end
  local addrs, pending, nexti = interleave(list), {}, 1
  local next_start = now()
  while true do
    if nexti <= #addrs and now() >= next_start then
      local r = addrs[nexti]
      nexti = nexti + 1
      local s, done, c = start(r, port, opts)
      if s and done then return winner(s, pending) end
      if s then
        pending[#pending + 1] = { sock = s, addr = r.addr }
        next_start = now() + ATTEMPT_DELAY
      else
        err, code = done, c
      end
    end
    if #pending == 0 and nexti > #addrs then return nil, err, code end
    if deadline and now() >= deadline then
      close_attempts(pending)
      return nil, "timeout", "ETIMEDOUT"
    end
    local wait = deadline and until_time(deadline, now)
    if nexti <= #addrs then
      local until_next = until_time(next_start, now)
      wait = wait and math.min(wait, until_next) or until_next
    end
    local fds = {}
    for i, a in ipairs(pending) do fds[i] = a.sock:getfd() end
    local rready, ready, c = waiter.wait({}, fds, wait)
    if not rready then
      close_attempts(pending)
      return nil, ready, c
    end
    for i = #pending, 1, -1 do
      local a = pending[i]
      if ready and ready[a.sock:getfd()] then
        local ok, e, c = outcome(a, port)
        if ok then return winner(a.sock, pending) end
        a.sock:close()
        table.remove(pending, i)
        err, code = e, c
        next_start = now() -- a failure starts the next attempt at once
      end
    end
  end
end

return M
