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

  it("passes the environment through", function()
    assert.equals("-all", os.getenv("WINEDEBUG"))
  end)
end)
