# Packaging (issue 15): the release rockspec, the Debian package and the
# OpenWrt build. The version comes from src/version.h alone ($(VERSION));
# spec/version_spec.lua checks every other place that names it.
#
#   make release-rockspec   writes dualstack-$(VERSION)-1.rockspec from the
#                           scm one (same build, description, dependencies
#                           and test; version and a tag source added).
#                           RELEASE_URL names the repository the tag is in.
#   make check-rock         luarocks make + luarocks test into a local tree
#                           (build/rocks), no network
#   make deb                dpkg-buildpackage -us -uc -b in a copy of the
#                           tree (build/deb/src): build/deb/*.deb
#   make check-deb          the .deb installed with dpkg into a clean Debian
#                           root filesystem (build/deb-root, made once by
#                           target-rootfs) and a smoke test run there
#   make check-openwrt      openwrt/lang/lua-dualstack/Makefile run through a
#                           stand-in SDK (test/openwrt-sdk/) with this
#                           machine's compiler (OPENWRT_CC, OPENWRT_CFLAGS,
#                           OPENWRT_STAGING for a cross leg), then the exact
#                           layout and a load from it (test/openwrt-check.sh)

.PHONY: release-rockspec check-rock deb check-deb check-openwrt

# --- release rockspec ---------------------------------------------------
# No public home is recorded for the project, so the tag is fetched from
# the clone the rockspec sits in; a publisher passes the repository's URL:
#   make release-rockspec RELEASE_URL=git+https://github.com/OWNER/dualstack.git
RELEASE_URL      ?= git+file://.
RELEASE_ROCKSPEC := dualstack-$(VERSION)-1.rockspec

release-rockspec:
	sed -e 's|^version = "scm-1"$$|version = "$(VERSION)-1"|' \
	    -e 's|^  url = "git+file://.",$$|  url = "$(RELEASE_URL)",\n  tag = "v$(VERSION)",|' \
	    dualstack-scm-1.rockspec > $(RELEASE_ROCKSPEC)

# --- luarocks -----------------------------------------------------------
LUAROCKS  ?= luarocks --lua-version=5.4
ROCK_TREE ?= build/rocks

# The builtin build compiles in place: its objects (src/**/*.o) are
# removed after, so the tree stays as it was.
# luarocks test runs make check, hence the test packages.
check-rock:
	@.ci/deps luarocks $(TEST_DEPS)
	$(LUAROCKS) --tree $(ROCK_TREE) make $(RELEASE_ROCKSPEC); rc=$$?; find src -name '*.o' -delete; exit $$rc
	LUA_PATH='$(ROCK_TREE)/share/lua/5.4/?.lua' LUA_CPATH='$(ROCK_TREE)/lib/lua/5.4/?.so' \
	  $(LUA) -e 'local ds = require "dualstack" assert(ds._VERSION == "$(VERSION)", ds._VERSION) print("from the rock tree: dualstack " .. ds._VERSION)'
	$(LUAROCKS) --tree $(ROCK_TREE) test $(RELEASE_ROCKSPEC)

# --- Debian -------------------------------------------------------------
# dpkg-buildpackage writes beside the source tree, so the package is built
# in a copy (build/deb/src) and lands in build/deb/; the tree stays clean.
DEB_BUILD_DEPS := dpkg-dev debhelper dh-lua liblua5.4-dev lua5.4 pkg-config
DEB_OUT  := build/deb
DEB_ARCH  = $(shell dpkg --print-architecture)
# The package's name holds its version: read when the recipe runs, once
# .ci/deps has installed dpkg-dev (make expands a recipe before running it).
DEB_FILE  = $(DEB_OUT)/lua-dualstack_$$(dpkg-parsechangelog -S Version)_$(DEB_ARCH).deb

deb:
	@.ci/deps $(DEB_BUILD_DEPS)
	rm -rf $(DEB_OUT)
	mkdir -p $(DEB_OUT)/src
	tar -cf - --exclude-vcs --exclude=./build . | tar -xf - -C $(DEB_OUT)/src
	cd $(DEB_OUT)/src && dpkg-buildpackage -us -uc -b
	@ls -l $(DEB_FILE)

# A clean Debian root filesystem for this machine's architecture, made once
# by test/cross/rootfs.sh (the workplace's target-rootfs; a half-made one,
# never deleted through a mount, is made again) and kept in build/deb-root.
DEB_ROOT := build/deb-root

check-deb: deb
	@.ci/deps mmdebstrap
	test/cross/rootfs.sh $(DEB_ARCH) $(DEB_ROOT)
	debian/tests/in-rootfs.sh $(CURDIR)/$(DEB_ROOT) $(DEB_FILE) $(VERSION) \
	  $$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# --- OpenWrt ------------------------------------------------------------
# openwrt/lang/lua-dualstack/Makefile run as the SDK would, through a
# stand-in for the SDK (test/openwrt-sdk/) with this machine's compiler,
# CFLAGS as the SDK's look and only Lua's headers in the staging directory
# (no pkg-config), then test/openwrt-check.sh: the exact layout, and a
# load and round-trip from there. A cross leg sets OPENWRT_CC,
# OPENWRT_STAGING (with usr/include/lua5.4) and LUA (its target Lua).
OPENWRT_OUT      := build/openwrt
OPENWRT_CC       ?= $(CC)
OPENWRT_CFLAGS   ?= -Os -pipe -fno-plt
OPENWRT_CPPFLAGS ?= -D_FORTIFY_SOURCE=1
OPENWRT_LDFLAGS  ?= -Wl,--gc-sections
OPENWRT_STAGING  ?= $(OPENWRT_OUT)/staging
# The package build, with every variable the SDK passes it.
OPENWRT_PACKAGE   = $(MAKE) --no-print-directory -C openwrt/lang/lua-dualstack \
	TOPDIR=$(CURDIR)/test/openwrt-sdk TARGET_CC="$(OPENWRT_CC)" \
	TARGET_CFLAGS="$(OPENWRT_CFLAGS)" TARGET_CPPFLAGS="$(OPENWRT_CPPFLAGS)" \
	TARGET_LDFLAGS="$(OPENWRT_LDFLAGS)" STAGING_DIR=$(abspath $(OPENWRT_STAGING)) \
	BUILD_DIR=$(CURDIR)/$(OPENWRT_OUT) IPKG_DIR=$(CURDIR)/$(OPENWRT_OUT)/root package

$(OPENWRT_OUT)/staging/usr/include/lua5.4/lua.h:
	@test -n "$(LUA_INC)" || { echo "lua5.4 headers not found: run 'make deps'"; exit 1; }
	mkdir -p $(dir $@)
	cp $(patsubst -I%,%,$(firstword $(filter -I%,$(LUA_INC))))/*.h $(dir $@)

check-openwrt: $(if $(filter $(OPENWRT_OUT)/%,$(OPENWRT_STAGING)),$(OPENWRT_OUT)/staging/usr/include/lua5.4/lua.h)
	$(OPENWRT_PACKAGE)
	test/openwrt-check.sh $(CURDIR)/$(OPENWRT_OUT)/root $(VERSION)
