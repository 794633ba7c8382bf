# Cross targets (issue 15): the module built by a cross compiler and the
# spec suite (and the core unit tests) run on the target's CPU: s390x
# (big-endian), armhf (32-bit), arm64 and mips (32-bit big-endian) under
# qemu-user, i386 in a chroot on the real kernel. Each target installs its Debian packages through
# .ci/deps, like `make test`.
#
#   make cross-test ARCH=s390x     one target (s390x armhf arm64 i386 mips)
#   make cross-s390x ...           the same, by name
#   make cross-all                 all five, one after the other
#   CROSS_CHECK_SPECS=spec/x_spec.lua   part of the suite only
#
# What each one makes, under build/cross/:
#   rootfs-ARCH/     the target's Debian (test/cross/rootfs.sh, with the
#                    workplace's target-rootfs): its Lua 5.4, busted and the
#                    specs' dependencies. Reused when complete, made when not.
#   ARCH/include/    the Lua headers alone, out of the rootfs (its whole
#                    include folder would mix two glibcs into the build)
#   ARCH/tree/       a copy of the repository with a build/ of its own: the
#                    cross build goes there, the native build/ is untouched,
#                    and specs that start `lua5.4` children on ROOT/build
#                    load the target's module
#   ARCH/gaps        test/cross/probes/gaps.c for the target: the emulator's
#                    gaps, measured on each run (test/cross/run.sh)
#   qemu/            qemu-user for s390x, arm, aarch64 and mips, Debian 12's
#                    7.2 with test/cross/qemu-origdstaddr.patch (below)
# mips has no rootfs (Debian 12 has no big-endian mips port): its Lua, the
# Lua's headers and the C modules busted and the specs load are the mips
# flavour's (mk/lua.mk, cross-built from sources into build/lua/mips-5.4/),
# its C library the cross toolchain's (/usr/mips-linux-gnu, QEMU_LD_PREFIX).
# The mips leg also builds the OpenWrt package for mips (mk/lua.mk's
# openwrt-lua-mips-5.4) and loads it on the emulated mips Lua.
# test/cross/run.sh runs the suite: "hybrid" under qemu (only Lua emulated),
# or chrooted. Under qemu the specs skip, each with its reason, only what
# the probe found qemu cannot do on that run (spec/helpers.lua's
# H.needs_emulated); a native or chroot run skips nothing.

.PHONY: cross-test cross-all cross-s390x cross-armhf cross-arm64 cross-i386 cross-mips cross-files cross-tree

CROSS_ARCHES := s390x armhf arm64 i386 mips
CROSS        := build/cross
CROSS_CHECK_SPECS ?= spec

# gcc's prefix, the Debian multiarch triplet of the rootfs, how the suite
# runs, the qemu-user binary and its binfmt name (for mmdebstrap's scripts).
CROSS_GCC_s390x   := s390x-linux-gnu
CROSS_GCC_armhf   := arm-linux-gnueabihf
CROSS_GCC_arm64   := aarch64-linux-gnu
CROSS_GCC_i386    := i686-linux-gnu
CROSS_GCC_mips    := mips-linux-gnu
CROSS_TRIPLET_i386 := i386-linux-gnu
CROSS_MODE_i386   := chroot
CROSS_QEMU_s390x  := s390x
CROSS_QEMU_armhf  := arm
CROSS_QEMU_arm64  := aarch64
CROSS_QEMU_mips   := mips
# A target with no Debian rootfs: the Lua flavour (mk/lua.mk) that gives
# its Lua and C modules, and the library prefix of its cross toolchain.
CROSS_LUA_mips    := mips-5.4
CROSS_PREFIX_mips := /usr/mips-linux-gnu
# arm64: qemu's default CPU emulates pointer authentication, ten times slower.
CROSS_CPU_arm64   := cortex-a72
# The chroot runs `make install` (spec/install_spec.lua) with the rootfs's make.
CROSS_EXTRA_i386  := make

ARCH      ?=
C_GCC     := $(CROSS_GCC_$(ARCH))
C_TRIPLET := $(or $(CROSS_TRIPLET_$(ARCH)),$(C_GCC))
C_MODE    := $(or $(CROSS_MODE_$(ARCH)),qemu)
C_QEMU    := $(CROSS_QEMU_$(ARCH))
C_ROOTFS  := $(CROSS)/rootfs-$(ARCH)
C_DIR     := $(CROSS)/$(ARCH)
C_TREE    := $(C_DIR)/tree
C_LUA     := $(CROSS_LUA_$(ARCH))
C_LUADIR  := build/lua/$(C_LUA)
C_INC     := $(if $(C_LUA),$(C_LUADIR)/include,$(C_DIR)/include)

