--- A drop-in for LuaSocket 3.1's `socket` module whose sockets are
-- dualstack's: change `require "socket"` to `require "dualstack.luasocket"`
-- (or call `install()` before anything requires `socket`) and a LuaSocket
-- program serves and reaches IPv4 and IPv6 peers. `tcp()`/`udp()` and
-- `bind("*", port)` are dual-stack; `tcp6()`/`udp6()` are IPv6-only as in
-- LuaSocket, so programs opening one socket per family keep working.
--
-- Each socket is a thin wrapper around a dualstack socket (or listener)
-- giving LuaSocket's results where they differ from dualstack's: a closed
-- socket answers `nil, "closed"`, peers are unmapped text ("127.0.0.1",
-- family "inet"), `sock.class` is `"tcp{master}"` and the like, `tostring`
-- is `"tcp{client}: 0x..."`, and `getstats`/`setstats`/`setfd` exist.
-- Every other method is the dualstack socket's (`recvmsg`, `reply`,
-- `events`...), and `sock:dualstack()` returns the dualstack object.
-- Failures add dualstack's symbolic code after LuaSocket's values.
-- With the environment variable `DUALSTACK_LUASOCKET_DEBUG` set, `_DEBUG`
-- is true and TCP `receive`/`send` append the seconds the call took (as
-- LuaSocket built with `LUASOCKET_DEBUG`).
-- @module dualstack.luasocket
local core = require "dualstack.core"
local ds = require "dualstack"

local M = {}

local DEBUG = (os.getenv("DUALSTACK_LUASOCKET_DEBUG") or "") ~= ""

-- ---- time -----------------------------------------------------------------

--- The wall-clock time in seconds, with a fraction.
-- @treturn number seconds since the epoch
-- @function gettime
local gettime = core.gettime
M.gettime = gettime

--- Waits for some seconds (nothing for a negative or nil time).
-- @tparam number seconds
-- @function sleep
function M.sleep(seconds)
  if type(seconds) ~= "number" then
    error("bad argument #1 to 'sleep' (number expected, got " .. type(seconds) .. ")", 2)
  end
  if seconds > 0 then core.poll({}, {}, seconds) end
end

-- ---- errors ---------------------------------------------------------------

