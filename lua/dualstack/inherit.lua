--- Sockets a service manager handed over: systemd's socket activation
-- (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, descriptors from 3 on; see
-- sd_listen_fds(3)), adopted with `dualstack.fromfd`. An inetd-style
-- service adopts its standard input instead: `ds.fromfd(0)`.
-- @module dualstack.inherit
local core = require "dualstack.core"

local M = {}

-- sd_listen_fds(3)'s SD_LISTEN_FDS_START: the first descriptor passed.
local FIRST = 3

--- The most descriptors `listen_fds` takes: `LISTEN_FDS` comes from the
-- environment, which whoever starts the process controls, and one of
-- 4000000000 must not make it try that many descriptors. 1024 is the
-- usual descriptor limit (`ulimit -n`), far above what a service is handed;
-- descriptors past `3 + MAX_FDS - 1` are left alone (open, not adopted).
M.MAX_FDS = 1024

-- Keys of the result that are not names of descriptors.
local RESERVED = { names = true, errors = true }

-- The colon-separated names of LISTEN_FDNAMES, by position.
local function split_names(text)
  local names = {}
  if not text then return names end
  for name in (text .. ":"):gmatch("([^:]*):") do names[#names + 1] = name end
  return names
end

--- The sockets systemd passed to this process. They count only when
-- `LISTEN_PID` is this process's id (`getpid`), so a child that inherits
-- the environment (Lua cannot unset it) does not take its parent's
-- descriptors; otherwise, or without `LISTEN_FDS`, the result is empty.
-- Each descriptor `3 .. 3 + LISTEN_FDS - 1` (at most `MAX_FDS` of them) is adopted by `fromfd`:
-- type, family (`"inet"`, `"inet6"` or `"dual"`) and v6only are read from
-- it, it becomes close-on-exec and blocking, and closing the socket
-- closes it. A descriptor that is not an IPv4 or IPv6 TCP or UDP socket
-- (an `AF_UNIX` one, a FIFO) is left open and untouched: its entry is
-- `false` and `errors[i]` says why.
-- @treturn table `t[i]`: the socket of descriptor `2 + i` (or `false`);
--   `t.names[i]`: its name from `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`,
--   `systemd-socket-activate --fdname`), nil without one; `t[name]`: the
--   first socket of that name (except the names `"names"` and `"errors"`);
--   `t.errors[i]`: the message of a descriptor that was not adopted
-- @usage
-- local sockets = require("dualstack.inherit").listen_fds()
-- local web = sockets.web or sockets[1]
-- if web then local c = web:accept() end
function M.listen_fds()
  local out = { names = {}, errors = {} }
  local pid = tonumber(os.getenv("LISTEN_PID") or "")
  local count = math.tointeger(tonumber(os.getenv("LISTEN_FDS") or ""))
  if pid ~= core.getpid() or not count or count < 1 then return out end
  local names = split_names(os.getenv("LISTEN_FDNAMES"))
  if count > M.MAX_FDS then count = M.MAX_FDS end
  for i = 1, count do
    local sock, err = core.fromfd(FIRST + i - 1)
    out[i] = sock or false
    if not sock then out.errors[i] = err end
    local name = names[i]
    if name and name ~= "" then
      out.names[i] = name
      if sock and not RESERVED[name] and out[name] == nil then out[name] = sock end
    end
  end
  return out
end

return M
