#!/bin/sh
# Runs a command whose name lookups never leave the machine:
#   test/offline/run.sh COMMAND [ARG...]
# The specs look up names that do not exist. The system's resolver is an
# address they must never send to, so in a private mount namespace
# /etc/resolv.conf names 127.0.0.1, where test/offline/nxdomain.lua answers
# every query "no such name", as a real resolver answers those names.
# Needs root (a mount namespace, port 53) and LuaSocket for /usr/bin/lua5.4;
# without them it says why and runs the command as it is. Nested runs
# (DS_OFFLINE set) run the command directly.
if [ -n "${DS_OFFLINE:-}" ]; then exec "$@"; fi
here=$(cd "$(dirname "$0")" && pwd)
why=""
if [ "$(id -u)" != 0 ]; then why="not root"
elif ! command -v unshare >/dev/null; then why="no unshare"
elif ! /usr/bin/lua5.4 -e 'require "socket"' 2>/dev/null; then why="no LuaSocket for /usr/bin/lua5.4"
fi
if [ -n "$why" ]; then
  echo "$0: name lookups use the system's resolver ($why)" >&2
  exec "$@"
fi
exec unshare -m --propagation private sh -c '
  here=$1; shift
  conf=$(mktemp) log=$(mktemp)
  printf "nameserver 127.0.0.1\noptions attempts:1 timeout:1\n" >"$conf"
  mount --bind "$conf" /etc/resolv.conf || exit 1
  /usr/bin/lua5.4 "$here/nxdomain.lua" 127.0.0.1 53 >"$log" 2>&1 &
  stub=$!
  n=0
  until grep -q "^ready" "$log"; do
    n=$((n + 1))
    if [ $n -gt 50 ] || ! kill -0 $stub 2>/dev/null; then
      echo "test/offline/run.sh: the stub resolver did not start:" >&2; cat "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  DS_OFFLINE=1 "$@"
  rc=$?
  kill $stub 2>/dev/null
  rm -f "$conf" "$log"
  exit $rc
' offline "$here" "$@"
