#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `clusterboot --check-config` as a user and an editor see it: the README's
# example and the installed example are accepted without a warning about
# their syntax; a wrong file gets one "file:line: message" per mistake (no
# timestamps, no "refusing to start"), with "did you mean" for a misspelt
# key, and a warning for a '#' inside a value. What the machine lacks (boot
# files, a usable state directory, the power commands) is a warning.
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

# the environment: what would not work here is a warning with the setting's line; the file is still valid
mkdir -p "$tmp/boot" "$tmp/node-boot" "$tmp/state"
: >"$tmp/not-a-directory"
cat >"$tmp/env.conf" <<CONF
[Daemon]
BootDirectory=$tmp/boot
StateDirectory=$tmp/not-a-directory/state
[Node a]
Port=1-1
BootDirectory=$tmp/absent
Power=command
PowerOnCommand=clusterboot-no-such-relay on %n
PowerOffCommand=$tmp/boot off
CONF
check env "$tmp/env.conf"
[ "$status" = 0 ] || fail "env: exit status $status, expected 0 (warnings only)"
grep -q ": OK (.*, 5 warnings" "$tmp/env.out" || fail "env: no 'OK ..., 5 warnings' line"
expect_env() {
        grep -qF "$1" "$tmp/env.err" || { fail "env: no line \"$1\""; cat "$tmp/env.err"; }
}
expect_env "$tmp/env.conf:2: warning: $tmp/boot/bootcode.bin is missing: no board can start booting"
expect_env "$tmp/env.conf:3: warning: the state directory $tmp/not-a-directory/state cannot be reached: Not a directory"
expect_env "$tmp/env.conf:6: warning: [Node a]: BootDirectory=$tmp/absent does not exist"
expect_env "$tmp/env.conf:8: warning: [Node a]: PowerOnCommand=: clusterboot-no-such-relay is not in \$PATH"
expect_env "$tmp/env.conf:9: warning: [Node a]: PowerOffCommand=: $tmp/boot cannot be run: not an executable file"
# fixed, it is quiet
: >"$tmp/boot/bootcode.bin"
sed -e "s|$tmp/not-a-directory/state|$tmp/state|" -e "s|$tmp/absent|$tmp/node-boot|" \
    -e "s|clusterboot-no-such-relay|true|" -e "s|$tmp/boot off|/bin/true off|" "$tmp/env.conf" >"$tmp/fixed.conf"
check fixed "$tmp/fixed.conf"
[ "$status" = 0 ] && [ ! -s "$tmp/fixed.err" ] || { fail "fixed: status $status, messages:"; cat "$tmp/fixed.err"; }

if [ "$failures" -gt 0 ]; then
        echo "--- stderr of the wrong file:"; cat "$tmp/bad.err"
        exit 1
fi
echo "check-config: all checks passed"
