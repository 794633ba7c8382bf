# Lua built from Debian's archive sources (issue 15), and the spec suite run
# on it: Lua 5.5 natively, Lua 5.4 with musl-gcc, and a cross-built Lua for
# mips. One recipe for all, a "flavour" naming the Lua version and the
# compiler; everything lands in build/lua/<flavour>/ and is reused when there:
#
#   make lua-<flavour>      Lua (bin/lua, include/) and the C modules busted
#                           and the specs load (lib/: lfs, term.core, a
#                           system.core stand-in, LuaSocket, cqueues, luv),
#                           by test/lua/build.sh; then the module and
#                           spec/testhelp.so for it, in tree/build/
#   make check-lua55        the core's tests and the spec suite on Lua 5.5
#   make check-musl         the same on musl: Lua 5.4, the C modules and
#                           dualstack all built with musl-gcc
#   make lua-mips-5.4       cross-built only (the suite runs in make
#                           cross-mips, mk/cross.mk, under qemu-user)
#   make openwrt-lua-<flavour>  the OpenWrt package built with the flavour's
#                           compiler and Lua headers and loaded on its Lua
#                           (make check-musl runs it for musl, make
#                           cross-mips for mips)
#
# The suite runs in build/lua/<flavour>/tree/ (test/lua/tree.sh): the
# repository's files linked in, a build/ of its own, and a lua5.4 wrapper on
# PATH that runs the Lua under test (the specs' children too). That Lua's
# default paths are its share/ (a copy of the host's pure-Lua busted and
# friends from /usr/share/lua/5.4) and its lib/ alone: it never loads the
# host's C modules. Tarballs are cached in build/lua/dl/.
#
# A new flavour F sets LUA_V_F, and LUA_CC_F, LUA_AR_F, LUA_RANLIB_F where
# they are not the host's; LUA_EMU_F runs its Lua under an emulator, and
# LUA_DEPS_F names its Debian packages.

# lua-% stays off .PHONY: make skips pattern rules for phony targets.
.PHONY: check-lua55 check-musl
# openwrt-lua-% too stays off .PHONY.

LUA_V_5.5          := 5.5
LUA_V_musl-5.4     := 5.4
LUA_CC_musl-5.4    ?= musl-gcc
LUA_DEPS_musl-5.4  := musl-tools
LUA_V_mips-5.4     := 5.4
LUA_CC_mips-5.4    ?= mips-linux-gnu-gcc
LUA_AR_mips-5.4    ?= mips-linux-gnu-ar rcu
LUA_RANLIB_mips-5.4 ?= mips-linux-gnu-ranlib
LUA_DEPS_mips-5.4  := gcc-mips-linux-gnu
LUA_EMU_mips-5.4   ?= env QEMU_LD_PREFIX=/usr/mips-linux-gnu qemu-mips

# Building: a compiler, make, m4 (cqueues' errno.c), libuv's and OpenSSL's
# headers (luv, cqueues, for the host's compiler), cmake (libuv for another).
# Running: what `make test` has.
LUA_BUILD_DEPS := gcc make curl xz-utils m4 cmake libssl-dev libuv1-dev

lua_cc     = $(or $(LUA_CC_$(1)),$(CC))
lua_dir    = build/lua/$(1)
# The module and the test helper for that Lua, built by this Makefile in the
# tree with its compiler and headers (-Werror as in every CI build).
lua_module = $(MAKE) --no-print-directory -C $(call lua_dir,$(1))/tree $(2) \
               CC="$(call lua_cc,$(1))" LUA_INCDIR=$(CURDIR)/$(call lua_dir,$(1))/include

# build.sh reuses each piece it finds (a stand-in too), so a changed recipe
# starts from an empty flavour; the tarballs stay in build/lua/dl.
build/lua/%/.built: test/lua/build.sh test/system_core.c test/fetch-source.sh
	rm -rf $(@D)
	CC="$(call lua_cc,$*)" AR="$(or $(LUA_AR_$*),ar rcu)" RANLIB="$(or $(LUA_RANLIB_$*),ranlib)" \
	  DL=build/lua/dl test/lua/build.sh $(@D) $(LUA_V_$*)
	@touch $@

