# API reference (issue 4): LDoc over lua/ and docs/dualstack.luadoc.
#
#   make docs         HTML in build/docs/ (index.html); fails on any LDoc warning
#   make check-docs   fails, naming them, when public functions have no doc entry
#
# Both install Debian's lua-ldoc (and lua-markdown, which it formats with)
# through .ci/deps, like `make test`.

.PHONY: docs check-docs

LDOC      ?= ldoc
DOCS_DIR  := build/docs
# ldoc's script runs on Lua 5.1 or 5.2 only, though its package also
# accepts lua5.4 as its Lua: name 5.1 so a machine with 5.4 alone works.
DOCS_DEPS := lua-ldoc lua-markdown lua5.1
# LDoc changes into docs/ before reading its files: paths given to it are absolute.
LDOC_RUN   = $(LDOC) -c $(CURDIR)/docs/config.ld

docs:
	@.ci/deps $(DOCS_DEPS)
	@mkdir -p $(DOCS_DIR)
	$(LDOC_RUN) --fatalwarnings -d $(CURDIR)/$(DOCS_DIR) .

# The ldoc_names filter lists what LDoc documented (ldoc runs on Lua 5.1, so
# the filter module comes through LUA_PATH); docs/check.lua loads the
# in-tree module and compares its public functions with that list.
check-docs: docs
	@.ci/deps $(BUILD_DEPS)
	@$(MAKE) --no-print-directory all
	@LUA_PATH="$(CURDIR)/docs/?.lua;;" $(LDOC_RUN) --filter ldoc_names.emit . > $(DOCS_DIR)/names.tsv
	$(LUA) docs/check.lua $(DOCS_DIR)/names.tsv
