--- Pluggable waiting: what dualstack's Lua-level calls (ds.connect, the
-- listeners' accept and receives, ds.wait, ds.resolve) do when they have
-- to wait for a descriptor or a name. A waiter is a table
-- `{name =, wait = function(rfds, wfds, timeout), resolve = function(host,
-- port, hints), sleep = function(seconds)}`: `wait` returns two sets (fd ->
-- true) of the ready descriptors, empty on a timeout, as `core.poll` does;
-- `resolve` returns `core.getaddrinfo`'s list (hints may carry `timeout`
-- and, for cqueues, `resolver`).
--
-- Three are built in: `poll` (core.poll and getaddrinfo: blocks the
-- thread), `cqueues` (yields to the cqueues controller; names through
-- cqueues.dns) and `luv` (poll handles and timers of the default luv loop,
-- inside a coroutine started by `spawn`; names through uv.getaddrinfo). The
-- one used is, in order: opts.waiter of the call, the waiter set by
-- `setwaiter`, cqueues when it is loaded and the running coroutine is one
-- cqueues manages, luv when the running coroutine was started by `spawn`,
-- else poll. No loop library is ever loaded here: only `package.loaded`.
--
-- Several coroutines may wait on one descriptor at once (two acceptors on
-- one listener). The rule: wake or stop a coroutine before closing the
-- socket it waits on; a listener's close and `close` here do that. The
-- loop watches a descriptor number, not a socket: a plain `sock:close()`
-- under a waiting coroutine is not seen until its wait ends (cqueues then
-- fails the controller, "unable to update event disposition"; libuv may
-- watch whatever socket reuses the number). A wait that ends on a closed
-- socket returns `nil, "closed", "EBADF"`.
-- @module dualstack.wait
local core = require "dualstack.core"

local M = {}

local unpack = table.unpack

-- ---- shared pieces --------------------------------------------------------

-- A value's type as argument errors name it (a file is "FILE*").
local function type_name(v)
  return io.type(v) and "FILE*" or type(v)
end

-- A copy of getaddrinfo hints without the waiters' own keys (timeout,
-- resolver), which core.getaddrinfo does not take.
local function plain_hints(hints)
  local h = {}
  for k, v in pairs(hints or {}) do h[k] = v end
  h.timeout, h.resolver = nil, nil
  return h
end

-- Is host answered without a lookup (numeric text, or no host at all)?
local function is_numeric(host)
  return host == nil or core.family(host) ~= nil
end

-- Numeric text through getaddrinfo with numerichost: never a lookup, so it
-- never blocks, whatever the waiter.
local function resolve_numeric(host, port, hints)
  local h = plain_hints(hints)
  h.numerichost = host ~= nil or nil
  return core.getaddrinfo(host, port, h)
end