lua-%:
	@test -n "$(LUA_V_$*)" || { echo "lua-$*: no such flavour (LUA_V_$* is not set)"; exit 1; }
	@.ci/deps $(LUA_BUILD_DEPS) $(LUA_DEPS_$*)
	@$(MAKE) --no-print-directory build/lua/$*/.built
	test/lua/tree.sh $(call lua_dir,$*)
	@$(call lua_module,$*,test-build)

# Lua's default paths are the flavour's share/ and lib/ (test/lua/build.sh):
# the variables that would change them are unset for the run.
LUA_ENV_VARS := LUA_PATH LUA_CPATH LUA_INIT LUA_INIT_5_4 LUA_INIT_5_5 LUA_PATH_5_4 \
                LUA_PATH_5_5 LUA_CPATH_5_4 LUA_CPATH_5_5

# $(call lua_check,FLAVOUR): the core's tests and CHECK_SPECS on that Lua.
# CC and LUA_INCDIR go to the specs' own make runs (spec/install_spec.lua)
# through the environment, so those build for the Lua under test too.
define lua_check
	@.ci/deps $(TEST_DEPS)
	@$(MAKE) --no-print-directory lua-$(1) spec-sources
	@$(call lua_module,$(1),test-core)
	cd $(call lua_dir,$(1))/tree && unset $(LUA_ENV_VARS) && \
	  PATH=$(CURDIR)/$(call lua_dir,$(1))/bin:$$PATH \
	  CC="$(call lua_cc,$(1))" LUA_INCDIR=$(CURDIR)/$(call lua_dir,$(1))/include \
	  LUA_EMU="$(LUA_EMU_$(1))" $(OFFLINE) lua5.4 $(BUSTED_SCRIPT) $(CHECK_SPECS)
endef

check-lua55:
	$(call lua_check,5.5)

check-musl:
	$(call lua_check,musl-5.4)
	@$(MAKE) --no-print-directory openwrt-lua-musl-5.4

# OpenWrt's package (mk/package.mk's check-openwrt) as a cross leg builds
# it: the flavour's compiler, its Lua's headers alone as the staging
# directory's usr/include/lua5.4, and the load on its Lua (under its
# emulator). The package's build and root are the flavour's own,
# build/lua/F/openwrt/ (the stand-in SDK empties its build directory, so a
# shared one would mix or lose another leg's), the staging directory
# beside it. Then the module installed must be for the flavour's Lua:
# the same machine and the same C library as bin/lua.
lua_elf = readelf -hd $(1) | sed -n -e 's/^ *Machine: *//p' -e 's/.*(NEEDED).*\[\(libc\.so.*\)\]/\1/p'
openwrt-lua-%:
	@$(MAKE) --no-print-directory lua-$*
	rm -rf $(call lua_dir,$*)/openwrt-staging
	mkdir -p $(call lua_dir,$*)/openwrt-staging/usr/include/lua5.4
	cp $(call lua_dir,$*)/include/*.h $(call lua_dir,$*)/openwrt-staging/usr/include/lua5.4/
	$(MAKE) --no-print-directory check-openwrt OPENWRT_CC="$(call lua_cc,$*)" \
	  OPENWRT_OUT=$(call lua_dir,$*)/openwrt OPENWRT_STAGING=$(call lua_dir,$*)/openwrt-staging \
	  LUA="$(LUA_EMU_$*) $(CURDIR)/$(call lua_dir,$*)/bin/lua"
	@so=$(call lua_dir,$*)/openwrt/root/usr/lib/lua/5.4/dualstack/core.so; \
	want=$$($(call lua_elf,$(call lua_dir,$*)/bin/lua)); got=$$($(call lua_elf,$$so)); \
	echo "openwrt $*: $$so: $$(echo $$got)"; \
	[ "$$want" = "$$got" ] || { echo "openwrt $*: $$so is not for $(call lua_dir,$*)/bin/lua ($$(echo $$want))"; exit 1; }
