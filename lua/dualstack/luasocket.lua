-- Where the drop-in knowingly differs from LuaSocket 3.1 (checked against
-- it on Linux; for the README):
-- - Numbers are integers where LuaSocket's are floats (getfd, send's index,
--   getstats, gettimeout, a UDP send's count): equal under ==, the same
--   table key, but tostring gives "5" for LuaSocket's "5.0".
-- - getsockname's port is an integer; LuaSocket's is text ("8080").
-- - tcp() and udp() are dual-stack: bind("*") reports "::" and getfamily()
--   "inet6" where LuaSocket's gives "0.0.0.0" and "inet4" (the socket
--   serves both families). Bound or connected to an IPv4 address, a dual
--   socket's getfamily() is "inet4", as LuaSocket's.
-- - A port past 65535 is nil, "service not supported for socket type"
--   (LuaSocket's glibc wraps 99999 to 34463 and uses that port).
-- - UDP getpeername on an unconnected socket returns nil, message (and a
--   closed or unused TCP one nil, "closed") where LuaSocket raises or says
--   "Bad file descriptor".
-- - Failures carry dualstack's symbolic code after LuaSocket's values;
--   errno texts LuaSocket takes from strerror are dualstack's own (they
--   differ by C library anyway), except EALREADY and EINPROGRESS, which
--   copas compares. Argument errors name the method ("bad argument #1 to
--   'settimeout'"), where LuaSocket's sometimes say '?'.
-- - dns.toip passes IPv6 text through; LuaSocket's refuses it.

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

-- ---- arguments ------------------------------------------------------------

local HERE = debug.getinfo(1, "S").source

-- Raises msg at the first caller outside this file, so an argument error
-- names the caller's line whatever helper found it (frame L of
-- debug.getinfo is error's level L).
local function raise(msg)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info or info.source ~= HERE then break end
    level = level + 1
  end
  error(msg, level)
end

local function argerror(n, fname, msg)
  raise(string.format("bad argument #%d to '%s' (%s)", n, fname, msg))
end

-- luaL_checknumber: a number or numeric text, as a number.
local function checknumber(v, n, fname)
  local x = tonumber(v)
  if x == nil or (type(v) ~= "number" and type(v) ~= "string") then
    argerror(n, fname, "number expected, got " .. type(v))
  end
  return x
end

-- luaL_optnumber.
local function optnumber(v, n, fname, default)
  if v == nil then return default end
  return checknumber(v, n, fname)
end

-- An integer from a number as C's cast takes it (toward zero).
local function truncate(x)
  if x ~= x or x == math.huge or x == -math.huge then return nil end
  return math.tointeger(x < 0 and math.ceil(x) or math.floor(x))
end

-- luaL_optlstring: text, a number as its text, or nil.
local function optstring(v, n, fname)
  if v == nil or type(v) == "string" then return v end
  if type(v) == "number" then return tostring(v) end
  argerror(n, fname, "string expected, got " .. type(v))
end

-- luaL_checkstring.
local function checkstring(v, n, fname)
  if v == nil then argerror(n, fname, "string expected, got nil") end
  return optstring(v, n, fname)
end

-- ---- failures -------------------------------------------------------------

-- LuaSocket's texts where they differ from dualstack's, by code: its own
-- for name lookups (pierror.h), strerror's where it passes errno through
-- (copas compares "Operation already in progress" for EALREADY).
local TEXTS = {
  EALREADY = "Operation already in progress",
  EINPROGRESS = "Operation now in progress",
  EAI_AGAIN = "temporary failure in name resolution",
  EAI_BADFLAGS = "invalid value for ai_flags",
  EAI_FAIL = "non-recoverable failure in name resolution",
  EAI_FAMILY = "ai_family not supported",
  EAI_MEMORY = "memory allocation failure",
  EAI_NONAME = "host or service not provided, or not known",
  EAI_NODATA = "host or service not provided, or not known",
  EAI_SERVICE = "service not supported for socket type",
  EAI_SOCKTYPE = "ai_socktype not supported",
}

-- Every failure the drop-in returns: nil, LuaSocket's text, then
-- dualstack's code.
local function failure(err, code)
  return nil, TEXTS[code] or err, code
end

-- A stream receive's or send's failure: nil, text, partial, code.
local function stream_failure(err, partial, code)
  return nil, TEXTS[code] or err, partial, code
end

local function ok_or_failure(ok, err, code)
  if ok then return 1 end
  return failure(err, code)
end

-- ---- hosts and ports ------------------------------------------------------

-- A port as LuaSocket takes it (text for getaddrinfo): an integer 0-65535,
-- its decimal text, or a service name looked up for socktype. Anything else
-- is getaddrinfo's EAI_SERVICE (LuaSocket's glibc wraps 99999 to 34463).
local function service(port, socktype, fname)
  local text = checkstring(port, 2, fname)
  local n = math.tointeger(tonumber(text:match("^%s*%d+%s*$") and text or nil))
  if n then
    if n <= 65535 then return n end
    return failure("Servname not supported for ai_socktype", "EAI_SERVICE")
  end
  local list, err, code = core.getaddrinfo(nil, text, { socktype = socktype, passive = true })
  if not list or not list[1] then return failure(err, code or "EAI_SERVICE") end
  return list[1].port
