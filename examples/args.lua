-- args.lua: the command-line reader the example servers share. Not a
-- program of its own.
--
--   local opts = args.parse(arg, USAGE, {
--     defaults = {port = 7007, host = "*"},
--     positional = {{"port", args.integer}, {"host", args.text}},
--     flags = {n = {"count", args.integer}, t = {"idle", args.number}},
--   })
--
-- Each flag is one letter followed by a value. Anything wrong prints the
-- usage text to stderr and exits 2.

local M = {}

-- Converters: the value, or nil when the text does not fit.
function M.integer(text) return math.tointeger(tonumber(text)) end
function M.number(text) return tonumber(text) end
function M.text(text) return text end
function M.yesno(text)
  if text == "yes" then return true elseif text == "no" then return false end
  return nil
end

local function fail(usage)
  io.stderr:write(usage)
  os.exit(2)
end

-- Converts text with convert, or fails with the usage.
local function value(convert, text, usage)
  local v = text and convert(text)
  if v == nil then fail(usage) end
  return v
end

function M.parse(argv, usage, spec)
  local opts, positional, i = {}, {}, 1
  for k, v in pairs(spec.defaults or {}) do opts[k] = v end
  while i <= #argv do
    local letter = argv[i]:match("^%-(%a)$")
    if letter then
      local flag = (spec.flags or {})[letter] or fail(usage)
      opts[flag[1]] = value(flag[2], argv[i + 1], usage)
      i = i + 2
    else
      positional[#positional + 1] = argv[i]
      i = i + 1
    end
  end
  local names = spec.positional or {}
  if #positional > #names then fail(usage) end
  for k, text in ipairs(positional) do
    opts[names[k][1]] = value(names[k][2], text, usage)
  end
  return opts
end

return M
