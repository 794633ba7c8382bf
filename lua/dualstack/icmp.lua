--- ICMP echo messages, built and parsed with string.pack (no sockets here:
-- `core.icmp` makes those). `echo{family =, id =, seq =, data =}` builds an
-- echo request; `parse(msg, family)` reads an echo request or reply, or an
-- error message (unreachable, time exceeded, packet too big, parameter
-- problem) with what it quotes of the packet that caused it.
-- The ICMPv4 checksum is computed here (a raw socket needs it; the kernel
-- recomputes it on a datagram socket); ICMPv6's is always the kernel's.
-- @module dualstack.icmp
local core = require "dualstack.core"

local M = {}

-- A value's type as argument errors name it (a file is "FILE*").
local function type_name(v)
  return io.type(v) and "FILE*" or type(v)
end

local ECHO_REQUEST = { inet = 8, inet6 = 128 }
local ECHO_REPLY = { inet = 0, inet6 = 129 }

-- Error types, by family: what kind of error each is.
local ERRORS = {
  inet = { [3] = "unreachable", [11] = "time_exceeded", [12] = "param" },
  inet6 = { [1] = "unreachable", [2] = "too_big", [3] = "time_exceeded", [4] = "param" },
}

--- What kind of error an ICMP type is (what `parse` gives as kind): for a
-- queued error (sock:recverr's type) as for a received message.
-- @tparam string family "inet" or "inet6"
-- @tparam integer typ the ICMP type
-- @treturn string|nil "unreachable", "time_exceeded", "too_big" or "param";
--   nil for a type that is no error
function M.kind(family, typ)
  local kinds = ERRORS[family]
  return kinds and kinds[typ]
end

--- The Internet checksum (RFC 1071) of a string.
-- @tparam string s the bytes
-- @treturn integer the 16-bit checksum
function M.checksum(s)
  local sum, n = 0, #s
  for i = 1, n - 1, 2 do sum = sum + string.unpack(">I2", s, i) end
  if n % 2 == 1 then sum = sum + (s:byte(n) << 8) end
  while sum > 0xffff do sum = (sum & 0xffff) + (sum >> 16) end
  return ~sum & 0xffff
end

local function check_family(family, fname, arg)
  if family ~= "inet" and family ~= "inet6" then
    error(("bad argument #%d to '%s' (family 'inet' or 'inet6' expected, got %s)")
      :format(arg, fname, tostring(family)), 3)
  end
end

local function check_u16(t, field, def)
  local v = t[field]
  if v == nil then return def end
  if math.type(v) ~= "integer" or v < 0 or v > 0xffff then
    error(("bad argument #1 to 'icmp_echo' (field '%s': integer 0-65535 expected)"):format(field), 3)
  end
  return v
end

--- An echo request.
-- @tparam table t family ("inet" | "inet6"), id (default 0), seq (default
--   0), data (payload, default "")
-- @treturn string the ICMP message
-- @raise on a bad family, id, seq or data
function M.echo(t)
  if type(t) ~= "table" then error("bad argument #1 to 'icmp_echo' (table expected, got " .. type_name(t) .. ")", 2) end
  check_family(t.family, "icmp_echo", 1)
  local id, seq, data = check_u16(t, "id", 0), check_u16(t, "seq", 0), t.data or ""
  if type(data) ~= "string" then error("bad argument #1 to 'icmp_echo' (field 'data': string expected)", 2) end
  local typ = ECHO_REQUEST[t.family]
  local sum = t.family == "inet" and M.checksum(string.pack(">BBI2I2I2", typ, 0, 0, id, seq) .. data) or 0
  return string.pack(">BBI2I2I2", typ, 0, sum, id, seq) .. data
end

-- What an error message quotes of the packet that caused it: its
-- destination, protocol and, for an echo request, id and seq.
local function inner(msg, family)
  local at, proto, dst = 9, nil, nil
  if family == "inet" then
    if #msg < at + 19 then return nil end
    local ihl = (msg:byte(at) & 0x0f) * 4
    proto, dst = msg:byte(at + 9), core.ntop(msg:sub(at + 16, at + 19))
    at = at + ihl
  else
    if #msg < at + 39 then return nil end
    proto, dst = msg:byte(at + 6), core.ntop(msg:sub(at + 24, at + 39))
    at = at + 40
  end
  local r = { dst = dst, proto = proto }
  if #msg >= at + 7 and msg:byte(at) == ECHO_REQUEST[family] then
    r.id, r.seq = string.unpack(">I2I2", msg, at + 4)
  end
  return r
end

--- Reads an ICMP message (what an ICMP socket receives).
-- @tparam string msg the message
-- @tparam string family "inet" or "inet6"
-- @treturn[1] table echo: {type, code, id, seq, data}; error: {type, code,
--   kind = "unreachable"|"time_exceeded"|"too_big"|"param", mtu (frag
--   needed, too big), inner = {dst, proto, id, seq}}; other: {type, code}
-- @return[2] nil, "short ICMP message (N bytes)", "EINVAL"
function M.parse(msg, family)
  if type(msg) == "number" then msg = tostring(msg) end -- as the C functions take it
  if type(msg) ~= "string" then error("bad argument #1 to 'icmp_parse' (string expected, got " .. type_name(msg) .. ")", 2) end
  check_family(family, "icmp_parse", 2)
  if #msg < 8 then return nil, ("short ICMP message (%d bytes)"):format(#msg), "EINVAL" end
  local typ, code = msg:byte(1, 2)
  if typ == ECHO_REQUEST[family] or typ == ECHO_REPLY[family] then
    local id, seq = string.unpack(">I2I2", msg, 5)
    return { type = typ, code = code, id = id, seq = seq, data = msg:sub(9) }
  end
  local kind = M.kind(family, typ)
  if not kind then return { type = typ, code = code } end
  local r = { type = typ, code = code, kind = kind, inner = inner(msg, family) }
  if family == "inet" and typ == 3 and code == 4 then r.mtu = string.unpack(">I2", msg, 7)
  elseif family == "inet6" and typ == 2 then r.mtu = string.unpack(">I4", msg, 5) end
  return r
end

return M
