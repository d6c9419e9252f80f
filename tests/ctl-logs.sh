#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# clusterbootctl logs and the log lines under `status NODE`, read with
# sd-journal from journal files made of entries shaped as the daemon logs
# them (MESSAGE "node: ...", CLUSTERBOOT_NODE=, CLUSTERBOOT_PORT=, PRIORITY=):
# the node's own entries in order, -n, a renamed node found by its port,
# and -f showing an entry that arrives later.
# usage: ctl-logs.sh CLUSTERBOOTCTL
set -u
ctl=$1
remote=/lib/systemd/systemd-journal-remote
[ -x "$remote" ] || { echo "SKIP: $remote (systemd-journal-remote) is not installed"; exit 77; }
tmp=$(mktemp -d) || exit 2
trap 'kill $follower 2>/dev/null; rm -rf "$tmp"' EXIT
follower=
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
boot=0123456789abcdef0123456789abcdef

# entry SECONDS PRIORITY NODE PORT TEXT: one entry in journal export format
entry() {
        printf '__REALTIME_TIMESTAMP=%s000000\n__MONOTONIC_TIMESTAMP=%s000000\n_BOOT_ID=%s\n' "$1" "$1" "$boot"
        printf 'MESSAGE=%s: %s\nPRIORITY=%s\nCLUSTERBOOT_NODE=%s\nCLUSTERBOOT_PORT=%s\nSYSLOG_IDENTIFIER=clusterboot\n\n' \
                "$3" "$5" "$2" "$3" "$4"
}
mkdir "$tmp/journal"
{
        entry 1700000000 6 old3 1-1.3 "state rom: before the rename"
        entry 1700000001 6 node3 1-1.3 "state rom: loader sent"
        entry 1700000002 6 node4 1-1.4 "state rom: not node3's"
        entry 1700000003 4 node3 1-1.3 "timed out; retrying (1 left)"
        entry 1700000004 6 node3 1-1.3 "state up: up after 2.1s, on attempt 1"
} | "$remote" --output="$tmp/journal/one.journal" - 2>"$tmp/remote.err" || { cat "$tmp/remote.err"; exit 2; }

# no daemon on this socket: the node is looked for by the word given, as name and port
run() { CLUSTERBOOT_SOCKET=$tmp/none TZ=UTC "$ctl" -D "$tmp/journal" "$@"; }

run logs node3 >"$tmp/all" 2>&1 || fail "logs node3: exit $?"
cat >"$tmp/want" <<'OUT'
2023-11-14 22:13:21 node3: state rom: loader sent
2023-11-14 22:13:23 node3: timed out; retrying (1 left)
2023-11-14 22:13:24 node3: state up: up after 2.1s, on attempt 1
OUT
cmp -s "$tmp/all" "$tmp/want" || { fail "logs node3 printed:"; cat "$tmp/all"; }

run -n 2 logs node3 >"$tmp/two" 2>&1 || fail "logs -n 2 node3: exit $?"
tail -n 2 "$tmp/want" | cmp -s "$tmp/two" - || { fail "logs -n 2 node3 printed:"; cat "$tmp/two"; }

# by its port: the entries from before a rename too
run logs 1-1.3 >"$tmp/port" 2>&1 || fail "logs 1-1.3: exit $?"
grep -q "old3: state rom: before the rename" "$tmp/port" || { fail "logs 1-1.3 lacks the entry before the rename:"; cat "$tmp/port"; }
grep -q "node4" "$tmp/port" && fail "logs 1-1.3 shows node4"

run logs nobody-here >"$tmp/none.out" 2>"$tmp/none.err"; st=$?
[ $st = 0 ] && [ ! -s "$tmp/none.out" ] && grep -q "no journal entries for nobody-here" "$tmp/none.err" ||
        fail "logs of a node with no entries: exit $st, $(cat "$tmp/none.out" "$tmp/none.err")"

# -f: the last entries, then one that arrives later (a new journal file, as journald starts one)
CLUSTERBOOT_SOCKET=$tmp/none TZ=UTC "$ctl" -D "$tmp/journal" -n 1 -f logs node3 >"$tmp/follow" 2>&1 &
follower=$!
for _ in $(seq 100); do [ -s "$tmp/follow" ] && break; sleep 0.1; done
entry 1700000005 3 node3 1-1.3 "state failed: came later" |
        "$remote" --output="$tmp/journal/two.journal" - 2>"$tmp/remote.err" || { cat "$tmp/remote.err"; exit 2; }
for _ in $(seq 100); do grep -q "came later" "$tmp/follow" && break; sleep 0.1; done
kill -INT $follower; wait $follower; st=$?; follower=
[ $st = 0 ] || fail "logs -f ended with $st after Ctrl-C"
printf '2023-11-14 22:13:24 node3: state up: up after 2.1s, on attempt 1\n2023-11-14 22:13:25 node3: state failed: came later\n' |
        cmp -s "$tmp/follow" - || { fail "logs -f printed:"; cat "$tmp/follow"; }

if [ "$failures" -gt 0 ]; then exit 1; fi
echo "ctl-logs: all checks passed"
