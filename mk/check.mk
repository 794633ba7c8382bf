# Memory-safety checks (issue 6): the spec suite under ASan+UBSan and under
# valgrind memcheck, and the libFuzzer targets in fuzz/. Each installs its
# Debian packages through .ci/deps, like `make test`.
#
#   make check-asan        core unit tests and the module built with
#                          -fsanitize=address,undefined,
#                          float-cast-overflow by gcc and by clang
#   make check-valgrind    spec suite under memcheck, leaks from core.so fail
#   make check-portable    the POSIX backend's fallbacks alone (no accept4,
#                          SOCK_CLOEXEC or batch calls): core tests, specs
#   make fuzz              each fuzz/*_fuzz.c for FUZZ_SECONDS (default 60)
#   make fuzz-merge        fold what `make fuzz` found into fuzz/corpus/

.PHONY: check-asan check-valgrind check-portable fuzz fuzz-build fuzz-merge

# The spec suite, and where busted's script is (run by an interpreter of ours).
CHECK_SPECS   ?= spec
BUSTED_SCRIPT ?= /usr/bin/busted

# ---- AddressSanitizer + UndefinedBehaviorSanitizer ----------------------
# The module is built with the sanitizers by each compiler in ASAN_COMPILERS,
# each in its own build/asan-<cc>/, and busted runs in build/asan-<cc>/lua
# (fuzz/asan_lua.c), a lua5.4 linked with them by the same compiler so the
# runtimes match: the runtime is in the program rather than LD_PRELOADed,
# so the processes specs start (sh, ip, a plain lua5.4 on build/) run
# without it. fuzz/preload.lua makes every `require "dualstack.core"` load
# the sanitized build. float-cast-overflow is named because neither
# compiler's -fsanitize=undefined includes it, and a double that does not
# fit an int (a timeout of weeks in milliseconds) is exactly that. Both
# compilers run even when the first finds something.
#
#   make check-asan                     gcc, then clang
#   make check-asan ASAN_COMPILERS=gcc  one of them
ASAN_COMPILERS ?= gcc clang
ASAN_DEPS  := clang libclang-rt-14-dev
ASAN_CHECKS := address,undefined,float-cast-overflow
ASAN_FLAGS := -O1 -g -fsanitize=$(ASAN_CHECKS) -fno-omit-frame-pointer \
              -fno-sanitize-recover=$(ASAN_CHECKS)
ASAN_ENV    = ASAN_OPTIONS=detect_leaks=1:exitcode=86:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
              UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=87
ASAN_BUILDS := $(foreach c,$(ASAN_COMPILERS),build/asan-$(c)/dualstack/core.so build/asan-$(c)/lua \
                 build/asan-$(c)/core_test)

build/asan-%/dualstack/core.so: $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$* $(ASAN_FLAGS) $(WARN) $(LUA_INC) -fPIC -shared -o $@ $(SRC) $(LDFLAGS)

# The core's unit tests (test/core_test.c), no Lua: they run first.
build/asan-%/core_test: test/core_test.c test/alloc.h $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$* $(ASAN_FLAGS) $(WARN) -Isrc/core -o $@ $< $(CORE_SRC)

build/asan-%/lua: fuzz/asan_lua.c
	@mkdir -p $(dir $@)
	$* $(ASAN_FLAGS) $(WARN) $(LUA_INC) -o $@ $< $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)

# The plain build too: specs run children on it.
check-asan: test-deps
	@.ci/deps $(ASAN_DEPS)
	@$(MAKE) --no-print-directory test-build $(ASAN_BUILDS)
	@failed=""; for c in $(ASAN_COMPILERS); do \
	  echo "check-asan: $$c"; \
	  $(ASAN_ENV) build/asan-$$c/core_test || { failed="$$failed $$c"; continue; }; \
	  $(OFFLINE) env $(ASAN_ENV) DS_CHECK_CORE=$(CURDIR)/build/asan-$$c/dualstack/core.so \
	    build/asan-$$c/lua fuzz/preload.lua $(BUSTED_SCRIPT) $(CHECK_SPECS) \
	    || failed="$$failed $$c"; \
	done; \
	test -z "$$failed" || { echo "check-asan: failed under:$$failed"; exit 1; }

