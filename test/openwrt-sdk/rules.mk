# A stand-in for the OpenWrt SDK (which cannot be had here), just enough to
# run openwrt/lang/lua-dualstack/Makefile's steps as the SDK does: its
# variables, taken from the command line (make check-openwrt, CI's cross
# legs), and package.mk's BuildPackage. Not a model of the rest of the SDK.
INCLUDE_DIR     := $(TOPDIR)
TARGET_CC       ?= cc
TARGET_CFLAGS   ?= -Os -pipe
TARGET_CPPFLAGS ?=
TARGET_LDFLAGS  ?=
FPIC            := -fPIC
STAGING_DIR     ?= $(error STAGING_DIR: a directory with usr/include/lua5.4)
BUILD_DIR       ?= $(error BUILD_DIR: where the package is built)
INSTALL_DIR     := install -d -m0755
INSTALL_BIN     := install -m0755
INSTALL_DATA    := install -m0644
CP              := cp -fpR
