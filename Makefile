# dualstack: build, test and demo. `make test` and `make demo` install
# their Debian packages when run as root (see .ci/deps).
LUA      ?= lua5.4
BUSTED   ?= $(LUA) /usr/bin/busted
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -std=c99 -Wall -Wextra -Werror
LUA_INC  := $(shell pkg-config --cflags lua5.4 2>/dev/null)
SRC      := $(wildcard src/*.c)
HDR      := $(wildcard src/*.h)
SO       := build/dualstack/core.so
SPEC_SO  := build/spec/testhelp.so

BUILD_DEPS := lua5.4 liblua5.4-dev pkg-config gcc make
TEST_DEPS  := $(BUILD_DEPS) lua-busted iproute2 util-linux lua-socket lua-cqueues lua-luv

.PHONY: all deps test-deps test-build demo test clean

all: $(SO)

$(SO): $(SRC) $(HDR)
	@test -n "$(LUA_INC)" || { echo "lua5.4 headers not found: run 'make deps' (or apt-get install $(BUILD_DEPS))"; exit 1; }
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(LUA_INC) -fPIC -shared -o $@ $(SRC) $(LDFLAGS)

# A C helper some specs load (spec/testhelp.c), not part of the module.
$(SPEC_SO): spec/testhelp.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) $(LUA_INC) -fPIC -shared -o $@ $<

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
	@$(MAKE) --no-print-directory test-build
	$(BUSTED) spec

clean:
	rm -rf build

# Benchmarks (bench/) and memory-safety checks add their targets here.
include $(wildcard mk/*.mk)
