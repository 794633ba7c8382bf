# dualstack: build, test and demo. `make test` and `make demo` install
# their Debian packages when run as root (see .ci/deps).
LUA      ?= lua5.4
BUSTED   ?= $(LUA) /usr/bin/busted
# Spec runs go through it: their name lookups never leave the machine.
OFFLINE  := $(CURDIR)/test/offline/run.sh
CC       ?= cc
CFLAGS   ?= -O2 -g
# -Werror is this repository's choice (make test, CI), not a packager's:
# `make WERROR=` builds without it.
WERROR   ?= -Werror
WARN     := -std=c99 -Wall -Wextra $(WERROR)
# Lua's headers: LUA_INCDIR (as LuaRocks names it) or LUA_INC, else
# pkg-config's lua5.4 (OpenWrt has none).
LUA_INC  ?= $(if $(LUA_INCDIR),-I$(LUA_INCDIR),$(shell pkg-config --cflags lua5.4 2>/dev/null))
# src/core/ is the plain C (no Lua header) the bindings in src/ sit on;
# src/sys/ the platform backend under it, which alone makes system calls
# (docs/LAYOUT.md). BACKEND is the one this build uses.
BACKEND  ?= src/sys/posix.c
CORE_SRC := $(wildcard src/core/*.c) $(BACKEND)
CORE_HDR := $(wildcard src/core/*.h src/sys/*.h)
SRC      := $(CORE_SRC) $(wildcard src/*.c)
HDR      := $(CORE_HDR) $(wildcard src/*.h)
SO       := build/dualstack/core.so
SPEC_SO  := build/spec/testhelp.so
CORE_TEST := build/test/core_test

BUILD_DEPS := lua5.4 liblua5.4-dev pkg-config gcc make
TEST_DEPS  := $(BUILD_DEPS) lua-busted iproute2 util-linux lua-socket lua-cqueues lua-luv

# The version, from its one source (src/version.h): `make version`.
VERSION  := $(shell sed -n 's/^\#define DS_VERSION "\(.*\)"$$/\1/p' src/version.h)

.PHONY: all deps test-deps test-build test-core demo test check spec-sources install clean version

all: $(SO)

$(SO): $(SRC) $(HDR)
	@test -n "$(LUA_INC)" || { echo "lua5.4 headers not found: run 'make deps' (or apt-get install $(BUILD_DEPS))"; exit 1; }
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) $(LUA_INC) -fPIC -shared -o $@ $(SRC) $(LDFLAGS)

# A C helper some specs load (spec/testhelp.c), not part of the module.
$(SPEC_SO): spec/testhelp.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(LUA_INC) -fPIC -shared -o $@ $<

# C unit tests of src/core/, built without Lua (test/core_test.c).
$(CORE_TEST): test/core_test.c test/alloc.h $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -Isrc/core -o $@ $< $(CORE_SRC)

test-core: $(CORE_TEST)
	$(CORE_TEST)

# What the spec suite loads.
test-build: all $(SPEC_SO)

deps:
	@.ci/deps $(BUILD_DEPS)

test-deps:
	@.ci/deps $(TEST_DEPS)

# Sub-makes re-read LUA_INC once the headers exist.
demo: deps
	@$(MAKE) --no-print-directory all
	$(LUA) examples/demo.lua

test: test-deps
	@$(MAKE) --no-print-directory check

# Build and test only: installs nothing, for package builds.
check: test-core test-build spec-sources
	$(OFFLINE) $(BUSTED) spec

# Where spec-sources puts LuaSocket's source; the specs of the flavour and
# cross trees (whose build/ is their own) find it here too.
export DS_LUASOCKET_DL := $(CURDIR)/build/luasocket/dl

# Sources some specs run, fetched before the offline run (which has no
# resolver for the archive); a spec without its source says why it skips.
spec-sources:
	@test/fetch-source.sh lua-socket $(DS_LUASOCKET_DL) unstable luasocket >/dev/null \
	  || echo "spec-sources: LuaSocket's source not fetched; spec/luasocket_scripts_spec.lua will skip"


# Installs the module: DESTDIR and PREFIX as usual; LUA_LIBDIR and
# LUA_SHAREDIR where Lua looks (Debian: /usr/lib/<triplet>/lua/5.4 and
# /usr/share/lua/5.4; OpenWrt: /usr/lib/lua/5.4 and /usr/share/lua/5.4,
# as its luasocket5.4).
PREFIX       ?= /usr/local
LUA_LIBDIR   ?= $(PREFIX)/lib/lua/5.4
LUA_SHAREDIR ?= $(PREFIX)/share/lua/5.4
install: $(SO)
	install -d $(DESTDIR)$(LUA_LIBDIR)/dualstack $(DESTDIR)$(LUA_SHAREDIR)/dualstack
	install -m 0755 $(SO) $(DESTDIR)$(LUA_LIBDIR)/dualstack/core.so
	install -m 0644 lua/dualstack.lua $(DESTDIR)$(LUA_SHAREDIR)/dualstack.lua
	install -m 0644 lua/dualstack/*.lua $(DESTDIR)$(LUA_SHAREDIR)/dualstack/

version:
	@echo $(VERSION)

clean:
	rm -rf build

# The workplace's tools (debian-archive, target-rootfs): beside the project
# (../shared/tools), where this machine keeps them, or on PATH, so a clone
# made elsewhere (CI's mktemp -d) finds them all the same.
shared_tool    = $(firstword $(wildcard $(CURDIR)/../shared/tools/$(1) /work/shared/tools/$(1)) $(1))
DEBIAN_ARCHIVE ?= $(call shared_tool,debian-archive)
TARGET_ROOTFS  ?= $(call shared_tool,target-rootfs)
export DEBIAN_ARCHIVE TARGET_ROOTFS

# Benchmarks (bench/), memory-safety checks, the other targets and the
# packages add their targets here.
include $(wildcard mk/*.mk)
