--- LDoc filter for docs/check.lua: prints one line per documented item,
-- `doc<TAB>module<TAB>name<TAB>line<TAB>file<TAB>summary<TAB>params`, where
-- params lists the parameters that have no description. It runs inside
-- ldoc (Lua 5.1):
--   LUA_PATH="docs/?.lua;;" ldoc -c docs/config.ld --filter ldoc_names.emit .
-- Only lines starting with "doc" are data; ldoc prints notes of its own.
local M = {}

local function one_line(s)
  return (tostring(s or ""):gsub("%s+", " "))
end

-- Parameter names without a description (self excepted: it is implied).
local function undocumented_params(item)
  local missing = {}
  local params = item.params or {}
  local map = params.map or {}
  for _, p in ipairs(params) do
    if p ~= "self" and one_line(map[p]):match("^%s*$") then missing[#missing + 1] = p end
  end
  return table.concat(missing, ",")
end

function M.emit(modules)
  for _, mod in ipairs(modules) do
    for _, item in ipairs(mod.items) do
      io.write(table.concat({
        "doc", mod.name, item.name, tostring(item.lineno or 0), tostring(mod.file or ""),
        one_line(item.summary), undocumented_params(item),
      }, "\t"), "\n")
    end
  end
end

return M
