# The stand-in's package.mk: `make package` runs the package's steps in
# the SDK's order (Build/Prepare, Build/Configure, Build/Compile, then
# Package/NAME/install into IPKG_DIR, what the .ipk would hold).
# The rule below deletes these: never a path made from an empty variable.
$(if $(strip $(BUILD_DIR)),,$(error BUILD_DIR is empty))
PKG_BUILD_DIR ?= $(BUILD_DIR)/$(PKG_NAME)-$(PKG_VERSION)
IPKG_DIR      ?= $(BUILD_DIR)/ipkg-$(PKG_NAME)

$(if $(strip $(IPKG_DIR)),,$(error IPKG_DIR is empty))

define BuildPackage
.PHONY: package
package:
	rm -rf $(PKG_BUILD_DIR) $(IPKG_DIR)
	$(call Build/Prepare)
	$(call Build/Configure)
	$(call Build/Compile)
	mkdir -p $(IPKG_DIR)
	$(call Package/$(1)/install,$(IPKG_DIR))
endef
