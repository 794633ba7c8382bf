-- The drop-in also answers require "socket.core" (scripts and socket.lua use it).
return require "dualstack.luasocket"