-- LuaSocket's texts where they differ from dualstack's: copas compares
-- "Operation already in progress" (strerror's text) for EALREADY.
local TEXTS = {
  EALREADY = "Operation already in progress",
  EINPROGRESS = "Operation now in progress",
  EAI_NONAME = "host or service not provided, or not known",
}

local function failure(err, code, ...)
  return nil, TEXTS[code] or err, ...
end

-- ---- the wrapper ----------------------------------------------------------

-- A wrapper: {inner = dualstack socket | listener | false, class = ...,
-- kind = "tcp"|"udp", family = nil (LuaSocket's unspec: made dual on first
-- use) | "inet" | "inet6" | "dual", closed, block, total (timeouts, -1 for
-- none), received, sent, birth}.
local TCP, UDP = {}, {}
local KINDS = { tcp = TCP, udp = UDP }

-- A forwarder per method name, calling the inner object's method; made once.
local forwarders = {}

local function forwarder(name)
  local f = forwarders[name]
  if not f then
    f = function(self, ...)
      local inner = rawget(self, "inner")
      if rawget(self, "closed") or not inner then return nil, "closed" end
      return inner[name](inner, ...)
    end
    forwarders[name] = f
  end
  return f
end

-- Methods of the wrapper's kind, else the inner object's (forwarded), else nil.
local function index(methods)
  return function(self, key)
    local m = methods[key]
    if m ~= nil then return m end
    local inner = rawget(self, "inner")
    if inner and type(key) == "string" then
      local ok, v = pcall(function() return inner[key] end)
      if ok and type(v) == "function" then return forwarder(key) end
    end
    return nil
  end
end

-- "tcp{client}: 0x..." everywhere (C's %p gives no 0x on Windows).
local function tostring_of(self)
  return rawget(self, "class") .. ": 0x" .. string.format("%p", self):gsub("^0x", "")
end

local META = {}
for kind, methods in pairs(KINDS) do
  META[kind] = { __index = index(methods), __tostring = tostring_of, __name = "dualstack.luasocket." .. kind }
end
META.tcp.__close = function(self) TCP.close(self) end
META.udp.__close = function(self) UDP.close(self) end

local function effective_timeout(self)
  local b, t = self.block, self.total
  if b < 0 then return t >= 0 and t or nil end
  if t < 0 then return b end
  return math.min(b, t)
end

local function wrap(kind, inner, class, family)
  local self = setmetatable({
    inner = inner or false, kind = kind, class = class, family = family,
    closed = false, block = -1, total = -1, received = 0, sent = 0, birth = gettime(),
  }, META[kind])
  -- blocking, as LuaSocket's sockets start (a listener's sockets, and what
  -- they accept, may be non-blocking inside dualstack)
  if inner then inner:settimeout(nil) end
  return self
end

-- The family a socket gets on first use: dual where the host has it,
-- else the family of the address it is first used with.
local function family_for(host)
  if core.has_dualstack() then return "dual" end
  local f = type(host) == "string" and core.family(host)
  if f then return core.is_mapped(host) and "inet" or f end
  return core.has_ipv4() and "inet" or "inet6"
end

-- Makes the dualstack socket of a wrapper that has none yet.
local function open(self, host)
  if self.closed then return nil, "closed" end
  if self.inner then return true end
  local family = self.family or family_for(host)
  local s, err, code = core[self.kind] { family = family }
  if not s then return nil, err, code end
  if family == "inet6" then
    local ok
    ok, err, code = s:setoption("v6only", true)
    if not ok then
      s:close()
      return nil, err, code
    end
  end
  s:settimeout(effective_timeout(self))
  self.inner, self.family = s, family
  return true
end

-- Raises LuaSocket's error for a method called on the wrong class.
local function need(self, classes, fname)
  local class = rawget(self, "class")
  if not classes[class] then
    error("bad argument #1 to '" .. fname .. "' (" .. classes[1] .. " expected)", 3)
  end
end

local function classes(...)
  local t = { ... }
  for _, c in ipairs(t) do t[c] = true end
  return t
end

local TCP_ANY = classes("tcp{any}", "tcp{master}", "tcp{client}", "tcp{server}")
local TCP_MASTER = classes("tcp{master}")
local TCP_CLIENT = classes("tcp{client}")
local TCP_SERVER = classes("tcp{server}")
local UDP_ANY = classes("udp{any}", "udp{connected}", "udp{unconnected}")
local UDP_CONNECTED = classes("udp{connected}")
local UDP_UNCONNECTED = classes("udp{unconnected}")

-- The inner object, or nil when the wrapper is closed or not opened yet.
local function live(self)
  if self.closed then return nil end
  return self.inner or nil
end

-- Peer or local address LuaSocket's way: mapped IPv4 unmapped, with a family.
local function address(ip, port, ...)
  if not ip then return nil, port, ... end
  if core.is_mapped(ip) then return core.unmap(ip), port, "inet" end
  return ip, port, core.family(ip) or "inet"
end

-- ---- methods of both kinds ------------------------------------------------

local COMMON = {}

function COMMON:close()
  local inner = live(self)
  if inner then inner:close() end
  self.closed = true
  return 1
end

function COMMON:getfd()
  local inner = live(self)
  if not inner then return -1 end
  return inner:getfd()
end

function COMMON:dirty()
  local inner = live(self)
  return inner ~= nil and inner.dirty ~= nil and inner:dirty() or false
end

function COMMON:dualstack()
  return live(self)
end

function COMMON:getfamily()
  local f = self.family
  if f == "inet6" or f == "dual" then return "inet6" end
  return "inet4"
end

function COMMON:settimeout(t, mode)
  t = t or -1
  if type(t) ~= "number" then
    error("bad argument #1 to 'settimeout' (number expected, got " .. type(t) .. ")", 2)
  end
  mode = mode or "b"
  local m = type(mode) == "string" and mode:sub(1, 1)
  if m == "b" then self.block = t < 0 and -1 or t
  elseif m == "t" or m == "r" then self.total = t < 0 and -1 or t
  else error("bad argument #2 to 'settimeout' (invalid timeout mode)", 2) end
  local inner = live(self)
  if inner then inner:settimeout(effective_timeout(self)) end
  return 1
end

function COMMON:gettimeout()
  return self.block, self.total
end

function COMMON:getsockname()
  local inner = live(self)
  if not inner then return nil, "closed" end
  return address(inner:getsockname())
end

function COMMON:getpeername()
  local inner = live(self)
  if not inner or not inner.getpeername then return nil, "closed" end
  return address(inner:getpeername())
end

-- Objects kept so the descriptor setfd replaced is never closed (LuaSocket
-- leaves it open: its owner may be another object sharing it).
local orphans = {}

function COMMON:setfd(fd)
  fd = math.tointeger(fd)
  if not fd then error("bad argument #1 to 'setfd' (number expected)", 2) end
  local old = rawget(self, "inner")
  if old then orphans[#orphans + 1] = old end
  self.inner = false
  if fd < 0 then
    self.closed = true
    return
  end
  if not core.fromfd then error("setfd needs dualstack.core.fromfd", 2) end
  local s, err, code = core.fromfd(fd, self.kind)
  if not s then
    self.closed = true
    return nil, err, code
  end
  self.inner, self.closed, self.family = s, false, s:getfamily()
  s:settimeout(effective_timeout(self))
end

-- ---- options --------------------------------------------------------------

-- LuaSocket's option names (3.1) and dualstack's name for each; true:
-- the same name (dualstack takes LuaSocket's). A name not here raises,
-- as LuaSocket does.
local OPTIONS = {
  ["tcp-nodelay"] = "nodelay", ["ipv6-v6only"] = "v6only", reuseaddr = "reuseaddr",
  reuseport = "reuseport", keepalive = "keepalive", broadcast = "broadcast",
  dontroute = true, linger = "linger", ["recv-buffer-size"] = "rcvbuf",
  ["send-buffer-size"] = "sndbuf", ["ip-multicast-ttl"] = "multicast_hops",
  ["ip-multicast-loop"] = "multicast_loop", ["ip-multicast-if"] = "multicast_if",
  ["ipv6-unicast-hops"] = "hoplimit", ["ipv6-multicast-hops"] = "multicast_hops",
  ["ipv6-multicast-loop"] = "multicast_loop", ["tcp-keepidle"] = true,
  ["tcp-keepcnt"] = true, ["tcp-keepintvl"] = true, error = true, bindtodevice = true,
  ["ip-add-membership"] = "join", ["ip-drop-membership"] = "leave",
  ["ipv6-add-membership"] = "join", ["ipv6-drop-membership"] = "leave",
}

local function option_name(name, fname)
  local ds_name = type(name) == "string" and OPTIONS[name]
  if not ds_name then
    error("bad argument #1 to '" .. fname .. "' (unsupported option `" .. tostring(name) .. "')", 3)
  end
  return ds_name == true and name or ds_name
end

local function ok_or_failure(ok, err, code)
  if ok then return 1 end
  return failure(err, code, code)
end

function COMMON:setoption(name, value)
  local opt = option_name(name, "setoption")
  local ok, err, code = open(self)
  if not ok then return nil, err, code end
  local inner = self.inner
  if opt == "join" or opt == "leave" then
    if type(value) ~= "table" then error("bad argument #2 to 'setoption' (table expected)", 2) end
    local iface = value.interface
    if iface == "*" or iface == "0.0.0.0" or iface == 0 then iface = nil end
    return ok_or_failure(inner[opt](inner, value.multiaddr, iface))
  end
  if opt == "linger" and type(value) == "table" then
    value = value.on and (value.timeout or 0) or false
  end
  if opt == "multicast_if" and (value == "*" or value == "0.0.0.0") then value = nil end
  return ok_or_failure(inner:setoption(opt, value))
end

function COMMON:getoption(name)
  local opt = option_name(name, "getoption")
  if opt == "join" or opt == "leave" then
    error("bad argument #1 to 'getoption' (unsupported option `" .. name .. "')", 2)
  end
  local inner = live(self)
  if not inner then return nil, "closed" end
  local v, err, code = inner:getoption(opt)
  if v == nil and err then return failure(err, code, code) end
  if opt == "linger" then return { on = v ~= false, timeout = v or 0 } end
  return v
end

for name, f in pairs(COMMON) do
  TCP[name], UDP[name] = f, f
end

-- ---- TCP ------------------------------------------------------------------

-- A TCP receive's or send's results: LuaSocket's three, then the seconds
-- since start in debug mode, else the code of a failure.
local function tail(start, a, b, c, code)
  if DEBUG then return a, b, c, gettime() - start end
  if code then return a, b, c, code end
  return a, b, c
end

function TCP:bind(host, port)
  need(self, TCP_MASTER, "bind")
  local ok, err, code = open(self, host)
  if not ok then return nil, err, code end
  return ok_or_failure(self.inner:bind(host, tonumber(port) or port))
end
TCP.setsockname = TCP.bind

function TCP:listen(backlog)
  need(self, TCP_MASTER, "listen")
  local ok, err, code = open(self)
  if not ok then return nil, err, code end
  ok, err, code = self.inner:listen(backlog or 32)
  if not ok then return failure(err, code, code) end
  self.class = "tcp{server}"
  return 1
end

function TCP:connect(host, port)
  need(self, TCP_ANY, "connect")
  local ok, err, code = open(self, host)
  if not ok then return nil, err, code end
  ok, err, code = self.inner:connect(host, tonumber(port) or port)
  -- LuaSocket makes it a client even when the connect is still in progress
  self.class = "tcp{client}"
  return ok_or_failure(ok, err, code)
end
TCP.setpeername = TCP.connect

function TCP:accept()
  need(self, TCP_SERVER, "accept")
  local inner = live(self)
  if not inner then return nil, "closed" end
  local c, err, code = inner:accept()
  if not c then return failure(err, code, code) end
  return wrap("tcp", c, "tcp{client}", c:getfamily())
end

function TCP:receive(pattern, prefix)
  need(self, TCP_CLIENT, "receive")
  local start = gettime()
  local inner = live(self)
  if not inner then return tail(start, nil, "closed", "") end
  -- LuaSocket's count includes the prefix (dualstack's counts the bytes
  -- after it); a prefix as long as the count is returned as it is.
  local count = math.tointeger(tonumber(pattern))
  if count and prefix and #prefix > 0 then
    if count <= #prefix then return tail(start, prefix) end
    pattern = count - #prefix
  end
  local data, err, partial, code = inner:receive(pattern, prefix)
  local got = data or partial
  if got then
    local n = #got - (prefix and #prefix or 0)
    if data and (pattern == nil or pattern == "*l" or pattern == "l") then n = n + 1 end
    self.received = self.received + math.max(n, 0)
  end
  -- LuaSocket's "*a" that read nothing before the end says "closed"
  if data and (pattern == "*a" or pattern == "a") and #data == (prefix and #prefix or 0) then
    return tail(start, nil, "closed", data, "EOF")
  end
  if data then return tail(start, data) end
  return tail(start, nil, TEXTS[code] or err, partial, code)
end

function TCP:send(data, i, j)
  need(self, TCP_CLIENT, "send")
  local start = gettime()
  local inner = live(self)
  if not inner then return tail(start, nil, "closed", (i or 1) - 1) end
  local last, err, partial, code = inner:send(data, i, j)
  local first = i or 1
  if first < 0 then first = math.max(#data + first + 1, 1) end
  local upto = last or partial
  if upto then self.sent = self.sent + math.max(upto - first + 1, 0) end
  if last then return tail(start, last) end
  return tail(start, nil, TEXTS[code] or err, partial, code)
end

function TCP:shutdown(how)
  need(self, TCP_CLIENT, "shutdown")
  local inner = live(self)
  if inner then inner:shutdown(how) end
  return 1
end

function TCP:getstats()
  need(self, TCP_CLIENT, "getstats")
  return self.received, self.sent, gettime() - self.birth
end

function TCP:setstats(received, sent, age)
  need(self, TCP_CLIENT, "setstats")
  if received then self.received = received end
  if sent then self.sent = sent end
  if age then self.birth = gettime() - age end
  return 1
end

-- ---- UDP ------------------------------------------------------------------

function UDP:setsockname(host, port)
  need(self, UDP_UNCONNECTED, "setsockname")
  local ok, err, code = open(self, host)
  if not ok then return nil, err, code end
  return ok_or_failure(self.inner:bind(host, tonumber(port) or port))
end

function UDP:setpeername(host, port)
  need(self, UDP_ANY, "setpeername")
  local ok, err, code = open(self, host ~= "*" and host or nil)
  if not ok then return nil, err, code end
  local inner = self.inner
  if host == "*" then
    if inner.setpeername then inner:setpeername("*") end
    self.class = "udp{unconnected}"
    return 1
  end
  ok, err, code = inner:connect(host, tonumber(port) or port)
  if not ok then return failure(err, code, code) end
  self.class = "udp{connected}"
  return 1
end

-- LuaSocket's UDP texts: a refused datagram is "refused".
local function udp_failure(err, code)
  if code == "ECONNREFUSED" then err = "refused" end
  return failure(err, code, code)
end

function UDP:send(data)
  need(self, UDP_CONNECTED, "send")
  local inner = live(self)
  if not inner then return nil, "closed" end
  local n, err, code = inner:send(data)
  if not n then return udp_failure(err, code) end
  return #data
end

function UDP:sendto(data, ip, port)
  need(self, UDP_UNCONNECTED, "sendto")
  if type(data) ~= "string" then error("bad argument #1 to 'sendto' (string expected)", 2) end
  if not (type(ip) == "string" and core.family(ip)) then
    -- LuaSocket asks getaddrinfo for numeric hosts only
    return nil, "Name or service not known", "EAI_NONAME"
  end
  local ok, err, code = open(self, ip)
  if not ok then return nil, err, code end
  if rawget(self, "closed") then return nil, "closed" end
  local n
  n, err, code = self.inner:sendto(data, ip, tonumber(port) or port)
  if not n then return udp_failure(err, code) end
  return n
end

function UDP:receive(size)
  need(self, UDP_ANY, "receive")
  local inner = live(self)
  if not inner then return nil, "closed" end
  local data, err, code = inner:receive(size or M._DATAGRAMSIZE)
  if not data then return udp_failure(err, code) end
  return data
end

function UDP:receivefrom(size)
  need(self, UDP_UNCONNECTED, "receivefrom")
  local inner = live(self)
  if not inner then return nil, "closed" end
  local data, ip, port = inner:recvfrom(size or M._DATAGRAMSIZE)
  if not data then return udp_failure(ip, port) end
  return data, (address(ip, port)), port
end

-- ---- creating sockets -----------------------------------------------------

local function create(kind, family)
  local self = wrap(kind, nil, kind == "tcp" and "tcp{master}" or "udp{unconnected}", family)
  if family then
    local ok, err, code = open(self)
    if not ok then return nil, err, code end
  end
  return self
end

--- A TCP socket (class `tcp{master}`). Its descriptor is made on first use
-- (as LuaSocket's), dual-stack: it binds, accepts and connects for both
-- families.
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.tcp() return create("tcp") end

--- An IPv4 TCP socket.
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.tcp4() return create("tcp", "inet") end

--- An IPv6-only TCP socket (IPV6_V6ONLY, as LuaSocket's).
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.tcp6() return create("tcp", "inet6") end

--- A UDP socket (class `udp{unconnected}`), dual-stack, made on first use.
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.udp() return create("udp") end

--- An IPv4 UDP socket.
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.udp4() return create("udp", "inet") end

--- An IPv6-only UDP socket (IPV6_V6ONLY, as LuaSocket's).
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.udp6() return create("udp", "inet6") end

--- A TCP server socket (class `tcp{server}`) listening on host and port,
-- with reuseaddr. `"*"` listens for both families; a name listens on
-- every address it has (one listener).
-- @tparam string host address, name or `"*"`
-- @tparam int|string port 0 picks one
-- @tparam[opt=32] int backlog
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.bind(host, port, backlog)
  local listener, err, code = ds.listen(host, tonumber(port) or port, { backlog = backlog or 32 })
  if not listener then return nil, err, code end
  local socks = listener:sockets()
  local inner = #socks == 1 and socks[1] or listener
  return wrap("tcp", inner, "tcp{server}", #socks == 1 and socks[1]:getfamily() or "dual")
end

--- A connected TCP socket (class `tcp{client}`). Without a local address
-- or family, dualstack's Happy Eyeballs picks the address; else a socket
-- of that family binds to laddr, lport and connects.
-- @tparam string host
-- @tparam int|string port
-- @tparam[opt] string laddr local address
-- @tparam[opt] int lport local port
-- @tparam[opt] string family `"inet"` or `"inet6"`
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.connect(host, port, laddr, lport, family)
  if type(host) ~= "string" then error("bad argument #1 to 'connect' (string expected)", 2) end
  port = tonumber(port) or port
  if not laddr and not family then
    local s, err, code = ds.connect(host, port)
    if not s then return failure(err, code, code) end
    return wrap("tcp", s, "tcp{client}", s:getfamily())
  end
  local f = family
  if f ~= nil and f ~= "inet" and f ~= "inet6" then
    error("bad argument #5 to 'connect' (invalid family)", 2)
  end
  local sock = create("tcp", f)
  if laddr then
    local ok, err, code = sock:bind(laddr, lport or 0)
    if not ok then sock:close() return nil, err, code end
  end
  local ok, err, code = sock:connect(host, port)
  if not ok then sock:close() return nil, err, code end
  return sock
end

--- connect with family `"inet"`.
-- @tparam string host
-- @tparam int|string port
-- @tparam[opt] string laddr
-- @tparam[opt] int lport
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.connect4(host, port, laddr, lport) return M.connect(host, port, laddr, lport, "inet") end

--- connect with family `"inet6"`.
-- @tparam string host
-- @tparam int|string port
-- @tparam[opt] string laddr
-- @tparam[opt] int lport
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.connect6(host, port, laddr, lport) return M.connect(host, port, laddr, lport, "inet6") end

--- LuaSocket's select, on dualstack's (poll, no FD_SETSIZE).
-- @tparam ?table recvt sockets to read
-- @tparam ?table sendt sockets to write
-- @tparam[opt] number timeout seconds
-- @treturn table readable, table writable, and "timeout" when none is ready
M.select = ds.select

-- ---- names ----------------------------------------------------------------

local dns = {}

--- Name functions, LuaSocket's `socket.dns`.
-- @table dns
M.dns = dns

--- The host's name.
-- @treturn string
-- @return[2] nil, message, code
function dns.gethostname() return core.gethostname() end

-- The {name, alias, ip} table of LuaSocket's toip/tohostname.
local function resolved(name, list)
  local t = { name = name, alias = {}, ip = {} }
  for _, r in ipairs(list) do t.ip[#t.ip + 1] = r.addr end
  return t
end

--- The first IPv4 address of a name (LuaSocket's gethostbyname); numeric
-- text of either family is returned as it is (LuaSocket refuses IPv6
-- text here, which would keep its programs IPv4-only).
-- @tparam string name
-- @treturn[1] string address text
-- @treturn[1] table `{name =, alias = {}, ip = {...}}`
-- @return[2] `nil, "host not found"`
function dns.toip(name)
  if type(name) ~= "string" then error("bad argument #1 to 'toip' (string expected)", 2) end
  if core.family(name) then return name, { name = name, alias = {}, ip = { name } } end
  local list = core.getaddrinfo(name, nil, { family = "inet", socktype = "stream", canonname = true })
  if not list or #list == 0 then return nil, "host not found" end
  return list[1].addr, resolved(list[1].canonname or name, list)
end

--- The name of an address (or of a name's first address).
-- @tparam string addr address text or name
-- @treturn[1] string the name
-- @treturn[1] table `{name =, alias = {}, ip = {...}}`
-- @return[2] `nil, "host not found"`
function dns.tohostname(addr)
  if type(addr) ~= "string" then error("bad argument #1 to 'tohostname' (string expected)", 2) end
  local ip = addr
  if not core.family(addr) then
    local ip4 = dns.toip(addr)
    if not ip4 then return nil, "host not found" end
    ip = ip4
  end
  local name = core.getnameinfo(ip, 0, { namereqd = true })
  if not name then return nil, "host not found" end
  return name, { name = name, alias = {}, ip = { ip } }
end

--- getaddrinfo's addresses for a host, both families.
-- @tparam string host
-- @treturn[1] {table,...} `{family = "inet"|"inet6", addr = text}` each
-- @return[2] `nil, message`
function dns.getaddrinfo(host)
  if host == "*" then host = nil end
  local list, err, code = core.getaddrinfo(host, host == nil and 0 or nil,
    { socktype = "stream", passive = host == nil or nil })
  if not list then return failure(err, code, code) end
  local out = {}
  for i, r in ipairs(list) do out[i] = { family = r.family, addr = r.addr } end
  return out
end

--- getnameinfo for each address of a host, and a port's service name.
-- @tparam ?string host address text or name
-- @tparam[opt] int|string port
-- @treturn[1] table the names (one per address)
-- @treturn[1] ?string the service name
-- @return[2] `nil, message`
function dns.getnameinfo(host, port)
  if host == nil and port == nil then error("host and serv cannot be both nil", 2) end
  port = tonumber(port) or port
  local list, err = core.getaddrinfo(host, port, { socktype = "stream" })
  if not list then return nil, err end
  local names, service = {}, nil
  for _, r in ipairs(list) do
    local name, serv = core.getnameinfo(r.addr, r.port)
    if not name then return nil, serv end
    if host then names[#names + 1] = name end
    if port then service = serv end
  end
  return names, service
end

-- ---- exceptions (LuaSocket's except.c semantics) --------------------------

-- The metatable of a try's error: protect returns these, re-raises others.
local TRY_ERROR = { __metatable = false }

--- A try function: returns its arguments when the first is true, else
-- calls finalizer and raises the second (caught by `protect`).
-- @tparam[opt] function finalizer
-- @treturn function try
function M.newtry(finalizer)
  return function(...)
    if (...) then return ... end
    if finalizer then finalizer() end
    error(setmetatable({ (select(2, ...)) }, TRY_ERROR), 0)
  end
end

--- A function calling f that returns `nil, err` for an error a try raised
-- and re-raises any other.
-- @tparam function f
-- @treturn function
function M.protect(f)
  return function(...)
    local r = table.pack(pcall(f, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    local e = r[2]
    if type(e) == "table" and getmetatable(e) == false and rawequal(debug.getmetatable(e), TRY_ERROR) then
      return nil, e[1]
    end
    error(e, 0)
  end
end

--- try with no finalizer.
-- @function try
M.try = M.newtry()

--- The arguments after the first d.
-- @tparam int d how many to drop
-- @return the rest
function M.skip(d, ...)
  return select(d + 1, ...)
end

--- A function dispatching on its first argument (a name; "default" when
-- it is not a string) to table's functions.
-- @tparam table t functions by name
-- @treturn function
function M.choose(t)
  return function(name, opt1, opt2)
    if type(name) ~= "string" then name, opt1, opt2 = "default", name, opt1 end
    local f = t[name or "nil"]
    if not f then error("unknown key (" .. tostring(name) .. ")", 3) end
    return f(opt1, opt2)
  end
end

-- ---- LTN12 sinks and sources ----------------------------------------------

-- A callable with getfd and dirty of sock, so select can wait on it.
local function pumpable(sock, call)
  return setmetatable({
    getfd = function() return sock:getfd() end,
    dirty = function() return sock:dirty() end,
  }, { __call = call })
end

local sinkt, sourcet = {}, {}

--- Sink factories by mode: "close-when-done", "keep-open" ("default").
-- @table sinkt
M.sinkt = sinkt

--- Source factories by mode: "by-length", "until-closed" ("default").
-- @table sourcet
M.sourcet = sourcet

sinkt["close-when-done"] = function(sock)
  return pumpable(sock, function(_, chunk)
    if chunk then return sock:send(chunk) end
    sock:close()
    return 1
  end)
end

sinkt["keep-open"] = function(sock)
  return pumpable(sock, function(_, chunk)
    if chunk then return sock:send(chunk) end
    return 1
  end)
end
sinkt.default = sinkt["keep-open"]

sourcet["by-length"] = function(sock, length)
  return pumpable(sock, function()
    if length <= 0 then return nil end
    local chunk, err = sock:receive(math.min(M.BLOCKSIZE, length))
    if err then return nil, err end
    length = length - #chunk
    return chunk
  end)
end

sourcet["until-closed"] = function(sock)
  local done = false
  return pumpable(sock, function()
    if done then return nil end
    local chunk, err, partial = sock:receive(M.BLOCKSIZE)
    if not err then return chunk end
    if err ~= "closed" then return nil, err end
    sock:close()
    done = true
    return partial
  end)
end
sourcet.default = sourcet["until-closed"]

--- An LTN12 sink writing to a socket: `sink([mode,] sock)`.
-- @function sink
M.sink = M.choose(sinkt)

--- An LTN12 source reading a socket: `source([mode,] sock[, length])`.
-- @function source
M.source = M.choose(sourcet)

-- ---- constants ------------------------------------------------------------

M.BLOCKSIZE = 2048
M._DATAGRAMSIZE = 8192
M._SETSIZE = core.POLL_MAX
M._VERSION = "LuaSocket 3.1.0 (dualstack " .. core._VERSION .. ")"
M._DEBUG = DEBUG or nil

--- Makes `require "socket"` (and `"socket.core"`) give this module, so
-- libraries written for LuaSocket (socket.http, copas, ltn12 users) get
-- dualstack's sockets. Call it before they are required.
-- @treturn table this module
function M.install()
  package.loaded.socket = M
  package.loaded["socket.core"] = M
  return M
end

return M