-- The descriptors of rfds and wfds, each once, with the events asked of it
-- ("r", "w" or "rw"), as an array of {fd, events}.
local function merge(rfds, wfds)
  local list, at = {}, {}
  for _, fd in ipairs(rfds) do
    if not at[fd] then
      list[#list + 1] = { fd, "r" }
      at[fd] = #list
    end
  end
  for _, fd in ipairs(wfds) do
    local i = at[fd]
    if not i then
      list[#list + 1] = { fd, "w" }
      at[fd] = #list
    elseif list[i][2] == "r" then
      list[i][2] = "rw"
    end
  end
  return list
end

-- Marks fd ready in the sets for what it was asked and got ("r", "w", "rw").
local function mark(rset, wset, fd, asked, got)
  if asked:find("r", 1, true) and got:find("r", 1, true) then rset[fd] = true end
  if asked:find("w", 1, true) and got:find("w", 1, true) then wset[fd] = true end
end

-- ---- poll: the thread waits -----------------------------------------------

--- The default waiter: core.poll and core.getaddrinfo. It blocks the
-- thread, so nothing else in it runs while a call waits.
-- @table poll
M.poll = {
  name = "poll",
  wait = function(rfds, wfds, timeout) return core.poll(rfds, wfds, timeout) end,
  resolve = function(host, port, hints)
    if is_numeric(host) then return resolve_numeric(host, port, hints) end
    return core.getaddrinfo(host, port, plain_hints(hints))
  end,
  sleep = function(seconds) core.poll({}, {}, seconds) end,
}

-- ---- cqueues: yield to the controller ---------------------------------------

local function cqueues_lib()
  local cq = package.loaded.cqueues
  if type(cq) ~= "table" then error("the cqueues waiter needs cqueues loaded", 3) end
  return cq
end

-- One cqueues.poll on the descriptors of list ({fd, events}) for at most
-- timeout seconds; the fds it returned, as the lists to confirm.
local function cqueues_poll_once(cqueues, list, timeout)
  local objs = {}
  for i, e in ipairs(list) do objs[i] = { pollfd = e[1], events = e[2] } end
  if timeout then objs[#objs + 1] = timeout end
  local ready = table.pack(cqueues.poll(unpack(objs, 1, #objs)))
  local r, w = {}, {}
  -- recverr (issue 17): on EPOLLERR alone cqueues wakes the coroutine but
  -- names no object; every descriptor is then a candidate to confirm.
  if ready.n == 0 then ready = table.pack(unpack(objs, 1, #list)) end
  for i = 1, ready.n do
    local o = ready[i]
    -- cqueues says which object, not which event: each asked is a candidate
    if type(o) == "table" and o.pollfd then
      if o.events:find("r", 1, true) then r[#r + 1] = o.pollfd end
      if o.events:find("w", 1, true) then w[#w + 1] = o.pollfd end
    end
  end
  return r, w
end

-- Waits through cqueues within one deadline. Returned descriptors are
-- confirmed with a zero-timeout core.poll: the cqueues.cancel of another
-- coroutine waiting on the same descriptor wakes this one too, and such a
-- wake is not readiness (it polls again while time is left).
local function cqueues_wait(rfds, wfds, timeout)
  local cqueues = cqueues_lib()
  local list = merge(rfds, wfds)
  local deadline = timeout and core.monotime() + timeout
  while true do
    local left = deadline and math.max(0, deadline - core.monotime())
    local r, w = cqueues_poll_once(cqueues, list, left)
    local rset, wset, code = {}, {}, nil
    if #r > 0 or #w > 0 then rset, wset, code = core.poll(r, w, 0) end
    if not rset or next(rset) or next(wset) or left == 0 then
      -- cqueues keeps a polled descriptor in its kernel set until told,
      -- and fails the whole controller (EBADF) once it is closed: take
      -- ours out before returning, so the caller may close a socket then.
      -- Not on a spurious wake, whose cancel would wake the others again.
      for _, e in ipairs(list) do cqueues.cancel(e[1]) end
      if not rset then return nil, wset, code end
      return rset, wset
    end
  end
end

-- The family asked in hints as the DNS record types to query, in
-- getaddrinfo's order for a host with both (IPv6 first).
local function record_types(hints)
  local family = hints and hints.family
  if family == "inet" then return { { "A", "inet" } } end
  if family == "inet6" then return { { "AAAA", "inet6" } } end
  return { { "AAAA", "inet6" }, { "A", "inet" } }
end

local PROTOCOLS = { stream = 6, dgram = 17 }

-- The port number of port (a number, numeric text or a service name,
-- looked up locally as getaddrinfo does), or nil, message, code.
local function port_number(port, socktype)
  if port == nil then return 0 end
  local n = math.tointeger(tonumber(port))
  if n then return n end
  local list, err, code = core.getaddrinfo(nil, port, { socktype = socktype })
  if not list then return nil, err, code end
  return list[1].port
end

local function cqueues_resolve(host, port, hints)
  if is_numeric(host) then return resolve_numeric(host, port, hints) end
  cqueues_lib()
  local dns = require "cqueues.dns" -- part of cqueues, which is loaded
  local pool = hints and hints.resolver or dns.getpool()
  local deadline = hints and hints.timeout and core.monotime() + hints.timeout
  local socktype = hints and hints.socktype or "stream"
  local portnum, perr, pcode = port_number(port, socktype)
  if not portnum then return nil, perr, pcode end
  local list, lasterr = {}, nil
  for _, t in ipairs(record_types(hints)) do
    local left = deadline and math.max(0, deadline - core.monotime())
    local pkt, err = pool:query(host, t[1], "IN", left)
    if not pkt then
      lasterr = err
    else
      for rr in pkt:grep { section = "answer", type = t[1] } do
        list[#list + 1] = {
          family = t[2], addr = rr:addr(), port = portnum,
          socktype = socktype, protocol = PROTOCOLS[socktype] or 0,
        }
      end
    end
  end
  if #list > 0 then return list end
  local errno = require "cqueues.errno"
  if lasterr == errno.ETIMEDOUT then return nil, "timeout", "ETIMEDOUT" end
  if lasterr and lasterr ~= 0 then
    return nil, "name resolution failed: " .. tostring(errno.strerror(lasterr) or lasterr), "EAI_FAIL"
  end
  return nil, "Name or service not known", "EAI_NONAME"
end

--- The cqueues waiter: waits by yielding `{pollfd =, events =}` objects
-- to the cqueues controller (cqueues.poll), so the controller's other
-- coroutines run meanwhile. Names go through cqueues.dns: the resolver
-- pool in hints.resolver (opts.resolver of ds.connect...), else cqueues'
-- default stub resolver, which reads /etc/hosts and /etc/resolv.conf (not
-- nsswitch). Numeric text is answered locally.
-- @table cqueues
M.cqueues = {
  name = "cqueues",
  wait = cqueues_wait,
  resolve = cqueues_resolve,
  sleep = function(seconds) cqueues_lib().sleep(seconds) end,
}

-- ---- luv: poll handles and timers, inside spawned coroutines ---------------

-- The coroutines started by spawn (weak: a finished one goes away).
local spawned = setmetatable({}, { __mode = "k" })
-- Errors of spawned coroutines not yet rethrown by run.
local failures = {}
local running_loop = false

local function luv_lib()
  local uv = package.loaded.luv
  if type(uv) ~= "table" then error("the luv waiter needs luv loaded", 3) end
  return uv
end

-- Resumes a spawned coroutine. An error in it is not lost inside a luv
-- callback: under run it is kept with its traceback and the loop stopped,
-- so run rethrows it; under a plain uv.run it is written to stderr (and
-- not kept, so no later run raises it).
local function resume(co, ...)
  local ok, err = coroutine.resume(co, ...)
  if ok then return end
  local msg = debug.traceback(co, tostring(err))
  if running_loop then
    failures[#failures + 1] = msg
    local uv = package.loaded.luv
    if type(uv) == "table" then uv.stop() end
  else
    io.stderr:write("dualstack.luv: error in a spawned coroutine: ", msg, "\n")
  end
end

local function spawned_coroutine()
  local co = coroutine.running()
  if not spawned[co] then error("the luv waiter must run in a coroutine started by dualstack.luv.spawn", 3) end
  return co
end

-- Runs start(done) and yields until done(...) is called (by a callback)
-- or the coroutine is resumed otherwise; returns true and done's values,
-- or false when resumed otherwise. cleanup closes what start made, on
-- every path, also when start raises (the error goes on).
local function suspend(start, cleanup)
  local co = spawned_coroutine()
  local fired, result = false, nil
  local function done(...)
    if fired then return end
    fired, result = true, table.pack(...)
    cleanup()
    if coroutine.running() ~= co then resume(co) end
  end
  local ok, err = pcall(start, done)
  if not ok then
    if not fired then
      fired = true
      cleanup()
    end
    error(err, 0)
  end
  if not fired then coroutine.yield() end
  if not fired then -- resumed by someone else: stop waiting
    fired = true
    cleanup()
    return false
  end
  return true, unpack(result, 1, result.n)
end

local function close_handle(h)
  if h and not h:is_closing() then h:close() end
end

-- libuv's timers take an int of milliseconds: a longer wait (math.huge
-- included) is cut to about 24.8 days, after which the caller's deadline
-- loop waits again.
local MAX_MS = 2 ^ 31 - 1

local function ms(seconds)
  if seconds >= MAX_MS / 1000 then return MAX_MS end
  return math.max(0, math.ceil(seconds * 1000))
end

-- luv's error text "CODE: message" (or a bare "CODE", as uv.getaddrinfo
-- gives) as message, code; a bare getaddrinfo code gets the message
-- core.getaddrinfo gives for it.
local GAI_MESSAGES = {
  EAI_ADDRFAMILY = "Address family for hostname not supported",
  EAI_AGAIN = "Temporary failure in name resolution",
  EAI_BADFLAGS = "Bad value for ai_flags",
  EAI_FAIL = "Non-recoverable failure in name resolution",
  EAI_FAMILY = "ai_family not supported",
  EAI_MEMORY = "Memory allocation failure",
  EAI_NODATA = "No address associated with hostname",
  EAI_NONAME = "Name or service not known",
  EAI_SERVICE = "Servname not supported for ai_socktype",
  EAI_SOCKTYPE = "ai_socktype not supported",
  EAI_OVERFLOW = "Argument buffer overflow",
  EAI_CANCELED = "Request canceled",
}

local function split_error(err, fallback)
  local text = tostring(err)
  if text:match("^[%u_%d]+$") then return GAI_MESSAGES[text] or text, text end
  local code, msg = text:match("^([%u_%d]+):%s*(.*)$")
  return msg or text, code or fallback or "EAI_FAIL"
end

-- Poll handles shared per descriptor (libuv refuses a second one on an fd,
-- EEXIST): fd -> {handle =, events =, waiters = {[w] = true}}, where a
-- waiter w is {asked = "r"|"w"|"rw", fire = function(got)}. The handle
-- watches what any waiter asks; a callback goes to each waiter whose
-- events fired; the last waiter to leave closes the handle.
local polls = {}

local function asked_of(entry)
  local r, w = false, false
  for wt in pairs(entry.waiters) do
    r = r or wt.asked:find("r", 1, true) ~= nil
    w = w or wt.asked:find("w", 1, true) ~= nil
  end
  return (r and "r" or "") .. (w and "w" or "")
end

local function fan_out(fd, entry, perr, got)
  -- libuv stops the handle on an error (POLLERR): a waiter joining from
  -- here must start it again
  if perr then entry.events = "" end
  local list = {}
  for wt in pairs(entry.waiters) do list[#list + 1] = wt end
  for _, wt in ipairs(list) do
    -- a waiter may have left meanwhile (a resumed coroutine ran on)
    if polls[fd] == entry and entry.waiters[wt] then
      -- an error on the descriptor is readiness: the call reports it
      local ev = perr and wt.asked or got or wt.asked
      if (wt.asked:find("r", 1, true) and ev:find("r", 1, true))
        or (wt.asked:find("w", 1, true) and ev:find("w", 1, true)) then
        wt.fire(ev)
      end
    end
  end
end

-- Starts (or restarts with new events) the handle of fd for what its
-- waiters ask, or closes it when none is left.
local function poll_update(fd, entry)
  local ev = asked_of(entry)
  if ev == "" then
    polls[fd] = nil
    close_handle(entry.handle)
  elseif ev ~= entry.events then
    entry.events = ev
    entry.handle:start(ev, function(perr, got) fan_out(fd, entry, perr, got) end)
  end
end

-- Adds waiter wt on fd; nil, message, code when libuv refuses the fd.
local function poll_join(uv, fd, wt)
  local entry = polls[fd]
  if not entry then
    local h, err, code = uv.new_socket_poll(fd)
    if not h then
      local msg, c = split_error(err, "EBADF")
      return nil, msg, code or c
    end
    entry = { handle = h, events = "", waiters = {} }
    polls[fd] = entry
  end
  entry.waiters[wt] = true
  poll_update(fd, entry)
  return true
end

local function poll_leave(fd, wt)
  local entry = polls[fd]
  if entry and entry.waiters[wt] then
    entry.waiters[wt] = nil
    poll_update(fd, entry)
  end
end

local function luv_wait(rfds, wfds, timeout)
  local uv = luv_lib()
  local rset, wset = {}, {}
  local joined, timer = {}, nil
  local function cleanup()
    for fd, wt in pairs(joined) do poll_leave(fd, wt) end
    close_handle(timer)
  end
  local failed
  suspend(function(done)
    for _, e in ipairs(merge(rfds, wfds)) do
      local fd, asked = e[1], e[2]
      local wt = { asked = asked, fire = function(got)
        mark(rset, wset, fd, asked, got)
        done()
      end }
      local ok, err, code = poll_join(uv, fd, wt)
      if not ok then
        failed = { nil, err, code }
        return done()
      end
      joined[fd] = wt
    end
    if timeout then
      timer = uv.new_timer()
      timer:start(ms(timeout), 0, done)
    end
  end, cleanup)
  if failed then return unpack(failed, 1, 3) end
  return rset, wset
end

-- luv's protocol names as core.getaddrinfo's numbers.
local PROTOCOL_NUMBERS = { tcp = 6, udp = 17 }

local function luv_resolve(host, port, hints)
  if is_numeric(host) then return resolve_numeric(host, port, hints) end
  local uv = luv_lib()
  local timeout = hints and hints.timeout
  local h = plain_hints(hints)
  local req, timer
  local function cleanup()
    close_handle(timer)
    if req then pcall(uv.cancel, req) end
  end
  local woke, ok, list, err = suspend(function(done)
    local started, e = uv.getaddrinfo(host, port and tostring(port), h, function(e, res)
      req = nil
      if e then return done(false, nil, e) end
      done(true, res)
    end)
    if not started then return done(false, nil, e) end -- refused before any work
    req = started
    if timeout then
      timer = uv.new_timer()
      timer:start(ms(timeout), 0, function() done(false, nil, "ETIMEDOUT: timeout") end)
    end
  end, cleanup)
  if not woke then
    return nil, "lookup interrupted: the coroutine was resumed while it waited for the name", "EINTR"
  end
  if not ok then
    local msg, code = split_error(err)
    return nil, msg, code
  end
  local out = {}
  for _, r in ipairs(list) do
    if r.family == "inet" or r.family == "inet6" then
      out[#out + 1] = { family = r.family, addr = r.addr, port = r.port or tonumber(port) or 0,
        socktype = r.socktype, protocol = PROTOCOL_NUMBERS[r.protocol] or r.protocol }
    end
  end
  return out
end

local function luv_sleep(seconds)
  local uv = luv_lib()
  local t
  suspend(function(done)
    t = uv.new_timer()
    t:start(ms(seconds), 0, done)
  end, function() close_handle(t) end)
end

-- Takes fd's poll handle away from its waiters (stopped and closed, as
-- libuv wants before the descriptor is closed); the waiters, to wake.
local function poll_detach(fd)
  local entry = polls[fd]
  if not entry then return {} end
  polls[fd] = nil
  close_handle(entry.handle)
  local list = {}
  for wt in pairs(entry.waiters) do list[#list + 1] = wt end
  return list
end

--- The luv waiter: inside a coroutine started by `spawn`, waits with one
-- uv poll handle per descriptor (shared by the coroutines waiting on it)
-- and one uv timer, yielding until a
-- callback resumes it; names go through uv.getaddrinfo (libuv's thread
-- pool, glibc's resolver with nsswitch). Other coroutines and callbacks of
-- the loop run meanwhile.
-- @table luv
M.luv = {
  name = "luv",
  wait = luv_wait,
  resolve = luv_resolve,
  sleep = luv_sleep,
}

--- Starts fn(...) in a new coroutine whose dualstack calls wait through
-- the luv loop (`uv.run` drives it). It runs at once until its first
-- wait. An error in it is not lost: under `run` it stops the loop and is
-- rethrown by `run`; when the loop runs without `run` it is written to
-- stderr (and not kept for a later `run`).
-- @tparam function fn the coroutine's body
-- @param ... its arguments
-- @treturn thread the coroutine
-- @usage
-- ds.luv.spawn(function() local c = assert(ds.connect("localhost", 80)) end)
-- ds.luv.run()
function M.spawn(fn, ...)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  local co = coroutine.create(fn)
  spawned[co] = true
  resume(co, ...)
  return co
end

--- Runs the luv loop (`uv.run(mode)`), then raises the first error a
-- spawned coroutine raised meanwhile (with its traceback).
-- @tparam[opt] string mode uv.run's mode ("default", "once", "nowait")
-- @return what uv.run returns
-- @raise the error of a spawned coroutine
function M.run(mode)
  local uv = luv_lib()
  running_loop = true
  local ok, r = pcall(uv.run, mode)
  running_loop = false
  if not ok then error(r, 0) end
  if #failures > 0 then
    local msg = table.remove(failures, 1)
    failures = {}
    error(msg, 0)
  end
  return r
end

-- ---- choosing -------------------------------------------------------------

local default = nil

--- Is w a waiter (a table with wait and resolve functions)? The one check
-- of setwaiter and of opts.waiter in ds.connect and the listeners.
-- @param w the value to test
-- @treturn boolean
function M.check(w)
  return type(w) == "table" and type(w.wait) == "function" and type(w.resolve) == "function"
end

--- Sets the waiter every call uses when it gives no opts.waiter (nil
-- restores automatic detection).
-- @tparam[opt] table w a waiter (`dualstack.wait.poll`, `.cqueues`, `.luv` or your own)
-- @treturn table|nil the waiter set before
-- @raise when w is neither nil nor a waiter
function M.setwaiter(w)
  if w ~= nil and not M.check(w) then
    error("bad argument #1 to 'setwaiter' (waiter expected: a table with wait and resolve)", 2)
  end
  local old = default
  default = w
  return old
end

--- The waiter a call uses now (see the module for the order).
-- @tparam[opt] table opts the call's options (opts.waiter)
-- @treturn table the waiter
function M.current(opts)
  local w = opts and opts.waiter
  if w then return w end
  if default then return default end
  local cq = package.loaded.cqueues
  if type(cq) == "table" and type(cq.running) == "function" and select(2, cq.running()) then
    return M.cqueues
  end
  local co, main = coroutine.running()
  if not main and spawned[co] and type(package.loaded.luv) == "table" then return M.luv end
  return M.poll
end

--- The error a numeric-only call gives for a name.
-- @tparam string host the name
-- @return nil, "a numeric address is required: 'HOST'", "EAI_NONAME"
function M.refuse_name(host)
  return nil, ("a numeric address is required: '%s'"):format(tostring(host)), "EAI_NONAME"
end

--- Is host numeric text (or nil), so no lookup is needed?
-- @tparam string|nil host the text to test
-- @treturn boolean
M.is_numeric = is_numeric

local HINTS = { "family", "socktype", "passive", "v4mapped", "all", "addrconfig", "canonname",
  "numericserv", "resolver", "timeout" }

--- Resolves host and port through the current waiter, so a loop keeps
-- running while a name is looked up.
-- @tparam string|nil host a name or numeric text
-- @tparam[opt] integer|string port the port (or service name) each result carries
-- @tparam[opt] table opts getaddrinfo's hints (family, socktype, passive,
--   addrconfig, ...), plus numeric (true: a name is an error, no lookup),
--   waiter, timeout (seconds for the lookup, where the waiter can bound it)
--   and resolver (a cqueues.dns resolver pool, for the cqueues waiter)
-- @treturn[1] table a list of {family, addr, port, socktype, protocol}, as core.getaddrinfo
-- @return[2] nil, message, code ("a numeric address is required: 'HOST'",
--   "EAI_NONAME" in numeric mode)
-- @usage local list = assert(ds.resolve("localhost", 80, {socktype = "stream"}))
function M.resolve(host, port, opts)
  if type(host) == "number" then host = tostring(host) end -- as the C functions take it
  if host ~= nil and type(host) ~= "string" then
    error("bad argument #1 to 'resolve' (string expected, got " .. type_name(host) .. ")", 2)
  end
  if host == nil and port == nil then error("bad argument #1 to 'resolve' (host or port required)", 2) end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #3 to 'resolve' (table expected, got " .. type_name(opts) .. ")", 2)
  end
  opts = opts or {}
  if opts.numeric and not is_numeric(host) then return M.refuse_name(host) end
  local hints = {}
  for _, k in ipairs(HINTS) do hints[k] = opts[k] end
  return M.current(opts).resolve(host, port, hints)
end

--- Has any of socks been closed (while a wait was on)?
-- @tparam {socket,...} socks the sockets
-- @treturn boolean
function M.closed(socks)
  for _, s in ipairs(socks) do
    if s:getfd() < 0 then return true end
  end
  return false
end

--- What a wait that ended on a closed socket returns.
-- @return nil, "closed", "EBADF"
function M.closed_error()
  return nil, "closed", "EBADF"
end

--- Closes the sockets, waking the coroutines that wait on them (they
-- find them closed: `nil, "closed", "EBADF"`) instead of leaving them to
-- sleep their whole timeout on a descriptor the loop still watches. A
-- listener's close does this; use it for a socket other coroutines may be
-- waiting on. Under cqueues the waiters are woken by cqueues.cancel before
-- the close, under luv their poll handles are closed first and they are
-- resumed after it.
-- @tparam {socket,...} socks the sockets
function M.close(socks)
  local cq = package.loaded.cqueues
  local woken = {}
  for _, s in ipairs(socks) do
    local fd = s:getfd()
    if fd >= 0 then
      if type(cq) == "table" and type(cq.cancel) == "function" then cq.cancel(fd) end
      for _, wt in ipairs(poll_detach(fd)) do woken[#woken + 1] = wt end
    end
  end
  for _, s in ipairs(socks) do s:close() end
  for _, wt in ipairs(woken) do wt.fire(wt.asked) end
end

-- The sockets of obj: a listener's, or obj itself when it is a socket;
-- nil for anything else.
local function sockets_of(obj)
  local mt = (type(obj) == "table" or type(obj) == "userdata") and getmetatable(obj)
  local name = type(mt) == "table" and mt.__name
  if name == "dualstack.socket" then return { obj } end
  if name == "dualstack.tcplistener" or name == "dualstack.udplistener" then return obj:sockets() end
  return nil
end


--- Waits until obj can go on: a socket (or every socket of a listener) is
-- ready for what its `events()` asks ("r" to receive or accept, "w" while a
-- connect or send is pending). Buffered data (`dirty()`) is ready at once.
-- Goes through the current waiter, so inside cqueues or a luv coroutine
-- the loop runs meanwhile. With settimeout(0) sockets this is the loop-
-- friendly way to wait: `while not s:accept() do ds.wait(s) end`.
-- @param obj a socket or a listener
-- @tparam[opt] number timeout seconds (default: no limit)
-- @tparam[opt] table opts waiter
-- @treturn[1] boolean true when ready
-- @return[2] nil, "timeout", "ETIMEDOUT"; nil, "closed", "EBADF" when
--   the socket was closed while this waited (do not: see the module)
-- @raise when obj is closed or timeout is not a number >= 0
function M.wait(obj, timeout, opts)
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    error("bad argument #2 to 'wait' (timeout must be a number >= 0)", 2)
  end
  local socks = sockets_of(obj)
  if not socks then
    error("bad argument #1 to 'wait' (dualstack socket or listener expected, got " .. type_name(obj) .. ")", 2)
  end
  local rfds, wfds = {}, {}
  for _, s in ipairs(socks) do
    local fd = s:getfd()
    if fd < 0 then error("bad argument #1 to 'wait' (attempt to use a closed socket)", 2) end
    if s.dirty and s:dirty() then return true end
    local ev = s:events()
    if ev:find("r", 1, true) then rfds[#rfds + 1] = fd end
    if ev:find("w", 1, true) then wfds[#wfds + 1] = fd end
  end
  local waiter = M.current(opts)
  local deadline = timeout and core.monotime() + timeout
  while true do
    local left = deadline and math.max(0, deadline - core.monotime())
    local r, w, code = waiter.wait(rfds, wfds, left)
    if M.closed(socks) then return M.closed_error() end
    if not r then return nil, w, code end
    if next(r) or next(w) then return true end
    if left == 0 then return nil, "timeout", "ETIMEDOUT" end
  end
end

return M
