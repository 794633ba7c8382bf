-- LuaSocket 3.1's own scripts (samples/, test/, etc/ of its source tree)
-- run unmodified against the drop-in: the shim test/luasocket/socket.lua
-- (`return require "dualstack.luasocket"`) comes first on LUA_PATH, so
-- their `require "socket"` gets dualstack's sockets. Each case runs the
-- scripts as child lua5.4 processes in a private network namespace
-- (`unshare -n`, loopback only: nothing they try can leave the host, and
-- their fixed ports cannot clash), under a hard `timeout` that kills the
-- whole process group; a case's shell kills its background servers on exit.
-- The source tree is Debian's lua-socket upstream tarball, fetched once
-- into build/luasocket/ with the workplace's debian-archive tool; without
-- it (or without unshare) the cases are pending with the reason.
-- Scripts written for Lua 5.1 (module(), math.mod, unpack) get those names
-- from a LUA_INIT compat line, as they would need under real LuaSocket.
--
-- Measured (Linux, Debian 12, lua5.4, luasocket-3.1.0):
-- | script                                   | result | why / notes |
-- |------------------------------------------|--------|-------------|
-- | samples/echosrvr + echoclnt (127.0.0.1)  | passes | |
-- | samples/echosrvr + echoclnt (::1)        | passes | dns.toip passes IPv6 text (LuaSocket's refuses it) |
-- | samples/echosrvr "*" + IPv4 and IPv6 echoclnt | passes | one dual socket serves both |
-- | samples/listener "*" + talker (127.0.0.1, ::1) | passes | bind("*") serves both families |
-- | samples/daytimeclnt (127.0.0.1, ::1)     | passes | against a daytime server on ds.udp_listen |
-- | samples/tinyirc + IPv4 and IPv6 clients  | passes | select over wrappers |
-- | samples/mcsend + mclisten                | passes | in the namespace, 224.0.0.0/4 routed to lo (LuaSocket 3.1 fails: reuseport before its udp() has a descriptor) |
-- | etc/forward.lua (dispatch.lua)           | passes | coroutine dispatcher, settimeout(0); Lua 5.1 compat |
-- | etc/tftp.lua (socket.tftp) get           | passes | against a TFTP server on ds.udp_listen; Lua 5.1 compat |
-- | etc/b64.lua                              | passes | mime only: passes without the drop-in too |
-- | test/testsrvr + testclnt                 | passes | DUALSTACK_LUASOCKET_DEBUG=1 (_DEBUG, elapsed values); its connect to 10.0.0.1 meets "network unreachable" in the namespace; _SETSIZE (POLL_MAX) is above the descriptor limit, so its "too many sockets" check reports "unable to create enough sockets" |
-- | test/udpconnectsrvr + udpconnectclnt     | passes | ends waiting as with LuaSocket (Linux unbinds on disconnect) |
-- | test/test_bind, test_getaddrinfo, test_socket_error, excepttest | passes | |
-- | test/tcp-getoptions, udp-zero-length-send, udp-zero-length-send-recv | passes | |
-- | test/ltn12test, mimetest, urltest, stufftest | passes | no socket use: they pass without the drop-in too |
-- | test/hello.lua                           | passes | prints the drop-in's _VERSION |
-- Not run: samples/cddb, lpr, test/find-connect-limit, etc/get, check-links,
-- cookie, dict (the Internet or servers we do not have: CDDB, LPD, HTTP,
-- DICT); test/httptest, ftptest, smtptest, dicttest, testmesg, tftptest
-- (an HTTP server with its cgi tree, FTP, SMTP, DICT servers; tftptest's
-- host is fixed); test/unix*, utest* (socket.unix: LuaSocket's own C
-- module, no dualstack part); etc/check-memory (a debug helper, no test).
local H = require "helpers"

local ROOT, DIR -- set by can_run (finding them needs a shell)
local LIMIT = 30 -- seconds per case unless it says otherwise

local N = require "namespace"
local shell_quote = N.shell_quote

-- A command's output and exit code.
local function read_command(cmd)
  local out, _, code = N.read_command(cmd)
  return out, code
end

-- The extracted source tree, fetched (test/fetch-source.sh, with the
-- workplace's debian-archive the Makefile exports as DEBIAN_ARCHIVE) and
-- unpacked once; nil, why when it cannot be had.
local tree, tree_why
local function source_tree()
  if tree or tree_why then return tree, tree_why end
  local script = [[
set -e
D=$1
mkdir -p "$D"
t=$(test/fetch-source.sh lua-socket "${DS_LUASOCKET_DL:-$D/dl}" unstable luasocket)
top=$(tar -tf "$t" | head -n 1 | cut -d/ -f1)
[ -f "$D/$top/samples/echosrvr.lua" ] || tar -xf "$t" -C "$D"
echo "TREE=$D/$top"
]]
  local out, code = read_command("cd " .. shell_quote(ROOT) .. " && sh -c " .. shell_quote(script) .. " fetch "
    .. shell_quote(DIR))
  tree = out:match("TREE=(%S+)")
  if not tree or code ~= 0 then
    tree = nil
    tree_why = "LuaSocket's source tree could not be fetched into build/luasocket: " .. out:gsub("%s+$", "")
  end
  return tree, tree_why
end

-- LUA_INIT of every script: lines reach the case's files as printed (the
-- ready checks read them; stdbuf would preload a glibc library, which a
-- musl Lua cannot load), and the Lua 5.1 names some scripts use (module,
-- math.mod, unpack).
local COMPAT = [[io.stdout:setvbuf("line"); ]] ..
  [[unpack = unpack or table.unpack; math.mod = math.mod or math.fmod; ]] ..
  [[function module(name) local M = package.loaded[name]; if type(M) ~= "table" then M = {}; package.loaded[name] = M end; ]] ..
  [[M._NAME = name; setmetatable(M, {__index = _G}); local f = debug.getinfo(2, "f").func; ]] ..
  [[for i = 1, 255 do local n = debug.getupvalue(f, i); if n == nil then break end; ]] ..
  [[if n == "_ENV" then debug.setupvalue(f, i, M) break end end end]]

-- The shell prelude of every case: loopback up, the drop-in first on the
-- paths, bg NAME cmd... (a server, output in $T/NAME, killed on exit),
-- ready NAME TEXT (waits until NAME printed TEXT), show NAME (prints it).
local PRELUDE = [[
ip link set lo up || exit 97
S=%s; W=%s
export LUA_PATH="$W/test/luasocket/?.lua;$W/lua/?.lua;$S/etc/?.lua;;" LUA_CPATH="$W/build/?.so;;"
export LUA_INIT=%s
T=$(mktemp -d); pids=
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$T"' EXIT
cd "$S"
bg() { f=$1; shift; "$@" >"$T/$f" 2>&1 & pids="$pids $!"; }
ready() {
  i=0
  until grep -q -- "$2" "$T/$1" 2>/dev/null; do
    i=$((i+1)); if [ $i -gt 200 ]; then echo "NOT READY: $1"; cat "$T/$1"; exit 98; fi; sleep 0.05
  done
}
show() { echo "--- $1"; cat "$T/$1"; }
]]

local function can_run()
  local why = H.needs_posix("LuaSocket's scripts as child processes in a network namespace")
  if why then return nil, why end
  ROOT = ROOT or H.repo_root()
  DIR = ROOT .. "/build/luasocket"
  local src
  src, why = source_tree()
  if not src then return nil, why end
  local out, code = read_command("unshare -n true")
  if code ~= 0 then return nil, "unshare -n is not available: " .. out end
  return src
end

-- Runs body (shell) in a private network; returns its output and status.
local function run(src, body, limit)
  local file = os.tmpname()
  local f = assert(io.open(file, "w"))
  f:write(PRELUDE:format(shell_quote(src), shell_quote(ROOT), shell_quote(COMPAT)), body)
  f:close()
  local out, code = read_command(("timeout -k 2 %d unshare -n sh %s"):format(limit or LIMIT, file))
  os.remove(file)
  return out, code
end

-- Asserts each of lines appears in out, in order (plain text).
local function assert_lines(out, lines)
  local at = 1
  for _, line in ipairs(lines) do
    local s, e = out:find(line, at, true)
    assert(s, "expected '" .. line .. "' (in order) in:\n" .. out)
    at = e + 1
  end
end

-- A case: pending with the reason when scripts cannot run, else body(src).
local function case(name, body)
  it(name, function()
    local src, why = can_run()
    if not src then return pending(why) end
    body(src)
  end)
end

describe("LuaSocket's samples against the drop-in", function()
  for _, host in ipairs { "127.0.0.1", "::1" } do
    case("echosrvr + echoclnt over UDP on " .. host, function(src)
      local out, code = run(src, ([[
bg srv lua5.4 samples/echosrvr.lua %s 7
ready srv "Waiting packets"
printf 'hello\nworld\n' | lua5.4 samples/echoclnt.lua %s 7; echo "client rc=$?"
show srv
]]):format(host, host))
      assert.equal(0, code, out)
      assert_lines(out, { "Using remote host '" .. host .. "' and port 7...", "hello\nworld\nclient rc=0",
        "Waiting packets on " .. host .. ":7...", "Echoing 'hello' to " .. host .. ":",
        "Echoing 'world' to " .. host .. ":" })
    end)
  end

  case("echosrvr on '*' echoes IPv4 and IPv6 clients", function(src)
    local out, code = run(src, [[
bg srv lua5.4 samples/echosrvr.lua '*' 7
ready srv "Waiting packets"
printf 'four\n' | lua5.4 samples/echoclnt.lua 127.0.0.1 7; echo "v4 rc=$?"
printf 'six\n' | lua5.4 samples/echoclnt.lua ::1 7; echo "v6 rc=$?"
show srv
]])
    assert.equal(0, code, out)
    assert_lines(out, { "four\nv4 rc=0", "six\nv6 rc=0", "Waiting packets on :::7...",
      "Echoing 'four' to 127.0.0.1:", "Echoing 'six' to ::1:" })
  end)

  for _, host in ipairs { "127.0.0.1", "::1" } do
    case("listener on '*' gets talker's lines over " .. host, function(src)
      local out, code = run(src, ([[
bg l lua5.4 samples/listener.lua '*' 8080
ready l "Waiting connection"
printf 'one\ntwo\n\n' | lua5.4 samples/talker.lua %s 8080; echo "talker rc=$?"
ready l "^closed"
show l
]]):format(host))
      assert.equal(0, code, out)
      assert_lines(out, { "Connected! Please type stuff", "talker rc=0",
        "Waiting connection from talker on :::8080...", "Connected. Here is the stuff:", "one\ntwo\nclosed" })
    end)
  end

  case("daytimeclnt against a daytime server, IPv4 and IPv6", function(src)
    local out, code = run(src, [[
bg day lua5.4 -e 'local ds = require "dualstack"
local l = assert(ds.udp_listen("*", 13)); print("ready")
while true do
  local d, a, p, dst, ifi = l:recvfrom()
  if d then l:sendto("Tuesday, December 1, 2026 12:00:00-UTC\r\n", a, p, dst, ifi) end
end'
ready day ready
lua5.4 samples/daytimeclnt.lua 127.0.0.1 13; echo "v4 rc=$?"
lua5.4 samples/daytimeclnt.lua ::1 13; echo "v6 rc=$?"
]])
    assert.equal(0, code, out)
    assert_lines(out, { "Using host '127.0.0.1' and port 13...", "Tuesday, December 1, 2026", "v4 rc=0",
      "Using host '::1' and port 13...", "Tuesday, December 1, 2026", "v6 rc=0" })
  end)

  case("tinyirc relays lines between IPv4 and IPv6 clients", function(src)
    local out, code = run(src, [[
bg irc lua5.4 samples/tinyirc.lua '*' 8080 8181
ready irc "Inserting servers"
lua5.4 -e 'local socket = require "socket"
local a = assert(socket.connect("127.0.0.1", 8080))
local b = assert(socket.connect("::1", 8080))
local c = assert(socket.connect("::1", 8181))
socket.sleep(0.5)
assert(a:send("hello from v4\n"))
for _, s in ipairs { b, c } do s:settimeout(3); print("got", s:receive()) end
assert(b:send("hello from v6\n"))
for _, s in ipairs { a, c } do s:settimeout(3); print("got", s:receive()) end'
echo "clients rc=$?"
show irc
]])
    assert.equal(0, code, out)
    assert_lines(out, { "got\thello from v4", "got\thello from v4", "got\thello from v6", "got\thello from v6",
      "clients rc=0", "Broadcasting line 'hello from v4'", "Broadcasting line 'hello from v6'" })
  end)

  case("mcsend and mclisten over 225.0.0.37 on lo", function(src)
    local why = H.needs_multicast("mcsend and mclisten"); if why then return pending(why) end
    local out, code = run(src, [[
ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo src 127.0.0.1 || exit 96
bg l lua5.4 samples/mclisten.lua
ready l "^1$"
bg s lua5.4 samples/mcsend.lua
ready l "hello all 1!"
show l
]])
    assert.equal(0, code, out)
    assert_lines(out, { "1\n1\n1\n", "hello all 0!\t127.0.0.1\t", "hello all 1!\t127.0.0.1\t" })
  end)

  case("etc/forward.lua (dispatch.lua) forwards IPv6 and IPv4 clients", function(src)
    local out, code = run(src, [[
bg up lua5.4 -e 'local socket = require "socket"
local s = assert(socket.bind("127.0.0.1", 9001)); print("ready")
while true do
  local c = assert(s:accept())
  local line = c:receive()
  c:send("echo: " .. tostring(line) .. "\n"); c:close()
end'
ready up ready
bg fwd lua5.4 etc/forward.lua 9000:127.0.0.1:9001
lua5.4 -e 'local socket = require "socket"
for _, host in ipairs { "::1", "127.0.0.1" } do
  local c
  for _ = 1, 50 do c = socket.connect(host, 9000); if c then break end; socket.sleep(0.05) end
  assert(c, "no forwarder on " .. host)
  c:settimeout(3); c:send("via " .. host .. "\n")
  print(c:receive())
  c:close()
end'
echo "client rc=$?"
]])
    assert.equal(0, code, out)
    assert_lines(out, { "echo: via ::1", "echo: via 127.0.0.1", "client rc=0" })
  end)

  case("etc/tftp.lua gets a file from a TFTP server, IPv4 and IPv6", function(src)
    local out, code = run(src, [[
bg tftpd lua5.4 -e 'local ds = require "dualstack"
local data = string.rep("0123456789abcdef", 80) .. "tail"
local l = assert(ds.udp_listen("*", 69)); print("ready")
while true do
  local req, a, p = l:recvfrom()
  if req and req:byte(2) == 1 then
    local s = assert(ds.udp { family = "dual" }); s:bind("*", 0); s:settimeout(2)
    for block = 1, math.floor(#data / 512) + 1 do
      local chunk = data:sub((block - 1) * 512 + 1, block * 512)
      s:sendto(string.char(0, 3, block >> 8, block & 255) .. chunk, a, p)
      local ack = s:recvfrom()
      if not ack then break end
    end
    s:close()
  end
end'
ready tftpd ready
lua5.4 -e 'require "tftp"; local tftp = package.loaded["socket.tftp"]
for _, host in ipairs { "127.0.0.1", "[::1]" } do
  local got = assert(tftp.get("tftp://" .. host .. "/file"))
  print(host, #got, got:sub(-4))
end'
echo "client rc=$?"
]])
    assert.equal(0, code, out)
    assert_lines(out, { "127.0.0.1\t1284\ttail", "[::1]\t1284\ttail", "client rc=0" })
  end)

  case("etc/b64.lua (mime only)", function(src)
    local out, code = run(src, [[
printf 'dual stack' | lua5.4 etc/b64.lua; echo; echo "rc=$?"
]])
    assert.equal(0, code, out)
    assert_lines(out, { "ZHVhbCBzdGFjaw==", "rc=0" })
  end)
end)

describe("LuaSocket's test/ scripts against the drop-in", function()
  case("testsrvr + testclnt (DUALSTACK_LUASOCKET_DEBUG=1)", function(src)
    local out, code = run(src, [[
export DUALSTACK_LUASOCKET_DEBUG=1
bg srv lua5.4 test/testsrvr.lua
ready srv "waiting for client"
lua5.4 test/testclnt.lua; echo "testclnt rc=$?"
]], 240)
    assert.equal(0, code, out)
    assert.is_nil(out:find("ERROR:", 1, true), out)
    assert_lines(out, { "tcp{master} methods are ok", "udp{unconnected} methods are ok",
      "graceful 'closed' received", "testing: select function", "testing: connect function",
      "testing: getstats test", "testing: non-blocking transfer", "testing: total timeout on send",
      "testing: blocking timeout on receive", "testing: shutting server down", "testing: done in",
      "testclnt rc=0" })
  end)

  case("udpconnectsrvr + udpconnectclnt", function(src)
    local out, code = run(src, [[
bg srv lua5.4 test/udpconnectsrvr.lua
ready srv getsockname
port=$(awk '/^getsockname/ {print $3; exit}' "$T/srv")
lua5.4 test/udpconnectclnt.lua "$port"; echo "clnt rc=$?"
show srv
]])
    assert.equal(0, code, out)
    -- the server's last receivefrom waits, as under LuaSocket: Linux
    -- drops the auto-bound port when the socket disconnects
    assert_lines(out, { "se\t127.0.0.1\t5062\tinet", "sc\t127.0.0.1\t5061\tinet", "clnt rc=0",
      "setpeername\t1\ngetsockname\t127.0.0.1\t", "this is a test from sc\nsetpeername\t1\ngetsockname\t" })
  end)

  for _, t in ipairs {
    { "excepttest.lua", "OK" },
    { "test_bind.lua", "done!" },
    { "test_getaddrinfo.lua", "done!" },
    { "test_socket_error.lua", "Passed! Error is 'connection refused'." },
    { "udp-zero-length-send", 'OK\tsend:("")\t0' },
    { "udp-zero-length-send-recv", "ok" },
    { "ltn12test.lua", "testing filter.chain (and source.chain, a bunch): ok" },
    { "mimetest.lua", "testing b64 padding: ok" },
    { "urltest.lua", "the library passed all tests" },
    { "stufftest.lua", "ok" },
    { "hello.lua", "Hello from LuaSocket 3.1.0 (dualstack" },
  } do
    case("test/" .. t[1], function(src)
      if t[1] == "test_socket_error.lua" then
        local why = H.needs_so_error("a refused connect's SO_ERROR"); if why then return pending(why) end
      end
      local out, code = run(src, ("cd test && lua5.4 %s; echo \"rc=$?\"\n"):format(t[1]))
      assert.equal(0, code, out)
      assert_lines(out, { t[2], "rc=0" })
      assert.is_nil(out:find("traceback", 1, true), out)
    end)
  end

  case("test/tcp-getoptions", function(src)
    local out, code = run(src, "cd test && lua5.4 tcp-getoptions; echo \"rc=$?\"\n")
    assert.equal(0, code, out)
    assert.is_nil(out:find("fail:", 1, true), out)
    assert_lines(out, { "options for\ttcp{master}", "options for\ttcp{server}", "options for\ttcp{client}",
      "getoption\ttcp-nodelay\ttrue\tfalse", "getoption\tlinger\ton\tfalse\ttimeout\t0", "rc=0" })
  end)
end)
