--- select with LuaSocket's signature and results, on poll(2), for any
-- number of dualstack sockets, listeners and LuaSocket-style objects
-- (anything with getfd, and optionally dirty). Each result is an array
-- that also maps each object to its index; a listener is watched on all
-- its sockets and comes back as itself; an object with buffered data
-- (`dirty`) is ready at once. There is no `FD_SETSIZE` limit: a list may
-- hold up to `POLL_MAX` descriptors.
-- @module dualstack.select
local core = require "dualstack.core"

local M = {}

-- Raises at select's caller; depth counts the helpers between select and
-- this function.
local function arg_error(n, msg, depth)
  error("bad argument #" .. n .. " to 'select' (" .. msg .. ")", depth + 3)
end

-- A list's length comes from Lua (a table with holes may have a border
-- near 2^63): bounded here, where the message can name select's argument.
local function check_list(list, n)
  if list ~= nil and type(list) ~= "table" then
    arg_error(n, "table expected, got " .. type(list), 1)
  end
  if list and rawlen(list) > core.POLL_MAX then arg_error(n, "too many descriptors", 1) end
end

-- A listener contributes a socket per family, so the descriptors may
-- outnumber the objects.
local function check_count(fds, n)
  if #fds > core.POLL_MAX then arg_error(n, "too many descriptors", 1) end
end

-- A descriptor from getfd: LuaSocket's are floats (5.0); a closed object
-- gives a negative one, skipped.
local function descriptor(s, n)
  local fd = math.tointeger((s:getfd()))
  if not fd or fd > 0x7fffffff then arg_error(n, "getfd() returned no descriptor", 2) end
  return fd
end

-- Descriptors of the objects in list (argument n); a listener contributes
-- each socket.
local function collect(list, fds, owner, n)
  for _, obj in ipairs(list or {}) do
    local t = type(obj)
    if t ~= "table" and t ~= "userdata" then arg_error(n, "socket expected, got " .. t, 2) end
    local socks = obj.sockets and obj:sockets() or { obj }
    for _, s in ipairs(socks) do
      local fd = descriptor(s, n)
      if fd >= 0 then
        fds[#fds + 1] = fd
        owner[#fds] = obj
      end
    end
  end
end

local function has_dirty(list)
  for _, obj in ipairs(list or {}) do
    if obj.dirty and obj:dirty() then return true end
  end
  return false
end

-- LuaSocket's result shape: an array that also maps each object to its index.
local function results(fds, owner, ready, list)
  local out, seen = {}, {}
  for i, fd in ipairs(fds) do
    local obj = owner[i]
    if ready[fd] and not seen[obj] then
      seen[obj] = true
      out[#out + 1] = obj
      out[obj] = #out
    end
  end
  for _, obj in ipairs(list or {}) do -- buffered data is ready without waiting
    if not seen[obj] and obj.dirty and obj:dirty() then
      seen[obj] = true
      out[#out + 1] = obj
      out[obj] = #out
    end
  end
  return out
end

--- Waits until some of recvt can be read or some of sendt written.
-- @tparam ?table recvt objects to read
-- @tparam ?table sendt objects to write
-- @tparam ?number timeout seconds; nil or negative waits for ever
-- @treturn table readable, table writable, and "timeout" when none is ready
-- @raise when a list is not a table or holds more than POLL_MAX
--   descriptors ("too many descriptors"), an entry is not an object whose
--   getfd gives a descriptor, or the timeout is not a number or is NaN
-- @usage
-- local r = ds.select({listener, client}, nil, 5)
-- if r[listener] then local c = listener:accept() end
function M.select(recvt, sendt, timeout)
  check_list(recvt, 1)
  check_list(sendt, 2)
  if timeout ~= nil and type(timeout) ~= "number" then
    error("bad argument #3 to 'select' (number expected, got " .. type(timeout) .. ")", 2)
  end
  if timeout ~= timeout then error("bad argument #3 to 'select' (timeout is NaN)", 2) end
  local rfds, rown, wfds, wown = {}, {}, {}, {}
  collect(recvt, rfds, rown, 1)
  collect(sendt, wfds, wown, 2)
  check_count(rfds, 1)
  check_count(wfds, 2)
  if has_dirty(recvt) then timeout = 0 end
  local rready, wready = core.poll(rfds, wfds, timeout)
  if not rready then return {}, {}, wready end
  local r = results(rfds, rown, rready, recvt)
  local w = results(wfds, wown, wready)
  if #r == 0 and #w == 0 then return r, w, "timeout" end
  return r, w
end

return M
