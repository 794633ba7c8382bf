# Windows (issue 14): the module built with MinGW-w64 against a Lua 5.4
# built for Windows from Lua's own sources, and the spec suite run on it
# under wine64 with busted. Each target installs its Debian packages
# through .ci/deps, like `make test`; sources come from Debian's archive
# through debian-archive (../shared/tools), into build/windows-src/.
#
#   make windows-lua        Lua for Windows (`make mingw` in Lua's tree):
#                           build/windows/lua54.dll, lua.exe, luac.exe and
#                           the headers in build/windows/include/
#   make windows            the module: build/windows/dualstack/core.dll
#                           (linked with lua54.dll, ws2_32, iphlpapi) and
#                           lua/ copied beside it, so build/windows/ is what
#                           a Windows machine needs (lua.exe finds both)
#   make windows-busted     the C modules busted needs, for Windows:
#                           lfs.dll (lua-filesystem), term/core.dll
#                           (lua-term), system/core.dll (a stand-in for
#                           lua-system, test/system_core.c)
#   make windows-test       the spec suite (CHECK_SPECS, default spec) under
#                           wine64 through test/windows/busted.sh, with the
#                           test-only pieces in build/windows-test/: LuaSocket
#                           (socket/core.dll), spec/testhelp.dll (once
#                           spec/testhelp.c builds for Windows) and
#                           wine_version.exe
#
# build/windows/ holds only what runs on Windows; sources and tarballs are
# in build/windows-src/, the Wine prefix in build/wine/.

.PHONY: windows windows-lua windows-busted windows-test \
        windows-lua-files windows-module-files windows-busted-files windows-test-files

WIN_CC   ?= x86_64-w64-mingw32-gcc
WIN_CFLAGS ?= -O2
WIN      := build/windows
WIN_SRC  := build/windows-src
WIN_DL   := $(WIN_SRC)/dl
WINE     ?= wine
CHECK_SPECS ?= spec
WIN_BUILD_DEPS := gcc-mingw-w64-x86-64 make curl
# lua-busted brings the pure-Lua parts (busted, luassert, say, penlight,
# cliargs, mediator, dkjson, term's and system's Lua files) the runner
# reads from /usr/share/lua/5.4 through Wine's Z: drive.
WIN_TEST_DEPS  := $(WIN_BUILD_DEPS) wine wine64 lua-busted lua-socket

# Lua from unstable (the newest 5.4); lua-filesystem, lua-term and
# luasocket from Debian 12, whose Lua parts (term/*.lua, socket.lua) are
# the ones on this machine; unstable's newer tarballs are not served by the
# archive here.
WIN_SUITE_lua5.4         ?= unstable
WIN_SUITE_lua-filesystem ?= bookworm
WIN_SUITE_lua-term       ?= bookworm
WIN_SUITE_luasocket      ?= bookworm

WIN_LUA_DLL := $(WIN)/lua54.dll
WIN_LUA_EXE := $(WIN)/lua.exe
WIN_INC     := -I$(WIN)/include
WIN_LUA_HDR := lua.h luaconf.h lualib.h lauxlib.h lua.hpp

# ---- sources ----------------------------------------------------------------
# A tarball already in $(WIN_DL) is used (a machine without the archive
# can put it there); otherwise test/fetch-source.sh fetches it.
$(WIN_SRC)/%/.unpacked:
	@rm -rf $(@D) && mkdir -p $(@D) $(WIN_DL)
	@tar=$$(test/fetch-source.sh $* $(WIN_DL) $(WIN_SUITE_$*)) && \
	echo "unpacking $$tar" && tar xf "$$tar" -C $(@D) --strip-components=1
	@touch $@

# ---- Lua 5.4 for Windows ----------------------------------------------------
# Lua's own `make mingw` (lua54.dll with LUA_BUILD_AS_DLL, lua.exe on it).
# MAKEFLAGS is emptied so a CFLAGS or CC given to this make cannot reach
# Lua's makefile and drop its -DLUA_BUILD_AS_DLL.
$(WIN_LUA_DLL) $(WIN_LUA_EXE) &: $(WIN_SRC)/lua5.4/.unpacked
	MAKEFLAGS= $(MAKE) -s -C $(WIN_SRC)/lua5.4/src mingw CC="$(WIN_CC) -std=gnu99"
	@mkdir -p $(WIN)/include
	cp $(addprefix $(WIN_SRC)/lua5.4/src/,lua54.dll lua.exe luac.exe) $(WIN)/
	cp $(addprefix $(WIN_SRC)/lua5.4/src/,$(WIN_LUA_HDR)) $(WIN)/include/

# The *-files targets group files for the sub-makes (a named file that is
# up to date would be reported as such); they are no entry points.
windows-lua-files: $(WIN_LUA_DLL) $(WIN_LUA_EXE) ; @:

windows-lua:
	@.ci/deps $(WIN_BUILD_DEPS)
	@$(MAKE) --no-print-directory windows-lua-files

