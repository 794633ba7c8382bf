-- The Windows runner itself (test/windows/busted.sh): the interpreter is
-- the Windows Lua, busted's C modules load, the environment reaches it.
describe("the Windows runner", function()
  it("runs the Windows Lua", function()
    assert.equals("\\", package.config:sub(1, 1))
    assert.matches("^%a:\\", os.getenv("SystemRoot") or "")
  end)

  it("finds modules in build/windows", function()
    assert.matches("build/windows/%?%.dll", package.cpath)
    assert.equals("function", type(require("system").monotime))
    assert.matches("^%a:\\", require("lfs").currentdir())
  end)

  it("loads LuaSocket for Windows and sends over the loopback", function()
    local socket = require "socket"
    assert.matches("^build[/\\]windows%-test[/\\]socket[/\\]core%.dll$",
      package.searchpath("socket.core", package.cpath))
    local u = assert(socket.udp())
    assert(u:setsockname("127.0.0.1", 0))
    local v = assert(socket.udp())
    assert(v:sendto("hi", u:getsockname()))
    assert.equals(u, socket.select({ u }, nil, 2)[1])
    assert.equals("hi", u:receive())
    u:close()
    v:close()
  end)

  it("passes the environment through", function()
    assert.equals("-all", os.getenv("WINEDEBUG"))
  end)
end)
