#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/vm/wire-check.py on usbmon records the VM tier took (tests/data/wire/):
# the Zero set up as the reference capture was equals it, a CM4's record
# keeps the reference host's rules against a boot directory of its files'
# sizes, and each is refused once it is changed the ways a wrong host would
# differ: a bulk run cut short, a file of another size, a standard request
# the reference never sends.
# usage: wire-check.sh SOURCE_ROOT
set -u
src=$1
check="python3 $src/tests/vm/wire-check.py"
data=$src/tests/data/wire
reference=$src/tests/data/reference/rpiboot-wire-zero.txt
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
must_pass() { # must_pass WHAT ARGS...
	what=$1
	shift
	out=$($check "$@" 2>&1) || fail "$what: $out"
}
must_fail() {
	what=$1
	shift
	if out=$($check "$@" 2>&1); then fail "$what was accepted: $out"; fi
}

# the CM4's boot directory: its files' sizes as the VM had them (what a record's sizes are held to)
boot=$tmp/boot
mkdir -p "$boot/overlays"
while read -r name size; do
	truncate -s "$size" "$boot/$name"
done <<EOF
bootcode4.bin 104848
config.txt 29
start4.elf 2251392
fixup4.dat 5425
cmdline.txt 107
kernel8.img 8147456
bcm2711-rpi-cm4.dtb 52593
overlays/dwc2.dtbo 1500
EOF

must_pass "the Zero's record against the reference" exact "$data/zero-reference.usbmon" "$reference"
must_pass "the CM4's record against the rules" rules "$data/cm4.usbmon" --boot-dir "$boot" --soc 2711
# a CM4 whose start4.elf left while its request read was retried (a VM run under load): documented, "retried"
must_pass "the CM4's record with retried request reads" rules "$data/cm4-retried.usbmon" --boot-dir "$boot" --soc 2711

# the first bulk completion lost: a run of bytes short
awk '!done && / C Bo:/ { done = 1; next } { print }' "$data/zero-reference.usbmon" > "$tmp/short.usbmon"
must_fail "a bulk run short of the reference's" exact "$tmp/short.usbmon" "$reference"
# a CLEAR_FEATURE(ENDPOINT_HALT) right after the ROM's status read: nothing the reference sends
awk '{ print } !done && / C Ci:/ && prev ~ / s c0 00 0004 / {
		split($4, a, ":"); dev = a[2] ":" a[3]
		print "ffff0000deadbeef " $2 " S Co:" dev ":0 s 02 01 0000 0001 0000 0"
		print "ffff0000deadbeef " $2 " C Co:" dev ":0 0 0"
		done = 1
	} { prev = $0 }' "$data/cm4.usbmon" > "$tmp/extra.usbmon"
cmp -s "$data/cm4.usbmon" "$tmp/extra.usbmon" && fail "the CM4 record has no status read to add a request after"
must_fail "a CLEAR_FEATURE the reference never sends" rules "$tmp/extra.usbmon" --boot-dir "$boot" --soc 2711
# a boot directory whose kernel is a byte longer than what was sent
truncate -s 8147457 "$boot/kernel8.img"
must_fail "a kernel sent a byte short" rules "$data/cm4.usbmon" --boot-dir "$boot" --soc 2711

[ "$failures" -eq 0 ] && echo "wire-check: the records conform, and each change is caught"
[ "$failures" -eq 0 ]
