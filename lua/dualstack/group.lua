--- Listeners: one dual-stack socket, or one socket per family behind the
-- same interface where a dual-stack socket cannot be had.
-- @module dualstack.group
local core = require "dualstack.core"

local M = {}

local Group = {}
Group.__index = Group

--- The sockets behind a listener, for event loops that watch descriptors.
-- @treturn {socket,...} a new array of the underlying sockets
function Group:sockets()
  return table.move(self.socks, 1, #self.socks, 1, {})
end

--- The listening address and the port shared by every socket.
-- @treturn string address of the first socket
-- @treturn integer port
function Group:getsockname()
  return self.socks[1]:getsockname()
end

--- Descriptor of the only socket, or of the first one: with two sockets,
-- watch each of `sockets()` instead.
-- @treturn integer
function Group:getfd()
  return self.socks[1]:getfd()
end

--- Per-call timeout for accept/recvmsg, as socket:settimeout.
-- @tparam ?number seconds nil or negative blocks
-- @treturn integer 1
function Group:settimeout(seconds)
  if seconds ~= nil and type(seconds) ~= "number" then
    error("bad argument #1 to 'settimeout' (number expected, got " .. type(seconds) .. ")", 2)
  end
  -- NaN would read as "no timeout" here; a socket raises for it too.
  if seconds ~= seconds then error("bad argument #1 to 'settimeout' (timeout is NaN)", 2) end
  self.timeout = (seconds and seconds >= 0) and seconds or nil
  if #self.socks == 1 then return self.socks[1]:settimeout(self.timeout) end
  return 1
end

--- Closes every socket; closing twice is harmless.
-- @treturn integer 1
function Group:close()
  for _, s in ipairs(self.socks) do s:close() end
  return 1
end

Group.__close = Group.close

function Group:__tostring()
  local parts = {}
  for i, s in ipairs(self.socks) do parts[i] = tostring(s) end
  return self.kind .. " listener{" .. table.concat(parts, ", ") .. "}"
end

-- Runs op(sock) on a socket that is ready to read. With one socket that is
-- a plain call; with several, they are non-blocking and polled together,
-- starting after the one served last so neither family starves.
function M.on_ready(self, op)
  local socks = self.socks
  if #socks == 1 then return op(socks[1]) end
  for _, s in ipairs(socks) do -- as a socket says, not poll
    if s:getfd() < 0 then error("attempt to use a closed socket", 3) end
  end
  local deadline = self.timeout and core.monotime() + self.timeout
  while true do
    local fds = {}
    for i, s in ipairs(socks) do fds[i] = s:getfd() end
    local wait = deadline and math.max(0, deadline - core.monotime())
    local ready, err, code = core.poll(fds, {}, wait)
    if not ready then return nil, err, code end
    for k = 1, #socks do
      local i = (self.last + k - 1) % #socks + 1
      if ready[fds[i]] then
        local r = table.pack(op(socks[i])) -- all of them: recvfrom may give five
        if r[1] or r[3] ~= "ETIMEDOUT" then
          self.last = i
          return table.unpack(r, 1, r.n)
        end
      end
    end
    if deadline and core.monotime() >= deadline then return nil, "timeout", "ETIMEDOUT" end
  end
end

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

-- Families for a specific host: numeric text names one; a name may have both.
local function resolve(host, kind)
  local family = core.family(host)
  if family then return { { family = family, addr = host } } end
  local list, err, code = core.getaddrinfo(host, nil, { socktype = kind == "tcp" and "stream" or "dgram" })
  if not list then return nil, err, code end
  return list
end

local function open_one(kind, family, addr, port, opts)
  local s, err, code = core[kind] { family = family }
  if not s then return nil, err, code end
  -- SO_REUSEADDR lets a TCP listener restart over TIME_WAIT; on UDP it
  -- would let a second socket share the port, so UDP only takes it asked.
  local reuseaddr = opts.reuseaddr
  if reuseaddr == nil then reuseaddr = kind == "tcp" end
  local ok
  ok, err, code = s:setoption("reuseaddr", reuseaddr)
  if ok and opts.reuseport then ok, err, code = s:setoption("reuseport", true) end
  if ok and kind == "udp" and opts.pktinfo ~= false then ok, err, code = s:setoption("pktinfo", true) end
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
  local list, err, code = resolve(host, kind)
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
  pktinfo = "boolean", v6only = "boolean", dualstack = "boolean",
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
end

-- Opens the listening sockets of a listener of kind "tcp" or "udp";
-- fname names the caller in argument errors.
function M.open(kind, class, fname, host, port, opts)
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
  if #socks > 1 then
    for _, s in ipairs(socks) do s:settimeout(0) end
  end
  return setmetatable({ socks = socks, kind = kind, last = 0 }, class)
end

M.Group = Group
return M
