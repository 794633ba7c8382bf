-- cqueues_client.lua: a client by name that never stops its controller.
--
-- Inside a cqueues coroutine, ds.connect resolves the name through
-- cqueues' own resolver and races IPv6 and IPv4 (Happy Eyeballs) by
-- yielding to the controller between attempts, so every other coroutine
-- keeps running. Here the other coroutine is a ticker: how often it ran
-- while the client connected shows that the controller was never blocked.
--
-- usage: lua5.4 examples/cqueues_client.lua [host [port]] [-m message]
--   host   a name or an address (default "localhost")
--   port   default 7009 (examples/cqueues_server.lua's)
--   -m     the line to send (default "hello"); the echo is printed
--
-- Needs Debian's lua-cqueues. cqueues' resolver reads /etc/hosts and
-- /etc/resolv.conf (not nsswitch), so names the C library finds through
-- other sources (mDNS, LDAP) are not found here.

-- The in-tree build first, then whatever is installed; examples/ for the
-- shared command-line reader.
package.path = "lua/?.lua;lua/?/init.lua;examples/?.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local ds = require "dualstack"
local args = require "args"
local cqueues = require "cqueues"

local USAGE = "usage: lua5.4 examples/cqueues_client.lua [host [port]] [-m message]\n"

local TICK = 0.01  -- seconds between the ticker's runs

-- Connects, sends one line and reads its echo; stops the ticker when done.
local function talk(opts, ticks)
  local started, ticked = ds.monotime(), ticks.n
  local c, err, code = ds.connect(opts.host, opts.port, {timeout = 10})
  if not c then
    ticks.stop = true
    return print(("cannot connect to %s port %d: %s (%s)"):format(opts.host, opts.port, err, code))
  end
  print(("connected to [%s]:%d in %.3f s; the ticker ran %d time(s) meanwhile")
    :format(ds.unmap(c:getpeername()), select(2, c:getpeername()), ds.monotime() - started, ticks.n - ticked))
  -- The connected socket is a plain one: settimeout(0) and ds.wait keep
  -- its calls from blocking the controller too.
  c:settimeout(0)
  local at, line = 1, opts.message .. "\n"
  while at <= #line do
    local last, serr, partial = c:send(line, at)
    if last then break end
    if serr ~= "timeout" then error(serr) end
    at = partial + 1
    ds.wait(c, 10)
  end
  local echo, rerr, partial = c:receive("*l")
  while not echo and rerr == "timeout" and ds.wait(c, 10) do
    echo, rerr, partial = c:receive("*l", partial)
  end
  print("echo: " .. tostring(echo or rerr))
  c:close()
  ticks.stop = true
end

local function tick(ticks)
  while not ticks.stop do
    ticks.n = ticks.n + 1
    cqueues.sleep(TICK)
  end
end

local function main(argv)
  local opts = args.parse(argv, USAGE, {
    defaults = {host = "localhost", port = 7009, message = "hello"},
    positional = {{"host", args.text}, {"port", args.integer}},
    flags = {m = {"message", args.text}},
  })
  io.stdout:setvbuf("line")
  local ticks, cq = {n = 0, stop = false}, cqueues.new()
  cq:wrap(tick, ticks)
  cq:wrap(talk, opts, ticks)
  assert(cq:loop())
end

main(arg)
