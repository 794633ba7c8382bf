#!/bin/sh
# test/fetch-source.sh PKG DIR [SUITE [NAME]]: prints the path of source
# package PKG's upstream tarball (NAME_*.orig.tar.*, NAME defaulting to PKG:
# lua-socket's is luasocket_*) in DIR, fetched with the workplace's
# debian-archive (DEBIAN_ARCHIVE) from SUITE (default unstable) when DIR
# has none. A
# tarball enters DIR only once it reads whole (tar -tf), so an interrupted
# download is fetched again, never used; signatures are never taken for it.
set -eu
pkg=${1:?usage: fetch-source.sh PKG DIR [SUITE [NAME]]}
dir=${2:?usage: fetch-source.sh PKG DIR [SUITE [NAME]]}
suite=${3:-unstable}
name=${4:-$pkg}
: "${DEBIAN_ARCHIVE:=debian-archive}"

found() {
  for t in "$1/$name"_*.orig.tar.gz "$1/$name"_*.orig.tar.xz "$1/$name"_*.orig.tar.bz2; do
    [ -f "$t" ] && echo "$t"
  done | LC_ALL=C sort | tail -n 1
}

tar=$(found "$dir")
if [ -z "$tar" ]; then
  mkdir -p "$dir"
  tmp=$(mktemp -d "$dir/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  SUITE=$suite "$DEBIAN_ARCHIVE" source "$pkg" "$tmp" >/dev/null
  got=$(found "$tmp")
  [ -n "$got" ] || { echo "fetch-source: no upstream tarball of $pkg in $suite" >&2; exit 1; }
  tar -tf "$got" >/dev/null || { echo "fetch-source: $got does not read whole" >&2; exit 1; }
  mv "$got" "$dir/"
  tar=$dir/$(basename "$got")
fi
echo "$tar"
