/*
** The one version number of dualstack. The module's _VERSION is this
** string; the Makefile reads it (make version), and the release rockspec,
** debian/changelog, the OpenWrt package and the install spec are checked
** against it (spec/version_spec.lua), so a release edits this line only.
*/
#ifndef DS_VERSION_H
#define DS_VERSION_H

#define DS_VERSION "0.1.0"

#endif
