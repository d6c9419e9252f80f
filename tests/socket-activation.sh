#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Socket activation as clusterboot.socket does it: the socket exists before
# the daemon; the first client's call starts it (systemd-socket-activate
# hands it the listening socket, LISTEN_FDS), and the daemon answers on that
# socket instead of binding its own.
# usage: socket-activation.sh CLUSTERBOOT CLUSTERBOOTCTL
set -u
daemon=$1 ctl=$2
activate=$(command -v systemd-socket-activate) || { echo "SKIP: no systemd-socket-activate"; exit 77; }
tmp=$(mktemp -d) || exit 2
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/boot"
printf '[Daemon]\nBootDirectory=%s/boot\nStateDirectory=%s/state\nAutoNodes=no\n[Node node1]\nPort=9-1\n' \
        "$tmp" "$tmp" >"$tmp/clusterboot.conf"

"$activate" -l "$tmp/io.clusterboot" "$daemon" --config="$tmp/clusterboot.conf" --log-target=stderr \
        >"$tmp/log" 2>&1 &
pid=$!
# the socket is there before any daemon: systemd-socket-activate binds it first
for _ in $(seq 50); do [ -S "$tmp/io.clusterboot" ] && break; sleep 0.1; done
[ -S "$tmp/io.clusterboot" ] || { echo "FAIL: no socket"; cat "$tmp/log"; exit 1; }
grep -q "running;" "$tmp/log" && { echo "FAIL: the daemon started before anyone asked"; exit 1; }

out=$("$ctl" --socket="$tmp/io.clusterboot" --no-legend status 2>&1) || { echo "FAIL: status: $out"; cat "$tmp/log"; exit 1; }
case $out in
node1*absent*) ;;
*) echo "FAIL: status printed: $out"; cat "$tmp/log"; exit 1 ;;
esac
# it answered on the socket it was given: the path is the socket's, not one it bound
"$ctl" --socket="$tmp/io.clusterboot" --json=short status | grep -q "\"socket_path\":\"$tmp/io.clusterboot\"" ||
        { echo "FAIL: the daemon does not name the socket it was given"; exit 1; }
kill "$pid"; wait "$pid"; st=$?; pid=
[ "$st" = 0 ] || { echo "FAIL: the daemon exited with $st"; cat "$tmp/log"; exit 1; }
echo "socket-activation: all checks passed"