end

-- What getaddrinfo gives for a socket of family (nil: any) to use host:
-- numeric text and "*" as they are, a name (or text the strict parser
-- refuses, "1.2.3") as its first address. LuaSocket's bind and connect go
-- through getaddrinfo too, so its failures are theirs.
local GAI_FAMILY = { inet = "inet", inet6 = "inet6" }
local function host_address(host, family, socktype, fname)
  host = checkstring(host, 1, fname)
  if host == "*" or core.family(host) then return host end
  local list, err, code = core.getaddrinfo(host, nil, { family = GAI_FAMILY[family], socktype = socktype })
  if not list or not list[1] then return failure(err, code or "EAI_NONAME") end
  return list[1].addr
end

-- Both, for bind and connect: host, port, or nil, err, code.
local function endpoint(host, port, family, socktype, fname)
  local h, err, code = host_address(host, family, socktype, fname)
  if not h then return nil, err, code end
  local p
  p, err, code = service(port, socktype, fname)
  if not p then return nil, err, code end
  return h, p
end

-- ---- the wrapper ----------------------------------------------------------

-- A wrapper: {inner = dualstack socket | listener | false, class = ...,
-- kind = "tcp"|"udp", family = nil (LuaSocket's unspec: made dual on first
-- use) | "inet" | "inet6" | "dual", closed, block, total (timeouts, -1 for
-- none), received, sent, birth}.
local TCP, UDP = {}, {}
local KINDS = { tcp = TCP, udp = UDP }
local SOCKTYPE = { tcp = "stream", udp = "dgram" }

-- A forwarder per method name, calling the inner object's method; made once.
local forwarders = {}

local function forwarder(name)
  local f = forwarders[name]
  if not f then
    f = function(self, ...)
      local inner = self.inner
      if self.closed or not inner then return nil, "closed" end
      return inner[name](inner, ...)
    end
    forwarders[name] = f
  end
  return f
end

-- Methods of the wrapper's kind, else the inner object's (forwarded), else
-- nil. Indexing a dualstack socket or listener runs no Lua code that could
-- raise, so a miss costs two table lookups.
local function index(methods)
  return function(self, key)
    local m = methods[key]
    if m ~= nil then return m end
    local inner = rawget(self, "inner")
    if inner and type(key) == "string" and type(inner[key]) == "function" then return forwarder(key) end
    return nil
  end
end

