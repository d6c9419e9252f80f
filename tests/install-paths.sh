#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Where `meson install` puts things: with prefix /usr/local everything stays
# below it (systemd and udev read /usr/local/lib/... too; /lib belongs to
# dpkg); with prefix /usr the units and rules go where systemd.pc and udev.pc
# say (Debian: /lib/systemd/system, /lib/udev/rules.d). The installed
# example configuration is examples/clusterboot.conf, the file check-config
# feeds to --check-config.
# usage: install-paths.sh SOURCE_ROOT
set -u
src=$1
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

installed() { # PREFIX NAME: the installed paths, one a line; $tmp/NAME.map: "SOURCE -> PATH" lines
        meson setup "$tmp/$2" "$src" --prefix="$1" >"$tmp/$2.log" 2>&1 || { cat "$tmp/$2.log"; exit 2; }
        meson introspect "$tmp/$2" --installed >"$tmp/$2.json"
        python3 -c 'import json, sys; print("\n".join(f"{s} -> {d}" for s, d in json.load(open(sys.argv[1])).items()))' \
                "$tmp/$2.json" >"$tmp/$2.map"
        python3 -c 'import json, sys; print("\n".join(sorted(json.load(open(sys.argv[1])).values())))' "$tmp/$2.json"
}

installed /usr/local local >"$tmp/local.paths"
grep -q . "$tmp/local.paths" || fail "nothing installed with prefix /usr/local"
if grep -v '^/usr/local/' "$tmp/local.paths"; then fail "prefix /usr/local installs the files above outside it"; fi
grep -qx /usr/local/lib/systemd/system/clusterboot.service "$tmp/local.paths" || fail "no unit in /usr/local/lib/systemd/system"
grep -qx /usr/local/lib/udev/rules.d/60-clusterboot.rules "$tmp/local.paths" || fail "no rule in /usr/local/lib/udev/rules.d"

installed /usr usr >"$tmp/usr.paths"
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
udevdir=$(pkg-config --variable=udevdir udev 2>/dev/null || echo /lib/udev)
grep -qx "$unitdir/clusterboot.service" "$tmp/usr.paths" || fail "prefix /usr: no unit in $unitdir"
grep -qx "$udevdir/rules.d/60-clusterboot.rules" "$tmp/usr.paths" || fail "prefix /usr: no rule in $udevdir/rules.d"
grep -qx /usr/sbin/clusterboot "$tmp/usr.paths" || fail "prefix /usr: no /usr/sbin/clusterboot"
example="$(realpath "$src/examples/clusterboot.conf") -> /usr/share/doc/clusterboot/examples/clusterboot.conf"
grep -qxF "$example" "$tmp/usr.map" || fail "prefix /usr: not installed: $example"

[ "$failures" = 0 ] || exit 1
echo "install-paths: all checks passed"