# mmdebstrap, arch-test and qemu-user-static (binfmt) make a rootfs.
CROSS_DEPS := gcc-$(subst _,-,$(C_GCC)) make lua-busted iproute2 util-linux \
              $(if $(C_LUA),,mmdebstrap arch-test $(if $(C_QEMU),qemu-user-static))

# The repository's top-level entries the tree copies (build/ is its own).
CROSS_COPY := $(filter-out build .git,$(notdir $(wildcard $(CURDIR)/* $(CURDIR)/.busted $(CURDIR)/.ci)))

cross-test:
	@test -n "$(C_GCC)" || { echo "cross-test: ARCH must be one of $(CROSS_ARCHES)"; exit 2; }
	@.ci/deps $(CROSS_DEPS)
ifeq ($(C_LUA),)
	@$(if $(C_QEMU),test/cross/binfmt.sh $(C_QEMU))
	@test/cross/rootfs.sh $(ARCH) $(C_ROOTFS) $(CROSS_EXTRA_$(ARCH))
else
	@$(MAKE) --no-print-directory lua-$(C_LUA)
endif
	@$(MAKE) --no-print-directory cross-files ARCH=$(ARCH)
	CROSS_ARCH=$(ARCH) CROSS_MODE=$(C_MODE) CROSS_TREE=$(CURDIR)/$(C_TREE) \
	  $(if $(C_LUA),CROSS_LUA=$(CURDIR)/$(C_LUADIR)/bin/lua CROSS_PREFIX=$(CROSS_PREFIX_$(ARCH)),CROSS_ROOTFS=$(CURDIR)/$(C_ROOTFS)) \
	  CROSS_QEMU=$(if $(C_QEMU),$(CURDIR)/$(CROSS_QEMU_DIR)/qemu-$(C_QEMU)) \
	  $(if $(CROSS_CPU_$(ARCH)),QEMU_CPU=$(CROSS_CPU_$(ARCH))) \
	  CROSS_PROBE=$(if $(C_QEMU),$(CURDIR)/$(C_DIR)/gaps) CROSS_CHECK_SPECS="$(CROSS_CHECK_SPECS)" \
	  $(OFFLINE) test/cross/run.sh
	$(if $(C_LUA),@$(MAKE) --no-print-directory openwrt-lua-$(C_LUA) \
	  LUA_EMU_$(C_LUA)="env QEMU_LD_PREFIX=$(CROSS_PREFIX_$(ARCH)) $(CURDIR)/$(CROSS_QEMU_DIR)/qemu-$(C_QEMU)")

$(addprefix cross-,$(CROSS_ARCHES)): cross-%:
	@$(MAKE) --no-print-directory cross-test ARCH=$*

# Each target in turn; all run even when one fails, and any failure fails.
cross-all:
	@rc=0; for a in $(CROSS_ARCHES); do $(MAKE) --no-print-directory cross-test ARCH=$$a || rc=1; done; exit $$rc

# ---- qemu-user, with IP_RECVORIGDSTADDR ------------------------------------
# qemu-user (7.2 here, 10.0 in Debian 13 alike) refuses IP_RECVORIGDSTADDR,
# the IPv4 arrival marker dualstack sets on every IPv6 datagram socket, so
# without it no such socket can be made under emulation (gaps.c's
# origdstaddr). The runs use Debian 12's qemu (the version the qemu-user
# package has) built from its upstream tarball with
# test/cross/qemu-origdstaddr.patch: the option passed through like
# IP_RECVTOS, its IP_ORIGDSTADDR message's family put in the target's
# order. test/cross/qemu-pktinfo.patch (applied after it) swaps the
# ifindex of IP_PKTINFO/IPV6_PKTINFO both ways, received and sent, as it
# does IP_TTL's when received: 7.2 copies them unswapped on a big-endian
# target (gaps.c's cmsg_in), so the loopback's index 1 read 16777216 and
# a reply from the received dst and ifindex (OpenWrt's load check,
# debian/tests/smoke.lua) failed. Other sent payloads are still unswapped
# (cmsg_out, skipped). test/cross/qemu-recverr.patch writes IP_RECVERR's
# and IPV6_RECVERR's offender in place (7.2 hands a host pointer to a call
# that takes a guest address: on a 32-bit guest the offender read 0) and
# its errno in the target's numbering (mips read the host's 111), and
# passes IP_MTU and IPV6_DONTFRAG through like their neighbours (7.2
# refused them, ENOPROTOOPT). Built once into
# build/cross/qemu/, for the four CPUs together
# (the tarball through debian-archive, found as mk/windows.mk finds it).
CROSS_QEMU_DIR   := $(CROSS)/qemu
CROSS_QEMU_PATCHES := test/cross/qemu-origdstaddr.patch test/cross/qemu-pktinfo.patch test/cross/qemu-recverr.patch
CROSS_QEMU_CPUS  := s390x arm aarch64 mips
cross_comma      := ,
cross_space      := $(eval) $(eval)
CROSS_QEMU_TARGETS := $(subst $(cross_space),$(cross_comma),$(addsuffix -linux-user,$(CROSS_QEMU_CPUS)))
CROSS_QEMU_SUITE ?= bookworm
CROSS_QEMU_DEPS  := libglib2.0-dev meson ninja-build python3 pkg-config gcc make xz-utils patch
CROSS_QEMU_BINS  := $(addprefix $(CROSS_QEMU_DIR)/qemu-,$(CROSS_QEMU_CPUS))

$(CROSS_QEMU_BINS) &: $(CROSS_QEMU_PATCHES)
	@.ci/deps $(CROSS_QEMU_DEPS)
	@rm -rf $(CROSS_QEMU_DIR)/src && mkdir -p $(CROSS_QEMU_DIR)/dl $(CROSS_QEMU_DIR)/src
	@tar=$$(test/fetch-source.sh qemu $(CROSS_QEMU_DIR)/dl $(CROSS_QEMU_SUITE)) && \
	echo "unpacking $$tar" && tar xf "$$tar" -C $(CROSS_QEMU_DIR)/src --strip-components=1
	cd $(CROSS_QEMU_DIR)/src && for p in $(CROSS_QEMU_PATCHES); do patch -p1 < $(CURDIR)/$$p || exit 1; done
	mkdir -p $(CROSS_QEMU_DIR)/src/b && cd $(CROSS_QEMU_DIR)/src/b && \
	  ../configure --target-list=$(CROSS_QEMU_TARGETS) \
	    --disable-system --disable-tools --disable-docs --disable-werror \
	    --disable-install-blobs --disable-vduse-blk-export >../configure.log 2>&1 || \
	  { tail -n 20 ../configure.log; exit 1; }
	ninja -C $(CROSS_QEMU_DIR)/src/b $(addprefix qemu-,$(CROSS_QEMU_CPUS)) >$(CROSS_QEMU_DIR)/ninja.log 2>&1 || \
	  { tail -n 30 $(CROSS_QEMU_DIR)/ninja.log; exit 1; }
	cp $(addprefix $(CROSS_QEMU_DIR)/src/b/qemu-,$(CROSS_QEMU_CPUS)) $(CROSS_QEMU_DIR)/
	rm -rf $(CROSS_QEMU_DIR)/src

# ---- the build, once the rootfs is there ---------------------------------
# (A flavour's target has its Lua's own include/.)
ifeq ($(C_LUA),)
$(C_INC)/.copied: $(C_ROOTFS)/.complete
	@rm -rf $(@D) && mkdir -p $(@D)
	cp $(C_ROOTFS)/usr/include/lua5.4/*.h $(C_ROOTFS)/usr/include/$(C_TRIPLET)/lua5.4-deb-multiarch.h $(@D)/
	@touch $@
endif

# A copy, made afresh each run (2 MB; cp -a keeps the times, so make
# rebuilds only what changed): links would hide the directories from the
# specs' `find src`, and a copy holds no path that leaves the chroot.
cross-tree:
	@mkdir -p $(C_TREE)/build
	@for f in $(CROSS_COPY); do rm -rf $(C_TREE)/$$f; cp -a $(CURDIR)/$$f $(C_TREE)/$$f; done

$(C_DIR)/gaps: test/cross/probes/gaps.c
	@mkdir -p $(@D)
	$(C_GCC)-gcc -std=c99 -O2 $(WARN) -static -o $@ $<

# The tree's Makefile builds into the tree's build/ (make -C), with the
# cross compiler; CFLAGS as the native build's.
cross-files: $(if $(C_LUA),,$(C_INC)/.copied) cross-tree $(if $(C_QEMU),$(C_DIR)/gaps $(CROSS_QEMU_BINS))
	$(MAKE) --no-print-directory -C $(C_TREE) test-build build/test/core_test \
	  CC=$(C_GCC)-gcc LUA_INC=-I$(CURDIR)/$(C_INC)
