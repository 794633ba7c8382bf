-- dualstack: IPv4/IPv6 sockets done right. This module re-exports the C
-- core (dualstack.core) and adds the conveniences written in Lua.
local core = require "dualstack.core"

local M = {}
for name, value in pairs(core) do M[name] = value end

return M
