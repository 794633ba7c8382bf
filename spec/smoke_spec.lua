local ds = require "dualstack"
describe("module", function()
  it("loads the core", function()
    assert.is_function(ds.udp)
    assert.is_function(ds.tcp)
  end)
end)