# ---- the module ---------------------------------------------------------------
# The Linux build's layers with the Windows backend (src/sys/win32.c, the
# lead's part of issue 14). The DLL is linked with lua54.dll itself, as
# Lua's own modules are. A module-definition file exports luaopen alone
# (MinGW would otherwise export every global, ds_* included, or, once any
# one is marked dllexport, only those).
WIN_MOD_SRC := $(wildcard src/*.c) $(wildcard src/core/*.c) src/sys/win32.c
WIN_MOD_HDR := $(wildcard src/*.h src/core/*.h src/sys/*.h)
WIN_MOD_LUA := $(WIN)/dualstack.lua $(patsubst lua/%,$(WIN)/%,$(wildcard lua/dualstack/*.lua))
WIN_MOD_DEF := $(WIN_SRC)/dualstack-core.def

$(WIN_MOD_DEF): mk/windows.mk
	@mkdir -p $(dir $@)
	printf 'EXPORTS\n  luaopen_dualstack_core\n' > $@

$(WIN)/dualstack/core.dll: $(WIN_MOD_SRC) $(WIN_MOD_HDR) $(WIN_LUA_DLL) $(WIN_MOD_DEF)
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) $(WARN) $(WIN_INC) -shared -o $@ $(WIN_MOD_SRC) $(WIN_MOD_DEF) \
	  $(WIN_LUA_DLL) -lws2_32 -liphlpapi

src/sys/win32.c:
	@echo "src/sys/win32.c does not exist yet: the Windows backend (issue 14) is not written"; exit 1

$(WIN)/%.lua: lua/%.lua
	@mkdir -p $(dir $@)
	cp $< $@

windows-module-files: $(WIN)/dualstack/core.dll $(WIN_MOD_LUA) ; @:

windows:
	@.ci/deps $(WIN_BUILD_DEPS)
	@$(MAKE) --no-print-directory windows-module-files

# ---- what busted needs on Windows -------------------------------------------
# Their sources are not ours, so they are built without -Werror.
WIN_BUSTED := $(WIN)/lfs.dll $(WIN)/term/core.dll $(WIN)/system/core.dll

$(WIN)/lfs.dll: $(WIN_SRC)/lua-filesystem/.unpacked $(WIN_LUA_DLL)
	$(WIN_CC) $(WIN_CFLAGS) $(WIN_INC) -shared -o $@ $(WIN_SRC)/lua-filesystem/src/lfs.c $(WIN_LUA_DLL)

$(WIN)/term/core.dll: $(WIN_SRC)/lua-term/.unpacked $(WIN_LUA_DLL)
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) $(WIN_INC) -shared -o $@ $(WIN_SRC)/lua-term/core.c $(WIN_LUA_DLL)

# lua-system's tarball is listed by the archive but not served, so busted's
# three calls into it (gettime, monotime, sleep) come from a stand-in.
$(WIN)/system/core.dll: test/system_core.c $(WIN_LUA_DLL)
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) $(WARN) $(WIN_INC) -shared -o $@ $< $(WIN_LUA_DLL)

# Prints the Wine version (or says it is not Wine): the runner's first line,
# and the way the Windows specs detect Wine (ntdll's wine_get_version).
build/windows-test/wine_version.exe: test/windows/wine_version.c
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) $(WARN) -o $@ $<

windows-busted-files: windows-lua-files $(WIN_BUSTED) ; @:

windows-busted:
	@.ci/deps $(WIN_BUILD_DEPS)
	@$(MAKE) --no-print-directory windows-busted-files

# ---- the suite under Wine -----------------------------------------------------
# spec/testhelp.c (require "spec.testhelp") is POSIX today; it is built for
# Windows, into build/windows-test/spec/testhelp.dll, once it has a _WIN32
# branch. Until then the specs that load it fail to, under Wine.
WIN_TESTHELP := $(if $(shell grep -l _WIN32 spec/testhelp.c 2>/dev/null),build/windows-test/spec/testhelp.dll)

build/windows-test/spec/testhelp.dll: spec/testhelp.c $(WIN_LUA_DLL)
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) $(WARN) $(WIN_INC) -shared -o $@ $< $(WIN_LUA_DLL) -lws2_32 -liphlpapi

# LuaSocket for Windows (its own `make mingw`), test-only like the helper:
# the specs of socket.select with LuaSocket's objects beside dualstack's
# (select_spec, eventloop_spec) then run on Windows too, not only on Linux.
# Its Lua files are this machine's (Debian 12's lua-socket, the same 3.1.0).
WIN_LUASOCKET := build/windows-test/socket/core.dll

$(WIN_LUASOCKET): $(WIN_SRC)/luasocket/.unpacked $(WIN_LUA_DLL)
	MAKEFLAGS= $(MAKE) -s -C $(WIN_SRC)/luasocket/src mingw LUAV=5.4 \
	  CC_mingw=$(WIN_CC) LD_mingw=$(WIN_CC) \
	  LUAINC_mingw=$(CURDIR)/$(WIN)/include LUALIB_mingw=$(CURDIR)/$(WIN_LUA_DLL)
	@mkdir -p $(dir $@)
	cp $(WIN_SRC)/luasocket/src/socket-*.dll $@

windows-test-files: windows-busted-files build/windows-test/wine_version.exe $(WIN_TESTHELP) \
  $(WIN_LUASOCKET) $(if $(wildcard src/sys/win32.c),windows-module-files) ; @:

# Until src/sys/win32.c exists only specs that do not load the module can
# pass (test/windows/smoke_spec.lua); the suite then fails on require.
windows-test:
	@.ci/deps $(WIN_TEST_DEPS)
	@$(MAKE) --no-print-directory windows-test-files
	@test -f src/sys/win32.c || echo "windows-test: src/sys/win32.c missing, the module is not built"
	WINE=$(WINE) $(OFFLINE) test/windows/busted.sh $(CHECK_SPECS)
