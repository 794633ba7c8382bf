-- LuaSocket scripts run with this first on LUA_PATH get the drop-in.
return require "dualstack.luasocket"
