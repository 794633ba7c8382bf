-- What a spec case opened, closed after it: keep(obj) registers a socket or
-- listener (anything with close) and returns it; a spec file calls
-- `after_each(cleanup.close_all)` once.
local C = {}

local kept = {}

function C.keep(obj)
  kept[#kept + 1] = obj
  return obj
end

function C.close_all()
  for i = #kept, 1, -1 do
    kept[i]:close()
    kept[i] = nil
  end
end

return C
