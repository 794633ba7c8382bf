-- The event-loop examples, run as their users run them: a child lua5.4
-- process per program, talked to over 127.0.0.1, 127.0.0.2 and ::1, its
-- output read back. Each needs its loop library (lua-cqueues, lua-luv)
-- and a POSIX shell for io.popen; without them the case is pending with
-- the reason.
local ds = require "dualstack"
local H = require "helpers"

-- Seconds a child may live at most: a hung example fails its case, it
-- never hangs the suite.
local LIMIT = 30

local function needs(module, pkg)
  return H.needs_posix("running an example as a child process") or H.needs_module(module, pkg)
end

-- Starts an example; returns its output pipe and the port of its banner
-- ("listening on ADDR port N (...)").
local function start(script, argv)
  local p = assert(io.popen(("exec timeout %d lua5.4 examples/%s %s 2>&1"):format(LIMIT, script, argv)))
  local banner = p:read("l")
  local port = banner and math.tointeger(tonumber(banner:match(" port (%d+) ")))
  if not port then
    local rest = p:read("a")
    p:close()
    error(("%s printed no banner: %s%s"):format(script, tostring(banner), rest or ""))
  end
  return p, port
end

-- The rest of a child's output once it has exited, and whether it exited 0.
local function finish(p)
  local out = p:read("a")
  return out, p:close()
end

-- Runs a client example to its end; its output and whether it exited 0.
local function run(script, argv)
  local p = assert(io.popen(("timeout %d lua5.4 examples/%s %s 2>&1"):format(LIMIT, script, argv)))
  return finish(p)
end

-- One datagram to addr:port from a socket of family; the answer, and the
-- address it came from, unmapped.
local function ask(family, addr, port, data)
  local u <close> = assert(ds.udp{family = family})
  assert(u:settimeout(H.WAIT))
  assert(u:sendto(data, addr, port))
  local answer, from = H.ok(u:recvfrom())
  return answer, ds.unmap(from)
end

-- The UDP half of both responders: each answer comes from the address its
-- datagram was sent to.
local function assert_answers_from_dst(port)
  for _, target in ipairs{{"dual", "127.0.0.1"}, {"dual", "127.0.0.2"}, {"inet6", "::1"}} do
    local answer, from = ask(target[1], target[2], port, "ping " .. target[2])
    assert.equal("ping " .. target[2], answer)
    assert.equal(target[2], from)
  end
end

local function line_client(host, port)
  local c = H.ok(ds.connect(host, port, {timeout = H.WAIT}))
  assert(c:settimeout(H.WAIT))
  return c
end

describe("examples/cqueues_server.lua", function()
  it("serves TCP clients of both families at once and answers UDP from each dst", function()
    local why = needs("cqueues", "lua-cqueues")
    if why then return pending(why) end
    local p, port = start("cqueues_server.lua", "0 -n 5 -t 10")
    assert_answers_from_dst(port)
    -- Both connections are open together: each is answered while the
    -- other waits, which one coroutine per client makes possible.
    local v4, v6 = line_client("127.0.0.1", port), line_client("::1", port)
    assert(v4:send("first over IPv4\n"))
    assert(v6:send("first over IPv6\n"))
    assert.equal("first over IPv6", H.ok(v6:receive()))
    assert.equal("first over IPv4", H.ok(v4:receive()))
    assert(v4:send("second\n"))
    assert.equal("second", H.ok(v4:receive()))
    v4:close()
    v6:close()
    local out, ok = finish(p)
    assert.is_true(ok, out)
    assert.matches("udp %[::ffff:127%.0%.0%.1%]:%d+ to ::ffff:127%.0%.0%.2: answered", out)
    assert.matches("tcp %[::ffff:127%.0%.0%.1%]:%d+: 2 line%(s%), then closed", out)
    assert.matches("tcp %[::1%]:%d+: 1 line%(s%), then closed", out)
    assert.matches("served 5 conversation%(s%)\n$", out)
  end)
end)

describe("examples/cqueues_client.lua", function()
  it("connects by name and by address and prints the echo", function()
    local why = needs("cqueues", "lua-cqueues")
    if why then return pending(why) end
    local p, port = start("cqueues_server.lua", "0 -n 2 -t 10")
    local by_name, ok1 = run("cqueues_client.lua", ("localhost %d -m 'by name'"):format(port))
    local by_v6, ok2 = run("cqueues_client.lua", ("::1 %d"):format(port))
    local out, ok = finish(p)
    assert.is_true(ok1, by_name)
    assert.matches("^connected to %[[%d.:]+%]:" .. port .. " in [%d.]+ s; the ticker ran %d+ time%(s%) meanwhile\n"
      .. "echo: by name\n$", by_name)
    assert.is_true(ok2, by_v6)
    assert.matches("^connected to %[::1%]:" .. port .. " .*\necho: hello\n$", by_v6)
    assert.is_true(ok, out)
    assert.matches("served 2 conversation%(s%)\n$", out)
  end)

  it("reports a refused connection with its code", function()
    local why = needs("cqueues", "lua-cqueues")
    if why then return pending(why) end
    local port = H.closed_port("inet6", "::1")
    local out, ok = run("cqueues_client.lua", ("::1 %d"):format(port))
    assert.is_true(ok, out)
    assert.equal(("cannot connect to ::1 port %d: connection refused (ECONNREFUSED)\n"):format(port), out)
  end)
end)

describe("examples/luv_responder.lua", function()
  for _, d in ipairs{"yes", "no"} do
    it("answers from each dst while luv's timer keeps firing (-d " .. d .. ")", function()
      local why = needs("luv", "lua-luv")
      if why then return pending(why) end
      local p, port = start("luv_responder.lua", "0 -n 3 -t 10 -d " .. d)
      -- Time between datagrams, for the loop's timer to fire while the
      -- responder's coroutine waits in recvfrom.
      require("dualstack.core").poll({}, {}, 0.1)
      assert_answers_from_dst(port)
      local out, ok = finish(p)
      assert.is_true(ok, out)
      assert.matches('to [:f]*127%.0%.0%.2 %(127%.0%.0%.2%) on ifindex %d+ %(lo%): "ping 127%.0%.0%.2", replied from', out)
      local fired = math.tointeger(tonumber(out:match("answered 3 datagram%(s%); the timer fired (%d+) time%(s%) meanwhile")))
      assert.is_not_nil(fired, out)
      -- 10 ms ticks through at least 100 ms of waiting: a blocked loop fires none.
      assert.is_true(fired >= 3, out)
    end)
  end
end)

describe("examples/udp_responder_cqueues.lua", function()
  for _, d in ipairs{"yes", "no"} do
    it("answers from each dst, a coroutine per socket (-d " .. d .. ")", function()
      local why = needs("cqueues", "lua-cqueues")
      if why then return pending(why) end
      local p, port = start("udp_responder_cqueues.lua", "0 -n 3 -t 10 -d " .. d)
      assert_answers_from_dst(port)
      local out, ok = finish(p)
      assert.is_true(ok, out)
      assert.matches('"ping 127%.0%.0%.2", replied from [:f]*127%.0%.0%.2\n', out)
      assert.matches("stopping: count reached\nanswered 3 datagram%(s%)\n$", out)
    end)
  end
end)
