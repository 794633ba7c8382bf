-- The C layout of docs/LAYOUT.md holds: binding (src/*.c) over core
-- (src/core/) over the platform backend (src/sys/). The core and the
-- backend include no Lua header; nothing above the backend makes a system
-- call, reads errno or includes a system header; and no two files call
-- each other, directly or round a longer loop.

local H = require "spec.helpers"

-- Windows has no shell to list the tree with: every case is pending there.
local WHY = H.needs_source_tree("the C layout check")
local ROOT = not WHY and H.repo_root()

local function files(pattern)
  if WHY then return {} end
  local p = assert(io.popen("cd '" .. ROOT .. "' && ls " .. pattern .. " 2>/dev/null"))
  local out = {}
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

local function read(path)
  local f = assert(io.open(ROOT .. "/" .. path))
  local s = f:read("a")
  f:close()
  return s
end

-- The code of a C file without its comments and string literals.
local function code(path)
  return (read(path):gsub("/%*.-%*/", " "):gsub('"[^"\n]*"', '""'))
end

-- The headers a C file includes, <system> and "own" alike.
local function includes(path)
  local found = {}
  for h in read(path):gsub("/%*.-%*/", " "):gmatch("#include%s*[<\"]([^>\"]+)[>\"]") do
    found[#found + 1] = h
  end
  return found
end

local BINDING = files("src/*.c")
local CORE = files("src/core/*.c src/core/*.h")
local BACKEND = files("src/sys/*.c src/sys/*.h")

-- Calls only the backend may make (and errno, which only it reads).
local SYSTEM = {
  "socket", "close", "bind", "connect", "listen", "accept", "accept4", "shutdown",
  "getsockname", "getpeername", "setsockopt", "getsockopt", "send", "recv", "sendto",
  "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "fcntl", "ioctl", "poll",
  "select", "getaddrinfo", "freeaddrinfo", "getnameinfo", "gai_strerror",
  "if_nametoindex", "if_indextoname", "getifaddrs", "freeifaddrs", "inet_pton",
  "inet_ntop", "clock_gettime", "WSAGetLastError", "closesocket",
}

local function system_uses(path)
  local src, found = code(path), {}
  for _, name in ipairs(SYSTEM) do
    if src:find("%f[%w_]" .. name .. "%s*%(") then found[#found + 1] = name .. "()" end
  end
  if src:find("%f[%w_]errno%f[^%w_]") then found[#found + 1] = "errno" end
  for _, header in ipairs(includes(path)) do
    if header:find("^sys/") or header:find("^net") or header:find("^arpa/") or
       header == "unistd.h" or header == "poll.h" or header == "fcntl.h" or
       header == "ifaddrs.h" or header:find("^win") or header:find("^ws2") then
      found[#found + 1] = "<" .. header .. ">"
    end
  end
  return found
end

-- The graph's node of a file: the backends (src/sys/*.c, one per
-- platform, defining the same functions) are one node.
local function node(f)
  return f:find("^src/sys/") and "src/sys" or f
end

-- Which file defines each ds_ function, and which nodes each node calls.
local function call_graph(all)
  local defined, graph = {}, {}
  for _, f in ipairs(all) do
    for name in ("\n" .. code(f)):gmatch("\n[%a_][%w_ %*]-%f[%w_](ds_[%w_]+)%s*%([^;{]-%)%s*{") do
      defined[name] = node(f)
    end
  end
  for _, f in ipairs(all) do
    local from = node(f)
    graph[from] = graph[from] or {}
    for name in code(f):gmatch("%f[%w_](ds_[%w_]+)%s*%(") do
      local g = defined[name]
      if g and g ~= from then graph[from][g] = true end
    end
  end
  return graph
end

-- A loop in graph as a list of files, or nil.
local function find_cycle(graph)
  local state, stack = {}, {}
  local function visit(f)
    state[f] = "open"
    stack[#stack + 1] = f
    for g in pairs(graph[f] or {}) do
      if state[g] == "open" then
        local loop, on = {}, false
        for _, h in ipairs(stack) do
          on = on or h == g
          if on then loop[#loop + 1] = h end
        end
        loop[#loop + 1] = g
        return loop
      elseif not state[g] then
        local loop = visit(g)
        if loop then return loop end
      end
    end
    stack[#stack] = nil
    state[f] = "done"
  end
  for f in pairs(graph) do
    if not state[f] then
      local loop = visit(f)
      if loop then return loop end
    end
  end
end

describe("the C layout", function()
  it("has each layer", function()
    if WHY then return pending(WHY) end
    assert.is_true(#BINDING > 0 and #CORE > 0 and #BACKEND > 0)
  end)

  it("keeps Lua out of the core and the backend", function()
    if WHY then return pending(WHY) end
    local function lua_headers(f)
      local found = {}
      for _, h in ipairs(includes(f)) do
        if h == "lua.h" or h == "lauxlib.h" or h == "lualib.h" or h:find("ds%.h$") then
          found[#found + 1] = h
        end
      end
      return found
    end
    for _, list in ipairs({CORE, BACKEND}) do
      for _, f in ipairs(list) do assert.same({}, lua_headers(f), f) end
    end
    assert.same({"ds.h"}, lua_headers("src/socket.c"), "the check sees the binding's header")
  end)

  it("makes every system call in the backend", function()
    if WHY then return pending(WHY) end
    local above = {}
    for _, f in ipairs(BINDING) do above[#above + 1] = f end
    for _, f in ipairs(CORE) do above[#above + 1] = f end
    for _, f in ipairs(above) do
      assert.same({}, system_uses(f), f .. " makes system calls")
    end
    assert.is_true(#system_uses("src/sys/posix.c") > 10, "the check sees the backend's calls")
  end)

  it("calls downwards only: no file calls one that calls it back", function()
    if WHY then return pending(WHY) end
    local all = {}
    for _, list in ipairs({BINDING, CORE, BACKEND}) do
      for _, f in ipairs(list) do
        if f:find("%.c$") then all[#all + 1] = f end
      end
    end
    local graph = call_graph(all)
    assert.is_nil(find_cycle(graph))
    for _, f in ipairs(CORE) do
      for g in pairs(graph[f] or {}) do assert.is_nil(g:find("^src/[^/]+%.c$"), f .. " calls up into " .. g) end
    end
    assert.same({}, graph["src/sys"], "the backend calls nothing above it")
    assert.truthy(graph["src/socket.c"]["src/object.c"], "the graph sees socket.c's calls")
    assert.truthy(graph["src/core/net.c"]["src/sys"], "the graph sees net.c's calls")
  end)
end)
