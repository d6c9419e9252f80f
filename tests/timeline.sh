#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `clusterbootctl timeline` on a saved history (tests/data/history-sample.json:
# clean boots, the seed's failure power-cycled three times at the same point,
# a reset then a power cycle then failed, an interrupted boot, a running one,
# a name with XML's markup characters): the SVG is read back and compared with
# the history (timeline-check.py), with --last and --since too, and it
# renders in rsvg-convert (librsvg2-bin) at its size. The daemon's own
# history goes the same way in umockdev-ctl's `history`.
# usage: timeline.sh CLUSTERBOOTCTL SOURCE_ROOT
set -u
ctl=$1 src=$2
sample=$src/tests/data/history-sample.json
check=$src/tests/timeline-check.py
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$ctl" timeline --input="$sample" -o "$tmp/all.svg" || fail "timeline: exit $?"
python3 "$check" "$tmp/all.svg" "$sample" || fail "the picture does not match the history"

"$ctl" timeline --input="$sample" --last=1 -o "$tmp/last.svg" || fail "--last=1: exit $?"
python3 "$check" "$tmp/last.svg" "$sample" --last 1 || fail "--last=1 does not match"

# the moment of the fourth boot: it and the later ones
since=$(python3 -c 'import json,sys; b=sorted(x["start_usec"] for x in json.load(open(sys.argv[1]))["boots"]); print(b[3]//1000000)' "$sample")
"$ctl" timeline --input="$sample" --since=@"$since" -o "$tmp/since.svg" || fail "--since: exit $?"
python3 "$check" "$tmp/since.svg" "$sample" --since $((since * 1000000)) || fail "--since does not match"

# the README's picture is what the tool draws today
TZ=UTC "$ctl" timeline --input="$sample" -q -o "$tmp/utc.svg" || fail "timeline TZ=UTC: exit $?"
cmp -s "$tmp/utc.svg" "$src/tests/data/history-sample.svg" ||
        fail "tests/data/history-sample.svg is not what the tool draws (redraw it as the README says)"

# the demo's picture (tests/data/demo-timeline.svg, as ./setup.sh brought it
# out of its VM) is what the tool draws from the demo's history
demo=$src/tests/data/demo-history.json
TZ=UTC "$ctl" timeline --input="$demo" -q -o "$tmp/demo.svg" || fail "timeline of the demo: exit $?"
cmp -s "$tmp/demo.svg" "$src/tests/data/demo-timeline.svg" ||
        fail "tests/data/demo-timeline.svg is not what the tool draws from tests/data/demo-history.json"
python3 "$check" "$tmp/demo.svg" "$demo" || fail "the demo's picture does not match its history"

# into a pipe it writes to stdout: the same picture
"$ctl" timeline --input="$sample" >"$tmp/stdout.svg" || fail "timeline to stdout: exit $?"
cmp -s "$tmp/all.svg" "$tmp/stdout.svg" || fail "stdout differs from -o"

# mistakes: a clear error, and no file (nor a half one) left
printf '{"boots": [' >"$tmp/cut.json"
out=$("$ctl" timeline --input="$tmp/cut.json" -o "$tmp/cut.svg" 2>&1) && fail "a cut history was drawn"
case $out in *"not the output of history --json"*) ;; *) fail "cut history: said '$out'" ;; esac
[ -e "$tmp/cut.svg" ] && fail "a picture was written from a cut history"
"$ctl" timeline --input="$sample" -o "$tmp/no/such/dir.svg" 2>/dev/null && fail "wrote into a missing directory"
"$ctl" timeline --input="$sample" --since=yesterdayish -o "$tmp/x.svg" 2>/dev/null
[ $? = 2 ] || fail "--since=yesterdayish: not a usage error"

if command -v rsvg-convert >/dev/null; then
        rsvg-convert -o "$tmp/all.png" "$tmp/all.svg" 2>"$tmp/rsvg.err" || fail "rsvg-convert: $(cat "$tmp/rsvg.err")"
        [ -s "$tmp/rsvg.err" ] && fail "rsvg-convert warned: $(cat "$tmp/rsvg.err")"
        size=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print(*struct.unpack(">II", d[16:24])) if d[:8]==b"\x89PNG\r\n\x1a\n" else print("not a PNG")' "$tmp/all.png")
        want=$(python3 -c 'import sys,xml.etree.ElementTree as E; r=E.parse(sys.argv[1]).getroot(); print(r.get("width"), r.get("height"))' "$tmp/all.svg")
        [ "$size" = "$want" ] || fail "rsvg-convert made $size, the picture is $want"
else
        echo "SKIP: no rsvg-convert (apt-get install librsvg2-bin)"
        [ "$failures" = 0 ] && exit 77
fi
[ "$failures" = 0 ] || exit 1
echo "timeline: all checks passed"