# ---- the backend's fallbacks ---------------------------------------------
# Linux has every call the POSIX backend prefers, so its fallbacks (what
# macOS and the other BSDs build) would never compile here: DS_FORCE_PORTABLE
# turns the preferred calls off (src/sys/posix.h), and the core's tests and
# the spec suite run on that build, loaded as check-asan loads its own.
PORTABLE_FLAGS := $(CFLAGS) -DDS_FORCE_PORTABLE

build/portable/dualstack/core.so: $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(PORTABLE_FLAGS) $(WARN) $(LUA_INC) -fPIC -shared -o $@ $(SRC) $(LDFLAGS)

build/portable/core_test: test/core_test.c test/alloc.h $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(PORTABLE_FLAGS) $(WARN) -Isrc/core -o $@ $< $(CORE_SRC)

check-portable: test-deps
	@$(MAKE) --no-print-directory test-build build/portable/dualstack/core.so build/portable/core_test
	build/portable/core_test
	$(OFFLINE) env DS_CHECK_CORE=$(CURDIR)/build/portable/dualstack/core.so \
	  $(LUA) -e 'dofile("fuzz/preload.lua")' $(BUSTED_SCRIPT) $(CHECK_SPECS)

# ---- valgrind memcheck ----------------------------------------------------
# Every memory error fails, and every leak that is definite or indirect:
# lua5.4 and busted free all they allocate at lua_close (busted exits with
# os.exit(code, true)), so any such leak is the module's and no suppressions
# are needed. --keep-debuginfo keeps core.so's symbols for leak reports made
# after lua_close has unloaded it. Children (sh, ip, lua5.4) run natively.
VALGRIND      ?= valgrind
VALGRIND_OPTS := --tool=memcheck --error-exitcode=88 --leak-check=full \
                 --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
                 --keep-debuginfo=yes --num-callers=40

check-valgrind: test-deps
	@.ci/deps valgrind
	@$(MAKE) --no-print-directory test-build
	$(OFFLINE) $(VALGRIND) $(VALGRIND_OPTS) $(BUSTED) $(CHECK_SPECS)

# ---- libFuzzer --------------------------------------------------------------
# One binary per fuzz/<target>_fuzz.c, linked with src/core/*.c alone:
# the core includes no Lua header, so no liblua. `make fuzz` reads the
# kept corpus fuzz/corpus/<target>/ and writes what it finds to
# build/fuzz/corpus/<target>/, so runs never dirty the repository; crashes
# land in build/fuzz/crash-<target>-*.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -O1 -g -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst fuzz/%_fuzz.c,%,$(wildcard fuzz/*_fuzz.c))
FUZZ_BINS    := $(FUZZ_TARGETS:%=build/fuzz/%_fuzz)
FUZZ_DEPS    := clang libclang-rt-14-dev

build/fuzz/%_fuzz: fuzz/%_fuzz.c fuzz/fuzz.h test/alloc.h $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(WARN) -Isrc/core -o $@ $< $(CORE_SRC)

fuzz-build:
	@.ci/deps $(FUZZ_DEPS)
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

# Each target's options (max_len, dictionary) sit in fuzz/<target>.options.
# Every target runs even when an earlier one finds a crash.
fuzz: fuzz-build
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t fuzz/corpus/$$t; \
	  echo "fuzz $$t for $(FUZZ_SECONDS)s"; \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  build/fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build/fuzz/crash-$$t- \
	    $$(cat fuzz/$$t.options 2>/dev/null) build/fuzz/corpus/$$t fuzz/corpus/$$t \
	    || failed="$$failed $$t"; \
	done; \
	test -z "$$failed" || { echo "fuzz: crashes in:$$failed (inputs: build/fuzz/crash-*)"; exit 1; }

fuzz-merge: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  build/fuzz/$${t}_fuzz -merge=1 $$(cat fuzz/$$t.options 2>/dev/null) \
	    fuzz/corpus/$$t build/fuzz/corpus/$$t; \
	done
