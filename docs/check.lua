-- Fails (exit 1, listing the names) when a public function of dualstack has
-- no LDoc entry. Run from the repository root after `make`:
--
--   LUA_PATH="docs/?.lua;;" ldoc -c docs/config.ld --filter ldoc_names.emit . > names.tsv
--   lua5.4 docs/check.lua names.tsv
--
-- (`make check-docs` does both.) The public functions are found by loading
-- the module, not by reading sources, so a function added anywhere is
-- seen: the module table, the socket methods (the __index of a socket's
-- metatable) and the methods of TCP and UDP listeners. A function counts as
-- documented when LDoc has an entry for it:
--   - by its public name: `name` in module `dualstack` for a module
--     function, `socket:name` or `listener:name` in any dualstack module for
--     a method (how docs/dualstack.luadoc documents the C functions);
--   - or, for a function written in Lua, by the doc comment on its
--     definition: an entry in the file and at the line where the function
--     is defined, whose name ends in the public name (`Group:close` for a
--     listener's close, `listen` in dualstack.listen for ds.listen).
-- Parameters without a description are listed as notes; they do not fail.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath

local ds = require "dualstack"

-- ---- what LDoc documented ------------------------------------------------

-- Reads the filter's lines into entries indexed by qualified name and by
-- definition site.
local function read_entries(path)
  local f = assert(io.open(path, "r"))
  local entries = { by_name = {}, by_site = {} }
  for line in f:lines() do
    local tag, mod, name, lineno, file, summary, params =
      line:match("^(doc)\t([^\t]*)\t([^\t]*)\t(%d+)\t([^\t]*)\t([^\t]*)\t?([^\t]*)$")
    if tag then
      local e = { module = mod, name = name, summary = summary, params = params }
      entries.by_name[mod .. "\0" .. name] = e
      local site = file .. ":" .. lineno
      entries.by_site[site] = entries.by_site[site] or {}
      table.insert(entries.by_site[site], e)
      entries.count = (entries.count or 0) + 1
    end
  end
  f:close()
  return entries
end

-- ---- what the module exposes ---------------------------------------------

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- Appends {label, name, fn, docname, anymodule} for each function of t
-- (metamethods excepted: they are described in prose, not called by name).
local function add_functions(list, t, prefix, anymodule)
  for _, k in ipairs(sorted_keys(t)) do
    local v = t[k]
    if type(v) == "function" and not k:match("^__") then
      list[#list + 1] = {
        label = (prefix and prefix .. ":" or "dualstack.") .. k,
        name = k,
        fn = v,
        docname = prefix and prefix .. ":" .. k or k,
        anymodule = anymodule,
      }
    end
  end
end

local function public_functions()
  local list = {}
  add_functions(list, ds, nil, false)
  local sock = assert(ds.udp())
  add_functions(list, getmetatable(sock).__index, "socket", true)
  sock:close()
  for _, open in ipairs { ds.listen, ds.udp_listen } do
    local l = assert(open("127.0.0.1", 0))
    add_functions(list, getmetatable(l), "listener", true)
    l:close()
  end
  -- A method both listeners share is one function with one doc entry.
  local seen, unique = {}, {}
  for _, p in ipairs(list) do
    local key = p.label .. tostring(p.fn)
    if not seen[key] then
      seen[key] = true
      unique[#unique + 1] = p
    end
  end
  return unique
end

-- ---- matching ------------------------------------------------------------

local function by_public_name(entries, p)
  if not p.anymodule then return entries.by_name["dualstack\0" .. p.docname] end
  for _, list in pairs(entries.by_site) do
    for _, e in ipairs(list) do
      local ours = e.module == "dualstack" or e.module:match("^dualstack%.")
      if ours and e.name == p.docname then return e end
    end
  end
  return nil
end

-- The entry on a Lua function's definition, if it names the function.
local function by_definition(entries, p)
  local info = debug.getinfo(p.fn, "S")
  if info.what ~= "Lua" or not info.source:match("^@") then return nil end
  local src = info.source:sub(2):gsub("^%./", "")
  for site, list in pairs(entries.by_site) do
    local file, line = site:match("^(.*):(%d+)$")
    local same_file = file == src or file:sub(-#src - 1) == "/" .. src
    if same_file and tonumber(line) == info.linedefined then
      for _, e in ipairs(list) do
        if e.name == p.name or e.name:match("[.:]([%w_]+)$") == p.name then return e end
      end
    end
  end
  return nil
end

local function main(path)
  if not path then
    io.stderr:write("usage: lua5.4 docs/check.lua NAMES.tsv (from the ldoc_names filter)\n")
    os.exit(2)
  end
  local entries = read_entries(path)
  if not entries.count then
    io.stderr:write("check-docs: no LDoc entries in " .. path .. ": did ldoc run?\n")
    os.exit(2)
  end
  local missing, empty, notes, total = {}, {}, {}, 0
  for _, p in ipairs(public_functions()) do
    total = total + 1
    local e = by_public_name(entries, p) or by_definition(entries, p)
    if not e then
      missing[#missing + 1] = p.label
    elseif e.summary:match("^%s*$") then
      empty[#empty + 1] = p.label
    elseif e.params ~= "" then
      notes[#notes + 1] = string.format("%s (%s %s): %s", p.label, e.module, e.name, e.params)
    end
  end
  for _, n in ipairs(notes) do print("note: parameters without a description: " .. n) end
  if #missing > 0 or #empty > 0 then
    for _, name in ipairs(missing) do print("undocumented: " .. name) end
    for _, name in ipairs(empty) do print("doc entry without a summary: " .. name) end
    print(string.format("check-docs: %d of %d public functions lack documentation",
                        #missing + #empty, total))
    os.exit(1)
  end
  print(string.format("check-docs: all %d public functions documented", total))
end

main(...)