-- "tcp{client}: 0x..." everywhere (C's %p gives no 0x on Windows).
local function tostring_of(self)
  return rawget(self, "class") .. ": 0x" .. string.format("%p", self):gsub("^0x", "")
end

local META = {}
for kind, methods in pairs(KINDS) do
  META[kind] = {
    __index = index(methods), __tostring = tostring_of, __name = "dualstack.luasocket." .. kind,
    __close = function(self) methods.close(self) end,
  }
end

local function effective_timeout(self)
  local b, t = self.block, self.total
  if b < 0 then return t >= 0 and t or nil end
  if t < 0 then return b end
  return math.min(b, t)
end

local function wrap(kind, inner, class, family)
  local self = setmetatable({
    inner = inner or false, kind = kind, class = class, family = family,
    closed = false, block = -1, total = -1, received = 0, sent = 0, birth = core.gettime(),
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
  if not s then return failure(err, code) end
  if family == "inet6" then
    local ok
    ok, err, code = s:setoption("v6only", true)
    if not ok then
      s:close()
      return failure(err, code)
    end
  end
  s:settimeout(effective_timeout(self))
  self.inner, self.family = s, family
  return true
end

-- Raises LuaSocket's error for a method called on the wrong class.
local function need(self, classes, fname)
  if not classes[rawget(self, "class")] then
    raise("calling '" .. fname .. "' on bad self (" .. classes[1] .. " expected)")
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
  if not ip then return failure(port, ...) end
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

-- The family the socket serves: a dual socket bound or connected to an
-- IPv4 address serves IPv4 only, as LuaSocket's inet4 socket would.
function COMMON:getfamily()
  local f = self.family
  if f == "dual" then
    local inner = live(self)
    local ip = inner and inner:getsockname()
    if ip and core.is_mapped(ip) then return "inet4" end
    return "inet6"
  end
  return f == "inet6" and "inet6" or "inet4"
end

local MODES = { b = "block", t = "total", r = "total" }

function COMMON:settimeout(t, mode)
  t = optnumber(t, 1, "settimeout", -1)
  mode = optstring(mode, 2, "settimeout") or "b"
  local field = MODES[mode:sub(1, 1)]
  if not field then argerror(2, "settimeout", "invalid timeout mode") end
  self[field] = t < 0 and -1 or t
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

-- Gives up the descriptor of inner without closing it (LuaSocket's setfd
-- leaves it open: its new owner, LuaSec's ssl.wrap, holds it). A listener
-- hands over the one getfd showed and closes the others, which nobody
-- else can know.
local function give_up(inner)
  if inner.detach then
    if inner:getfd() >= 0 then inner:detach() end
    return
  end
  local socks = inner:sockets()
  if socks[1] and socks[1]:getfd() >= 0 then socks[1]:detach() end
  inner:close()
end

function COMMON:setfd(fd)
  fd = truncate(checknumber(fd, 1, "setfd"))
  local old = self.inner
  if old then give_up(old) end
  self.inner, self.closed = false, true
  if not fd or fd < 0 then return end
  local s, err, code = core.fromfd(fd, self.kind)
  if not s then return failure(err, code) end
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
  if not ds_name then argerror(1, fname, "unsupported option `" .. tostring(name) .. "'") end
  return ds_name == true and name or ds_name
end

-- An option call's results; its argument errors (a bad value) are raised
-- again at the caller's line, as a C method's would be.
local function option_results(fname, ok, ...)
  if ok then return ok_or_failure(...) end
  local msg = tostring((...)):gsub("^[^:]*:%d+: ", "")
  raise((msg:gsub("to '%?'", "to '" .. fname .. "'")))
end

function COMMON:setoption(name, value)
  local opt = option_name(name, "setoption")
  if opt == "join" or opt == "leave" then
    if type(value) ~= "table" then argerror(2, "setoption", "table expected") end
  end
  local ok, err, code = open(self)
  if not ok then return nil, err, code end
  local inner = self.inner
  if opt == "join" or opt == "leave" then
    local iface = value.interface
    if iface == "*" or iface == "0.0.0.0" or iface == 0 then iface = nil end
    return option_results("setoption", pcall(inner[opt], inner, value.multiaddr, iface))
  end
  if opt == "linger" and type(value) == "table" then
    value = value.on and (value.timeout or 0) or false
  end
  if opt == "multicast_if" and (value == "*" or value == "0.0.0.0") then value = nil end
  return option_results("setoption", pcall(inner.setoption, inner, opt, value))
end

function COMMON:getoption(name)
  local opt = option_name(name, "getoption")
  if opt == "join" or opt == "leave" then
    argerror(1, "getoption", "unsupported option `" .. name .. "'")
  end
  local inner = live(self)
  if not inner then return nil, "closed" end
  local v, err, code = inner:getoption(opt)
  if v == nil and err then return failure(err, code) end
  if opt == "linger" then return { on = v ~= false, timeout = v or 0 } end
  return v
end

-- bind (TCP) and setsockname (UDP): the address resolved for the socket's
-- family before the socket is made for it.
function COMMON:setsockname(host, port)
  local tcp = self.kind == "tcp"
  local fname = tcp and "bind" or "setsockname"
  need(self, tcp and TCP_MASTER or UDP_UNCONNECTED, fname)
  local h, p, code = endpoint(host, port, self.family, SOCKTYPE[self.kind], fname)
  if not h then return nil, p, code end
  local ok, err
  ok, err, code = open(self, h)
  if not ok then return nil, err, code end
  return ok_or_failure(self.inner:bind(h, p))
end

for name, f in pairs(COMMON) do
  TCP[name], UDP[name] = f, f
end

-- ---- TCP ------------------------------------------------------------------

TCP.bind = COMMON.setsockname

-- A TCP receive's or send's results: LuaSocket's three, then the seconds
-- since start in debug mode.
local tail = function(_, a, b, c, code)
  if code then return a, b, c, code end
  return a, b, c
end
local clock = function() return nil end
if DEBUG then
  clock = core.gettime
  tail = function(start, a, b, c) return a, b, c, core.gettime() - start end
end

function TCP:listen(backlog)
  need(self, TCP_MASTER, "listen")
  backlog = truncate(optnumber(backlog, 1, "listen", 32)) or 32
  local ok, err, code = open(self)
  if not ok then return nil, err, code end
  ok, err, code = self.inner:listen(math.max(backlog, 0))
  if not ok then return failure(err, code) end
  self.class = "tcp{server}"
  return 1
end

function TCP:connect(host, port)
  need(self, TCP_ANY, "connect")
  local h, p, code = endpoint(host, port, self.family, "stream", "connect")
  if not h then return nil, p, code end
  local ok, err
  ok, err, code = open(self, h)
  if not ok then return nil, err, code end
  ok, err, code = self.inner:connect(h, p)
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
  if not c then return failure(err, code) end
  return wrap("tcp", c, "tcp{client}", c:getfamily())
end

local LINE = { ["*l"] = true, l = true }
local ALL = { ["*a"] = true, a = true }

-- A raw line ("L", after plen bytes of prefix) as LuaSocket gives it:
-- without the LF and every CR in it.
local function strip_line(raw, plen)
  return raw:sub(1, plen) .. raw:sub(plen + 1):gsub("[\r\n]", "")
end

-- receive(pattern, prefix): LuaSocket counts every byte it consumed,
-- CRs and the LF included, so a line is read raw ("L") and stripped here.
function TCP:receive(pattern, prefix)
  need(self, TCP_CLIENT, "receive")
  local start = clock()
  prefix = optstring(prefix, 2, "receive")
  local count = tonumber(pattern)
  if count then
    count = truncate(count)
    if not count or count < 0 then argerror(1, "receive", "size must not be negative") end
  elseif pattern ~= nil and not LINE[pattern] and not ALL[pattern] then
    argerror(1, "receive", 'invalid receive pattern ("*l", "*a" or a size)')
  end
  local inner = live(self)
  if not inner then return tail(start, nil, "closed", "") end
  local plen = prefix and #prefix or 0
  -- LuaSocket's count includes the prefix; one as long as the count is
  -- returned as it is.
  if count and plen > 0 then
    if count <= plen then return tail(start, prefix) end
    count = count - plen
  end
  local line = not count and not ALL[pattern]
  local data, err, partial, code = inner:receive(count or (line and "L") or "a", prefix)
  local got = data or partial
  if got then self.received = self.received + #got - plen end
  if line then
    if data then data = strip_line(data, plen) else partial = strip_line(partial, plen) end
  end
  -- LuaSocket's "*a" that read nothing before the end says "closed"
  if data and not count and not line and #data == plen then
    return tail(start, nil, "closed", data, "EOF")
  end
  if data then return tail(start, data) end
  return tail(start, stream_failure(err, partial, code))
end

function TCP:send(data, i, j)
  need(self, TCP_CLIENT, "send")
  local start = clock()
  data = checkstring(data, 1, "send")
  i = truncate(optnumber(i, 2, "send", 1)) or 1
  j = truncate(optnumber(j, 3, "send", -1)) or -1
  local inner = live(self)
  if not inner then return tail(start, nil, "closed", i - 1) end
  local last, err, partial, code = inner:send(data, i, j)
  local first = i < 0 and math.max(#data + i + 1, 1) or math.max(i, 1)
  local upto = last or partial
  if upto then self.sent = self.sent + math.max(upto - first + 1, 0) end
  if last then return tail(start, last) end
  return tail(start, stream_failure(err, partial, code))
end

function TCP:shutdown(how)
  need(self, TCP_CLIENT, "shutdown")
  local inner = live(self)
  if inner then inner:shutdown(how) end
  return 1
end

function TCP:getstats()
  need(self, TCP_CLIENT, "getstats")
  return self.received, self.sent, core.gettime() - self.birth
end

function TCP:setstats(received, sent, age)
  need(self, TCP_CLIENT, "setstats")
  received = optnumber(received, 1, "setstats")
  sent = optnumber(sent, 2, "setstats")
  age = optnumber(age, 3, "setstats")
  if received then self.received = received end
  if sent then self.sent = sent end
  if age then self.birth = core.gettime() - age end
  return 1
end

-- ---- UDP ------------------------------------------------------------------

function UDP:setpeername(host, port)
  need(self, UDP_ANY, "setpeername")
  if host == "*" then
    local inner = live(self)
    if inner then inner:setpeername("*") end
    self.class = "udp{unconnected}"
    return 1
  end
  local h, p, code = endpoint(host, port, self.family, "dgram", "setpeername")
  if not h then return nil, p, code end
  local ok, err
  ok, err, code = open(self, h)
  if not ok then return nil, err, code end
  ok, err, code = self.inner:connect(h, p)
  if not ok then return failure(err, code) end
  self.class = "udp{connected}"
  return 1
end

function UDP:send(data)
  need(self, UDP_CONNECTED, "send")
  data = checkstring(data, 1, "send")
  local inner = live(self)
  if not inner then return nil, "closed" end
  local n, err, code = inner:send(data)
  if not n then return failure(err, code) end
  return #data
end

-- LuaSocket's sendto asks getaddrinfo for a numeric host and port only.
function UDP:sendto(data, ip, port)
  need(self, UDP_UNCONNECTED, "sendto")
  data = checkstring(data, 1, "sendto")
  ip = checkstring(ip, 2, "sendto")
  port = checkstring(port, 3, "sendto")
  local p = math.tointeger(tonumber(port:match("^%d+$") and port or nil))
  if not core.family(ip) or not p or p > 65535 then
    -- the one text LuaSocket takes from gai_strerror as it is (udp.c)
    return nil, "Name or service not known", "EAI_NONAME"
  end
  local ok, err, code = open(self, ip)
  if not ok then return nil, err, code end
  local n
  n, err, code = self.inner:sendto(data, ip, p)
  if not n then return failure(err, code) end
  return n
end

local function datagram_size(size, fname)
  size = truncate(optnumber(size, 1, fname, M._DATAGRAMSIZE))
  if not size or size < 0 then argerror(1, fname, "size must not be negative") end
  return size
end

function UDP:receive(size)
  need(self, UDP_ANY, "receive")
  size = datagram_size(size, "receive")
  local inner = live(self)
  if not inner then return nil, "closed" end
  local data, err, code = inner:receive(size)
  if not data then return failure(err, code) end
  return data
end

function UDP:receivefrom(size)
  need(self, UDP_UNCONNECTED, "receivefrom")
  size = datagram_size(size, "receivefrom")
  local inner = live(self)
  if not inner then return nil, "closed" end
  local data, ip, port = inner:recvfrom(size)
  if not data then return failure(ip, port) end
  return data, (address(ip, port)), port
end

-- ---- creating sockets -----------------------------------------------------

-- The constructors: kind and family (nil: dual, made on first use).
local CONSTRUCTORS = {
  tcp = { "tcp" }, tcp4 = { "tcp", "inet" }, tcp6 = { "tcp", "inet6" },
  udp = { "udp" }, udp4 = { "udp", "inet" }, udp6 = { "udp", "inet6" },
}
for name, c in pairs(CONSTRUCTORS) do
  local kind, family = c[1], c[2]
  local class = kind == "tcp" and "tcp{master}" or "udp{unconnected}"
  M[name] = function()
    local self = wrap(kind, nil, class, family)
    if family then
      local ok, err, code = open(self)
      if not ok then return nil, err, code end
    end
    return self
  end
end

--- A TCP socket (class `tcp{master}`). Its descriptor is made on first use
-- (as LuaSocket's), dual-stack: it binds, accepts and connects for both
-- families.
-- @treturn[1] table the socket
-- @return[2] `nil, message`
-- @function tcp

--- An IPv4 TCP socket.
-- @treturn[1] table the socket
-- @return[2] `nil, message`
-- @function tcp4

--- An IPv6-only TCP socket (IPV6_V6ONLY, as LuaSocket's).
-- @treturn[1] table the socket
-- @return[2] `nil, message`
-- @function tcp6

--- A UDP socket (class `udp{unconnected}`), dual-stack, made on first use.
-- @treturn[1] table the socket
-- @return[2] `nil, message`
-- @function udp

--- An IPv4 UDP socket.
-- @treturn[1] table the socket
-- @return[2] `nil, message`
-- @function udp4

--- An IPv6-only UDP socket (IPV6_V6ONLY, as LuaSocket's).
-- @treturn[1] table the socket
-- @return[2] `nil, message`
-- @function udp6

--- A TCP server socket (class `tcp{server}`) listening on host and port,
-- with reuseaddr. `"*"` listens for both families; a name listens on
-- every address it has (one listener).
-- @tparam string host address, name or `"*"`
-- @tparam int|string port 0 picks one; a service name is looked up
-- @tparam[opt=32] int backlog
-- @treturn[1] table the socket
-- @return[2] `nil, message`
function M.bind(host, port, backlog)
  host = checkstring(host, 1, "bind")
  local p, err, code = service(port, "stream", "bind")
  if not p then return nil, err, code end
  backlog = truncate(optnumber(backlog, 3, "bind", 32)) or 32
  local listener
  listener, err, code = ds.listen(host, p, { backlog = math.max(backlog, 0) })
  if not listener then return failure(err, code) end
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
  host = checkstring(host, 1, "connect")
  if family ~= nil and family ~= "inet" and family ~= "inet6" then
    argerror(5, "connect", "invalid family")
  end
  if not laddr and not family then
    local p, err, code = service(port, "stream", "connect")
    if not p then return nil, err, code end
    local s
    s, err, code = ds.connect(host, p)
    if not s then return failure(err, code) end
    return wrap("tcp", s, "tcp{client}", s:getfamily())
  end
  local sock, err, code = M[family == "inet" and "tcp4" or family == "inet6" and "tcp6" or "tcp"]()
  if not sock then return nil, err, code end
  if laddr then
    local ok, err, code = sock:bind(laddr, lport or 0)
    if not ok then sock:close() return nil, err, code end
  end
  local ok
  ok, err, code = sock:connect(host, port)
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

-- The entries select can wait on: like LuaSocket, it skips what has no
-- getfd (a plain table, a string). The list is copied only when it holds
-- such an entry.
local function pollable(obj)
  local t = type(obj)
  return (t == "table" or t == "userdata") and obj.getfd ~= nil
end

local function selectable(list, n)
  if type(list) ~= "table" then
    if list ~= nil then argerror(n, "select", "table expected, got " .. type(list)) end
    return nil
  end
  for i = 1, #list do
    if not pollable(list[i]) then
      local out = {}
      for k = 1, #list do
        if pollable(list[k]) then out[#out + 1] = list[k] end
      end
      return out
    end
  end
  return list
end

--- LuaSocket's select, on dualstack's (poll, no FD_SETSIZE).
-- @tparam ?table recvt sockets to read
-- @tparam ?table sendt sockets to write
-- @tparam[opt] number timeout seconds
-- @treturn table readable, table writable, and "timeout" when none is ready
function M.select(recvt, sendt, timeout)
  recvt, sendt = selectable(recvt, 1), selectable(sendt, 2)
  timeout = optnumber(timeout, 3, "select", -1)
  return ds.select(recvt, sendt, timeout >= 0 and timeout or nil)
end

-- ---- time -----------------------------------------------------------------

--- The wall-clock time in seconds, with a fraction.
-- @treturn number seconds since the epoch
-- @function gettime
M.gettime = core.gettime

--- Waits for some seconds (nothing for a negative time).
-- @tparam number seconds
function M.sleep(seconds)
  seconds = checknumber(seconds, 1, "sleep")
  if seconds > 0 then core.poll({}, {}, seconds) end
end

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
  if not list then return failure(err, code) end
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
  if host == nil and port == nil then raise("host and serv cannot be both nil") end
  host = optstring(host, 1, "getnameinfo")
  port = optstring(port, 2, "getnameinfo")
  local list, err, code = core.getaddrinfo(host, port, { socktype = "stream" })
  if not list then return failure(err, code) end
  local names, serv = {}, nil
  for _, r in ipairs(list) do
    local name, s
    name, s, code = core.getnameinfo(r.addr, r.port)
    if not name then return failure(s, code) end
    if host then names[#names + 1] = name end
    if port then serv = s end
  end
  return names, serv
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

-- choose, sinkt and sourcet give the behaviour of LuaSocket's socket.lua
-- (MIT, Diego Nehab): the same modes and results, written here anew.

--- A function dispatching on its first argument (a name; "default" when
-- it is not a string) to table's functions.
-- @tparam table t functions by name
-- @treturn function
function M.choose(t)
  return function(mode, ...)
    if type(mode) == "string" then
      local make = t[mode]
      if not make then raise("unknown key (" .. mode .. ")") end
      return make((...), (select(2, ...)))
    end
    -- no mode given: the first argument is the socket
    return t.default(mode, (...))
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

-- A sink sends each chunk; the end of the data (no chunk) is 1, after
-- closing the socket when close_at_end.
local function socket_sink(close_at_end)
  return function(sock)
    return pumpable(sock, function(_, chunk)
      if chunk ~= nil then return sock:send(chunk) end
      if close_at_end then sock:close() end
      return 1
    end)
  end
end

sinkt["close-when-done"] = socket_sink(true)
sinkt["keep-open"] = socket_sink(false)
sinkt.default = sinkt["keep-open"]

-- The next `left` bytes, BLOCKSIZE at a time; then nil.
sourcet["by-length"] = function(sock, left)
  return pumpable(sock, function()
    if left <= 0 then return nil end
    local piece, err = sock:receive(math.min(left, M.BLOCKSIZE))
    if not piece then return nil, err end
    left = left - #piece
    return piece
  end)
end

-- Everything until the peer closes: the bytes that came with the close are
-- the last piece, and the socket is closed.
sourcet["until-closed"] = function(sock)
  local finished = false
  return pumpable(sock, function()
    if finished then return nil end
    local piece, err, rest = sock:receive(M.BLOCKSIZE)
    if piece then return piece end
    if err ~= "closed" then return nil, err end
    finished = true
    sock:close()
    return rest
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
M._SOCKETINVALID = -1

--- LuaSocket's unloader (WSACleanup on Windows there); nothing to do here.
function M.__unload() end

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
