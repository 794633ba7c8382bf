-- Review 3 (fresh eyes on the adoption, local-socket and backend C since 6e88f22):
-- each case here failed on the code before its fix, or guards a path the review
-- found untested.
local H = require "helpers"
local ds = H.ds
local th = require "spec.testhelp"

local cleanup = require "cleanup"
local keep = cleanup.keep
after_each(cleanup.close_all)

describe("review 3: local stream recvmsg", function()
  -- unix_recvmsg read from the kernel even when receive had read ahead:
  -- the bytes came out of order ("more" before "rest").
  it("gives the bytes receive read ahead first, in order, as recv does", function()
    local why = H.needs_unix("local stream socket pairs", true); if why then return pending(why) end
    local a, b = ds.socketpair("stream")
    keep(a); keep(b)
    a:settimeout(H.WAIT); b:settimeout(H.WAIT)
    H.ok(a:send("line\nrest"))
    assert.equal("line", b:receive("*l"))
    H.ok(a:send("more"))
    local m = H.ok(b:recvmsg(2))
    assert.equal("re", m.data)
    assert.equal(2, m.size)
    assert.equal("", m.addr)
    assert.is_false(m.truncated)
    assert.is_false(m.ctruncated)
    assert.is_nil(m.fds)
    m = H.ok(b:recvmsg(100, m))
    assert.equal("st", m.data)
    m = H.ok(b:recvmsg(100, m))
    assert.equal("more", m.data)
  end)

  it("a finalizer that takes the read-ahead while the string is reserved leaves the next bytes to the socket", function()
    local why = H.needs_unix("local stream socket pairs", true); if why then return pending(why) end
    local a, b = ds.socketpair("stream")
    keep(a); keep(b)
    a:settimeout(H.WAIT); b:settimeout(H.WAIT)
    H.ok(a:send("x\n" .. string.rep("r", 600)))
    assert.equal("x", b:receive("*l"))
    H.ok(a:send("after"))
    local taken
    collectgarbage("stop")
    for _ = 1, 200 do setmetatable({}, { __gc = function() if not taken then taken = b:receive(600) end end }) end
    collectgarbage("restart")
    local m = H.ok(b:recvmsg(1000))
    collectgarbage()
    if taken then
      assert.equal(string.rep("r", 600), taken)
      assert.equal("after", m.data)
    else
      assert.equal(string.rep("r", 600), m.data)
    end
  end)
end)

describe("review 3: adoption", function()
  it("a received socket with recverr on leaks nothing when memory runs out at any allocation", function()
    local why = H.needs_unix("descriptor passing", true); if why then return pending(why) end
    local a, b = ds.socketpair("dgram")
    keep(a); keep(b)
    a:settimeout(H.WAIT); b:settimeout(H.WAIT)
    local u = keep(H.udp_bound("inet", "127.0.0.1"))
    H.ok(u:setoption("recverr", true))
    collectgarbage(); collectgarbage()
    local before = H.open_fds()
    local failed = 0
    for n = 0, 40 do
      a:sendmsg({ data = "x", fds = { u, u } })
      local ok, m = th.failcall(n, b.recvmsg, b)
      if ok then
        for _, o in ipairs(m.fds) do
          assert.is_true(o:getoption("recverr"))
          o:close()
        end
      else
        failed = failed + 1
        assert.matches("not enough memory", tostring(m))
      end
      m = nil
      collectgarbage(); collectgarbage()
      b:settimeout(0)
      local r = b:recvmsg()
      if r and r.fds then for _, o in ipairs(r.fds) do o:close() end end
      b:settimeout(H.WAIT)
    end
    collectgarbage(); collectgarbage()
    assert.is_true(failed > 0)
    assert.equal(before, H.open_fds())
  end)

  it("fromfd of a socket with recverr on: a memory error leaves the descriptor the caller's, open", function()
    local why = H.needs_posix("counting descriptors"); if why then return pending(why) end
    local u = keep(H.udp_bound("inet", "127.0.0.1"))
    H.ok(u:setoption("recverr", true))
    local failed, adopted = 0, 0
    for n = 0, 20 do
      local fd = th.dup(u:getfd())
      local ok, s = th.failcall(n, ds.fromfd, fd)
      if ok then
        adopted = adopted + 1
        assert.equal(fd, s:getfd())
        s:close()
      else
        failed = failed + 1
        assert.matches("not enough memory", tostring(s))
        collectgarbage(); collectgarbage()
        local t = H.ok(ds.fromfd(fd)) -- still open, still the caller's
        t:close()
      end
    end
    assert.is_true(failed > 0 and adopted > 0)
  end)
end)
