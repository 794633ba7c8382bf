-- Listeners: TCP and UDP servers for IPv4 and IPv6 clients through one
-- object, over one dual-stack socket or, where a dual-stack socket cannot
-- be had (or opts.dualstack is false), one socket per family on one port.
-- The reference (ds.listen, ds.udp_listen and the listener type) is in
-- docs/dualstack.luadoc, on the dualstack page with the socket's: plain
-- comments here, so LDoc shows the listener once.
local core = require "dualstack.core"
local waiters = require "dualstack.wait"

local M = {}

local unpack = table.unpack

-- The methods of every listener, TCP and UDP: one type, as a socket is
-- one type for both. A method for the other kind raises, as a socket's does.
local Listener = {}

local function need(self, kind, fname)
  if self.kind ~= kind then
    error(("calling '%s' on bad self (%s listener expected, got %s listener)"):format(fname, kind, self.kind), 3)
  end
end

-- ---- waiting on several sockets -------------------------------------------

-- Tries op on the sockets, starting after the one served last so neither
-- family starves; with ready (poll's set of fds), only on those. The
-- results packed, or nil when every one would block.
local function try_each(self, op, fds, ready)
  local socks = self.socks
  for k = 1, #socks do
    local i = (self.last + k - 1) % #socks + 1
    if not ready or ready[fds[i]] then
      local r = table.pack(op(socks[i])) -- all of them: recvfrom may give five
      if r[1] or r[3] ~= "ETIMEDOUT" then
        self.last = i
        return r
      end
    end
  end
  return nil
end

-- The deadline of a call of the listener: its timeout from now, or nil.
local function deadline_of(self)
  return self.timeout and core.monotime() + self.timeout
end

-- Runs op(sock) on a socket that has something to receive. The sockets
-- are non-blocking, so op is tried on each at once (which also raises on
-- bad arguments before any wait), then the waiter (dualstack.wait: the
-- thread's poll, or the event loop's) waits on them together, within the
-- listener's one deadline.
local function on_ready(self, op)
  local socks = self.socks
  local fds = {}
  for i, s in ipairs(socks) do -- as a socket says, not poll
    fds[i] = s:getfd()
    if fds[i] < 0 then error("attempt to use a closed socket", 3) end
  end
  local deadline = deadline_of(self)
  local r = try_each(self, op, fds)
  local waiter
  while not r do
    local wait = deadline and math.max(0, deadline - core.monotime())
    if wait == 0 then return nil, "timeout", "ETIMEDOUT" end
    waiter = waiter or waiters.current(self)
    local ready, err, code = waiter.wait(fds, {}, wait)
    if waiters.closed(socks) then return waiters.closed_error() end
    if not ready then return nil, err, code end
    r = try_each(self, op, fds, ready)
  end
  return table.unpack(r, 1, r.n)
end

-- Waits until socket s can send, through the waiter, before deadline.
-- True to try again, or nil, message, code (a timeout, a closed socket,
-- the waiter's failure).
local function writable(self, s, deadline)
  local wait = deadline and math.max(0, deadline - core.monotime())
  if wait == 0 then return nil, "timeout", "ETIMEDOUT" end
  local fd = s:getfd()
  if fd < 0 then return waiters.closed_error() end
  local ready, err, code = waiters.current(self).wait({}, { fd }, wait)
  if s:getfd() < 0 then return waiters.closed_error() end
  if not ready then return nil, err, code end
  return true
end

-- Runs send() (one send on socket s, non-blocking) until it does not
-- find the send buffer full, waiting for s to be writable within the
-- deadline, as on_ready waits to receive: sends block as the listener's
-- timeout says. Returns send's results, or the wait's failure.
local function on_writable(self, s, deadline, send)
  while true do
    local r = table.pack(send())
    if r[1] or r[3] ~= "ETIMEDOUT" then return table.unpack(r, 1, r.n) end
    local ok, err, code = writable(self, s, deadline)
    if not ok then return nil, err, code end
  end
end

-- A batch through socket s: send(first) sends the entries first..last of
-- the batch (last - first + 1 of them), with the socket's results (count,
-- or nil, message, code, sent). Entries the buffer had no room for are
-- sent after a wait within the deadline; the results are the batch's:
-- the count, or the failure with sent counting every entry sent.
local function batch_writable(self, s, deadline, first, last, send)
  local total = 0
  while true do
    local n, err, code, sent = send(first + total)
    if n then return total + n end
    total = total + (sent or 0)
    if code ~= "ETIMEDOUT" then return nil, err, code, total end
    local ok
    ok, err, code = writable(self, s, deadline)
    if not ok then return nil, err, code, total end
  end
end

-- ---- which socket carries which family ------------------------------------

-- Does socket s carry traffic of family ("inet" or "inet6")?
local function serves(s, family)
  local own = s:getfamily()
  return own == "dual" or own == family
end

-- The family of addr: numeric text says it (mapped is IPv4), a name is
-- looked up through the waiter (not in numeric mode); nil when neither tells.
local function family_of(self, addr)
  if type(addr) ~= "string" then return nil end
  local family = core.family(addr)
  if family then return core.is_mapped(addr) and "inet" or family end
  if self.numeric then return nil end
  local list = waiters.current(self).resolve(addr, nil, { socktype = "dgram", resolver = self.resolver })
  return list and list[1] and list[1].family
end

-- The socket that carries traffic for addr: the first of its family, else
-- the first socket (which then reports the address as it would).
local function socket_for(self, addr)
  local socks = self.socks
  if #socks == 1 then return socks[1] end
  local family = family_of(self, addr)
  for _, s in ipairs(socks) do
    if family and serves(s, family) then return s end
  end
  return socks[1]
end

-- ---- batches over several sockets ------------------------------------------

-- The runs of consecutive entries of list that one socket carries, as
-- {sock, first, last}; nil when list is not a list of at most 1024 tables
-- (the socket's own call then raises naming what is wrong). sock_of(entry)
-- picks the socket of a table.
local function runs_of(list, sock_of)
  if type(list) ~= "table" then return nil end
  local n = rawlen(list)
  if n > 1024 then return nil end
  local runs = {}
  for i = 1, n do
    local entry = rawget(list, i)
    if type(entry) ~= "table" then return nil end
    local s = sock_of(entry)
    local last = runs[#runs]
    if last and last[1] == s then last[3] = i else runs[#runs + 1] = { s, i, i } end
  end
  return runs
end

local function slice(list, first, last)
  return table.move(list, first, last, 1, {})
end

-- Sends runs in order, send(sock, first, last) each: the results of one
-- batch call, counting the messages of earlier runs in the sent value.
local function send_runs(runs, send)
  local total = 0
  for _, r in ipairs(runs) do
    local n, err, code, sent = send(r[1], r[2], r[3])
    if not n then return nil, err, code, total + sent end
    total = total + n
  end
  return total
end

-- ---- the methods ---------------------------------------------------------

function Listener:sockets()
  return table.move(self.socks, 1, #self.socks, 1, {})
end

function Listener:getsockname()
  return self.socks[1]:getsockname()
end

function Listener:getfd()
  return self.socks[1]:getfd()
end

-- The sockets are non-blocking whatever the listener's timeout: on_ready
-- (receives) and on_writable (sends) wait, through the waiter, within it.
function Listener:settimeout(seconds)
  if seconds ~= nil and type(seconds) ~= "number" then
    error("bad argument #1 to 'settimeout' (number expected, got " .. type(seconds) .. ")", 2)
  end
  -- NaN would read as "no timeout" here; a socket raises for it too.
  if seconds ~= seconds then error("bad argument #1 to 'settimeout' (timeout is NaN)", 2) end
  self.timeout = (seconds and seconds >= 0) and seconds or nil
  return 1
end

function Listener:gettimeout()
  return self.timeout
end

-- Coroutines waiting on the sockets wake and find them closed.
function Listener:close()
  waiters.close(self.socks)
  return 1
end

-- Every socket takes the option, so each family's traffic follows it; the
-- first refusal stops (the sockets before it keep the value). v6only is
-- what made the listener's sockets and is fixed once they are bound.
function Listener:setoption(name, value)
  if name == "v6only" then
    error("bad argument #1 to 'setoption' (a listener's v6only is chosen when it is made: opts.v6only)", 2)
  end
  for _, s in ipairs(self.socks) do
    local ok, err, code = s:setoption(name, value)
    if not ok then return nil, err, code end
  end
  return 1
end

-- The first socket's value (setoption gives every socket the same), but
-- v6only answers for the listener: true when no socket carries IPv4.
function Listener:getoption(name)
  if name == "v6only" then
    for _, s in ipairs(self.socks) do
      if serves(s, "inet") then return false end
    end
    return true
  end
  return self.socks[1]:getoption(name)
end

function Listener:accept()
  need(self, "tcp", "accept")
  return on_ready(self, function(s) return s:accept() end)
end

function Listener:recvmsg(size, msg)
  need(self, "udp", "recvmsg")
  return on_ready(self, function(s) return s:recvmsg(size, msg) end)
end

function Listener:recvfrom(size)
  need(self, "udp", "recvfrom")
  return on_ready(self, function(s) return s:recvfrom(size) end)
end

function Listener:recvmmsg(n, size, msgs)
  need(self, "udp", "recvmmsg")
  return on_ready(self, function(s) return s:recvmmsg(n, size, msgs) end)
end

-- Sends wait for room in the send buffer as receives wait for data:
-- within the listener's timeout, through the waiter.
function Listener:reply(req, data)
  need(self, "udp", "reply")
  local deadline = deadline_of(self)
  local s = socket_for(self, type(req) == "table" and req.addr)
  return on_writable(self, s, deadline, function() return s:reply(req, data) end)
end

function Listener:sendmsg(msg)
  need(self, "udp", "sendmsg")
  local deadline = deadline_of(self)
  local s = socket_for(self, type(msg) == "table" and msg.addr)
  return on_writable(self, s, deadline, function() return s:sendmsg(msg) end)
end

function Listener:sendto(data, host, port, src, ifindex)
  need(self, "udp", "sendto")
  if self.numeric and type(host) == "string" and not waiters.is_numeric(host) then
    return waiters.refuse_name(host)
  end
  local deadline = deadline_of(self)
  local s = socket_for(self, host)
  return on_writable(self, s, deadline, function() return s:sendto(data, host, port, src, ifindex) end)
end

-- Sends the batch (lists of n entries, parallel: messages, or requests
-- and answers) through runs ({sock, first, last}; nil or one run: the
-- socket's one call, on the run's socket or the first), each run waiting
-- for room within the one deadline. call(sock, lists...) is the socket's
-- batch call; a run is given slices of the lists, the whole call the
-- lists themselves (so the socket raises on what is wrong with them).
local function send_batch(self, deadline, runs, call, ...)
  local lists = table.pack(...)
  local n = type(lists[1]) == "table" and rawlen(lists[1]) or 0
  if not runs or #runs <= 1 then
    runs = { { runs and runs[1] and runs[1][1] or self.socks[1], 1, n } }
  end
  return send_runs(runs, function(s, i, j)
    return batch_writable(self, s, deadline, i, j, function(from)
      if from == 1 and j == n then return call(s, unpack(lists, 1, lists.n)) end
      local parts = {}
      for k = 1, lists.n do parts[k] = slice(lists[k], from, j) end
      return call(s, unpack(parts, 1, lists.n))
    end)
  end)
end

-- With one socket the call is the socket's. With several, each message
-- goes through the socket of its addr's family, in runs of consecutive
-- messages of one socket, in order: the count and the failure's sent
-- value still count a prefix of the list.
function Listener:sendmmsg(list)
  need(self, "udp", "sendmmsg")
  local deadline = deadline_of(self)
  local runs = #self.socks > 1 and runs_of(list, function(m) return socket_for(self, m.addr) end)
  return send_batch(self, deadline, runs, function(s, l) return s:sendmmsg(l) end, list)
end

function Listener:replymmsg(reqs, answers)
  need(self, "udp", "replymmsg")
  local deadline = deadline_of(self)
  local runs = #self.socks > 1 and type(reqs) == "table" and type(answers) == "table"
    and rawlen(answers) == rawlen(reqs)
    and runs_of(reqs, function(r) return socket_for(self, r.addr) end)
  if runs then
    for i = 1, #reqs do
      if type(rawget(answers, i)) ~= "string" then runs = nil; break end
    end
  end
  return send_batch(self, deadline, runs, function(s, r, a) return s:replymmsg(r, a) end, reqs, answers)
end

-- The sockets of the group's family (a dual one serves both); a failure
-- leaves the groups joined before it, so the listener is as it was. A
-- group no socket can carry is the first socket's to refuse.
local function members(self, group)
  local family = type(group) == "string" and core.family(group)
  if family and core.is_mapped(group) then family = "inet" end
  local list = {}
  for _, s in ipairs(self.socks) do
    if family and serves(s, family) then list[#list + 1] = s end
  end
  if #list == 0 then list[1] = self.socks[1] end
  return list
end

function Listener:join(group, iface, source)
  need(self, "udp", "join")
  local joined = {}
  for _, s in ipairs(members(self, group)) do
    local ok, err, code = s:join(group, iface, source)
    if not ok then
      for _, j in ipairs(joined) do j:leave(group, iface, source) end
      return nil, err, code
    end
    joined[#joined + 1] = s
  end
  return 1
end

-- Every socket that joined leaves; the first refusal stops.
function Listener:leave(group, iface, source)
  need(self, "udp", "leave")
  for _, s in ipairs(members(self, group)) do
    local ok, err, code = s:leave(group, iface, source)
    if not ok then return nil, err, code end
  end
  return 1
end

-- ---- recverr: the error queues of the sockets (issue 17) -----------------

-- The first entry any socket has (each asked with timeout 0, which drains
-- its kernel queue), starting after the one served last; nil when none.
local function first_error(self)
  local socks = self.socks
  for k = 1, #socks do
    local i = (self.last + k - 1) % #socks + 1
    local e, err, code = socks[i]:recverr(0)
    if e or code ~= "ETIMEDOUT" then
      self.last = i
      return { e, err, code }
    end
  end
  return nil
end

-- Seconds recverr naps after a wake that brought no error (a datagram
-- waiting to be read keeps the sockets readable): the waiters wait for
-- readability, which an error also gives, not for errors alone.
local RECVERR_NAP = 0.01

-- The oldest queued error of any socket, timeout (default 0: never waits;
-- negative: no limit) bounding the whole call. One socket on the thread's
-- poll waits in the socket itself (only an error wakes it).
function Listener:recverr(timeout)
  need(self, "udp", "recverr")
  if timeout ~= nil and type(timeout) ~= "number" then
    error("bad argument #1 to 'recverr' (number expected, got " .. type(timeout) .. ")", 2)
  end
  if timeout ~= timeout then error("bad argument #1 to 'recverr' (timeout is NaN)", 2) end
  timeout = timeout or 0
  local socks = self.socks
  local waiter = waiters.current(self)
  if #socks == 1 and waiter.name == "poll" then return socks[1]:recverr(timeout) end
  local deadline = timeout >= 0 and core.monotime() + timeout or nil
  local fds = {}
  for i, s in ipairs(socks) do
    fds[i] = s:getfd()
    if fds[i] < 0 then error("attempt to use a closed socket", 2) end
  end
  local r = first_error(self)
  while not r do
    local wait = deadline and math.max(0, deadline - core.monotime())
    if wait == 0 then return nil, "timeout", "ETIMEDOUT" end
    local ready, err, code = waiter.wait(fds, {}, wait)
    if waiters.closed(socks) then return waiters.closed_error() end
    if not ready then return nil, err, code end
    r = first_error(self)
    if not r and next(ready) then
      wait = deadline and math.max(0, deadline - core.monotime())
      waiter.sleep(wait and math.min(wait, RECVERR_NAP) or RECVERR_NAP)
    end
  end
  return r[1], r[2], r[3]
end

function Listener:spoofed()
  local n = 0
  for _, s in ipairs(self.socks) do n = n + s:spoofed() end
  return n
end

-- The metatable of a listener of kind: the methods in it (so the docs
-- check and `getmetatable` see them), __name telling the kind.
local function class(kind)
  local c = { __name = "dualstack." .. kind .. "listener" }
  for k, v in pairs(Listener) do c[k] = v end
  c.__index = c
  c.__close = Listener.close
  c.__tostring = function(self)
    local parts = {}
    for i, s in ipairs(self.socks) do parts[i] = tostring(s) end
    return self.kind .. " listener{" .. table.concat(parts, ", ") .. "}"
  end
  return c
end

local CLASSES = { tcp = class("tcp"), udp = class("udp") }

-- ---- opening --------------------------------------------------------------

local function is_wildcard(host)
  return host == "*" or host == "::" or host == "0.0.0.0"
end

-- Which socket families serve a wildcard host: one dual socket when it can,
-- else one per family (the reference's two models). A probe that could not
-- tell (out of descriptors) is passed on as nil, message, code: that is
-- not a host without the family.
local function plan(host, opts)
  if host == "0.0.0.0" then return { "inet" } end
  if opts.v6only then return { "inet6" } end
  if opts.dualstack ~= false then
    local dual, err, code = core.has_dualstack()
    if dual == nil then return nil, err, code end
    if dual then return { "dual" } end
  end
  local families = {}
  for _, f in ipairs { { "inet6", core.has_ipv6 }, { "inet", core.has_ipv4 } } do
    local has, err, code = f[2]()
    if has == nil then return nil, err, code end
    if has then families[#families + 1] = f[1] end
  end
  return families
end

-- Families for a specific host: numeric text names one; a name may have
-- both, and is looked up through the waiter (refused in numeric mode).
local function resolve(host, kind, opts)
  local family = core.family(host)
  if family then return { { family = family, addr = host } } end
  if opts.numeric then return waiters.refuse_name(host) end
  local list, err, code = waiters.current(opts).resolve(host, nil,
    { socktype = kind == "tcp" and "stream" or "dgram", resolver = opts.resolver })
  if not list then return nil, err, code end
  return list
end

local function open_one(kind, family, addr, port, opts)
  local s, err, code = core[kind] { family = family }
  if not s then return nil, err, code end
  -- SO_REUSEADDR lets a TCP listener restart over TIME_WAIT; on UDP it
  -- would let a second socket share the port, so UDP only takes it asked.
  -- On Windows reuseaddr would let two TCP listeners share a port: it
  -- keeps the exclusive default (a restart may wait for old connections).
  local reuseaddr = opts.reuseaddr
  if reuseaddr == nil then reuseaddr = kind == "tcp" and core.PLATFORM ~= "windows" end
  local ok
  ok, err, code = s:setoption("reuseaddr", reuseaddr)
  if ok and opts.reuseport then ok, err, code = s:setoption("reuseport", true) end
  if ok and kind == "udp" and opts.pktinfo ~= false then ok, err, code = s:setoption("pktinfo", true) end
  -- opts.device: bound before bind, so the socket serves that interface only
  if ok and opts.device ~= nil then ok, err, code = s:setoption("device", opts.device) end
  if ok and kind == "udp" and opts.recverr then ok, err, code = s:setoption("recverr", true) end
  if ok then ok, err, code = s:bind(addr, port) end
  if ok and kind == "tcp" and opts.maxline then ok, err, code = s:setoption("maxline", opts.maxline) end
  if ok and kind == "tcp" then ok, err, code = s:listen(opts.backlog) end
  if not ok then
    s:close()
    return nil, err, code
  end
  return s
end

local function close_all(socks)
  for _, s in ipairs(socks) do s:close() end
end

-- Binds every (family, addr) on one port. With port 0 the first socket
-- picks it; a later family finding it taken retries with a fresh one.
local function open_all(kind, targets, port, opts)
  for _ = 1, 8 do
    local socks, shared = {}, port
    local err, code
    for _, t in ipairs(targets) do
      local s
      s, err, code = open_one(kind, t.family, t.addr, shared, opts)
      if not s then break end
      socks[#socks + 1] = s
      shared = select(2, s:getsockname())
    end
    if #socks == #targets then return socks end
    close_all(socks)
    if not (port == 0 and code == "EADDRINUSE" and #socks > 0) then return nil, err, code end
  end
  return nil, "address already in use", "EADDRINUSE"
end

local function targets_for(kind, host, opts)
  if is_wildcard(host) then
    local families, err, code = plan(host, opts)
    if not families then return nil, err, code end
    local t = {}
    for i, f in ipairs(families) do t[i] = { family = f, addr = "*" } end
    if #t == 0 then return nil, "no IPv4 or IPv6 on this host", "EAFNOSUPPORT" end
    return t
  end
  local list, err, code = resolve(host, kind, opts)
  if not list then return nil, err, code end
  local t, seen = {}, {}
  for _, r in ipairs(list) do
    if not seen[r.addr] then
      seen[r.addr] = true
      t[#t + 1] = { family = r.family, addr = r.addr }
    end
  end
  return t
end

-- The options a listener takes, and what each must be: checked before any
-- socket is made, so a bad one raises naming the listener and leaves
-- nothing open.
local OPTION_TYPES = {
  backlog = "integer", maxline = "integer", reuseaddr = "boolean", reuseport = "boolean",
  pktinfo = "boolean", recverr = "boolean", v6only = "boolean", dualstack = "boolean", numeric = "boolean",
}

local function check_opts(fname, opts)
  if type(opts) ~= "table" then
    error(("bad argument #3 to '%s' (table expected, got %s)"):format(fname, type(opts)), 4)
  end
  for name, want in pairs(OPTION_TYPES) do
    local v = opts[name]
    local got = math.type(v) or type(v)
    if v ~= nil and got ~= want then
      error(("bad argument #3 to '%s' (option '%s': %s expected, got %s)"):format(fname, name, want, got), 4)
    elseif want == "integer" and v ~= nil and v < 0 then
      error(("bad argument #3 to '%s' (option '%s' must not be negative)"):format(fname, name), 4)
    end
  end
  if opts.waiter ~= nil and not waiters.check(opts.waiter) then
    error(("bad argument #3 to '%s' (option 'waiter': a table with wait and resolve expected)"):format(fname), 4)
  end
  local d = opts.device
  if d ~= nil and d ~= false and type(d) ~= "string" and math.type(d) ~= "integer" then
    error(("bad argument #3 to '%s' (option 'device': interface name or index expected, got %s)"):format(fname, type(d)), 4)
  end
end

-- Opens the listening sockets of a listener of kind "tcp" or "udp";
-- fname names the caller in argument errors.
local function open(kind, fname, host, port, opts)
  opts = opts or {}
  if type(host) ~= "string" then
    error(("bad argument #1 to '%s' (host string expected)"):format(fname), 3)
  end
  if math.type(port) ~= "integer" or port < 0 or port > 65535 then
    error(("bad argument #2 to '%s' (port must be an integer 0-65535)"):format(fname), 3)
  end
  check_opts(fname, opts)
  local targets, err, code = targets_for(kind, host, opts)
  if not targets then return nil, err, code end
  local socks
  socks, err, code = open_all(kind, targets, port, opts)
  if not socks and targets[1].family == "dual" then -- V6ONLY refused after all
    socks, err, code = open_all(kind, { { family = "inet6", addr = "*" }, { family = "inet", addr = "*" } }, port, opts)
  end
  if not socks then return nil, err, code end
  for _, s in ipairs(socks) do s:settimeout(0) end
  return setmetatable({ socks = socks, kind = kind, last = 0, waiter = opts.waiter,
    numeric = opts.numeric, resolver = opts.resolver }, CLASSES[kind])
end

function M.listen(host, port, opts)
  return open("tcp", "listen", host, port, opts)
end

function M.udp_listen(host, port, opts)
  return open("udp", "udp_listen", host, port, opts)
end

return M
