#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `clusterboot --check-config` as a user and an editor see it: the README's
# example and the installed example are accepted without a warning about
# their syntax; a wrong file gets one "file:line: message" per mistake (no
# timestamps, no "refusing to start"), with "did you mean" for a misspelt
# key, and a warning for a '#' inside a value.
# usage: check-config.sh CLUSTERBOOT SOURCE_ROOT
set -u
clusterboot=$1 src=$2
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# check NAME FILE: runs the check, output in $tmp/NAME.out (stdout) and .err (stderr), status in $status
check() {
        "$clusterboot" --check-config --config="$2" >"$tmp/$1.out" 2>"$tmp/$1.err"
        status=$?
}

accepted_cleanly() { # NAME FILE
        check "$1" "$2"
        [ "$status" = 0 ] || { fail "$1: exit status $status"; cat "$tmp/$1.err"; }
        grep -q ": OK (" "$tmp/$1.out" || fail "$1: no OK line"
        if grep -E "error|warning: the value of" "$tmp/$1.err"; then fail "$1: syntax messages above"; fi
}

# the README's configuration block, as a user would paste it
awk '/^```ini$/ { inside = 1; next } /^```$/ { inside = 0 } inside' "$src/README.md" >"$tmp/readme.conf"
[ -s "$tmp/readme.conf" ] || fail "no \`\`\`ini block in README.md"
accepted_cleanly readme "$tmp/readme.conf"
accepted_cleanly example "$src/examples/clusterboot.conf"

cat >"$tmp/bad.conf" <<'CONF'
[Daemon]
BootDirectry=/srv/boot
MaxAttempts=5   # whole boots
[node n1]
Port=1-1
[Node n2]
Port=1-2
Powr=usb-hub
CONF
check bad "$tmp/bad.conf"
[ "$status" = 1 ] || fail "bad: exit status $status, expected 1"
# every line is "file:line: message" or "file: message", nothing in front
if grep -v -E "^$tmp/bad\.conf(:[0-9]+)?: " "$tmp/bad.err"; then fail "bad: lines above are not file:line: message"; fi
if grep -i "refusing to start" "$tmp/bad.err"; then fail "bad: says 'refusing to start' in check mode"; fi
expect() { # TEXT
        grep -qF "$1" "$tmp/bad.err" || fail "bad: no line \"$1\""
}
expect "$tmp/bad.conf:2: unknown key 'BootDirectry' in section [Daemon] (did you mean BootDirectory=?)"
expect "$tmp/bad.conf:3: warning: the value of MaxAttempts= contains '#'"
expect "$tmp/bad.conf:3: MaxAttempts= expects a number, got '5   # whole boots'"
expect "$tmp/bad.conf:4: unknown section [node n1] (did you mean [Node n1]?)"
expect "$tmp/bad.conf:8: unknown key 'Powr' in section [Node n2] (did you mean Power=?)"
expect "$tmp/bad.conf: 4 errors"

if [ "$failures" -gt 0 ]; then
        echo "--- stderr of the wrong file:"; cat "$tmp/bad.err"
        exit 1
fi
echo "check-config: all checks passed"
