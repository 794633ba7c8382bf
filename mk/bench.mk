# make bench: the performance harness of issues 5 and 12 (see bench/README.md).
# Builds the module and the C programs of bench/, then bench/run.lua
# measures every contender through the fixed peer and writes
# bench/out/report.md (bench/out is git-ignored).
BENCH_DEPS   := lua-socket valgrind linux-perf strace util-linux
BENCH_CFLAGS := -std=c99 -O2 -Wall -Wextra -Werror
BENCH_BIN    := bench/out/peer bench/out/c_contender bench/out/floor.so

.PHONY: bench bench-bin bench-gso

bench:
	@.ci/deps $(BUILD_DEPS) $(BENCH_DEPS)
	@$(MAKE) --no-print-directory all bench-bin
	@$(LUA) bench/run.lua; status=$$?; cat bench/out/report.md; \
	  $(MAKE) --no-print-directory bench-gso || status=1; exit $$status

# Bulk UDP with and without GSO/GRO (dualstack only: no peer needed).
bench-gso: all
	@mkdir -p bench/out
	taskset -c 0 $(LUA) bench/gso.lua 256 | tee bench/out/gso.md

bench-bin: $(BENCH_BIN)

bench/out/%: bench/%.c bench/util.c bench/util.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< bench/util.c

# The Lua floor (bench/floor.c): a Lua module, loaded by bench/floor_loop.lua.
bench/out/floor.so: bench/floor.c bench/util.h
	@test -n "$(LUA_INC)" || { echo "lua5.4 headers not found: run 'make deps'"; exit 1; }
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $(LUA_INC) -fPIC -shared -o $@ $<
