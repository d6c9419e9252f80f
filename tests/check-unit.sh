#!/usr/bin/env bash
# Checks the installed systemd unit: `systemd-analyze verify` (syntax and
# semantics) and `systemd-analyze security --offline=yes` (prints the
# exposure score; fails above 1.0; 1.7 as root without capabilities, 1.2 as the user clusterboot before PrivateDevices= and UMask=0077, 1.0 now). Usage: check-unit.sh BUILD_DIR [RESULTS_JSON]
set -euo pipefail
build=$(realpath "$1")
results=${2:-/dev/null}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

meson setup "$work/b" --prefix=/usr >/dev/null
DESTDIR="$work/root" meson install -C "$work/b" >/dev/null
unit="$work/root/lib/systemd/system/clusterboot.service"
[ -f "$unit" ] || unit="$work/root/usr/lib/systemd/system/clusterboot.service"
# verify wants ExecStart= to exist: point it at the binary just built
sed -e "s|/usr/sbin/clusterboot|$build/daemon/clusterboot|" -e "s|/usr/bin/clusterbootctl|$build/ctl/clusterbootctl|" \
	"$unit" > "$work/clusterboot.service"

status=0
if systemd-analyze verify --man=no "$work/clusterboot.service"; then
        echo "systemd-analyze verify: OK"
        echo '{"name": "unit-verify", "result": "OK"}' >> "$results"
else
        echo "systemd-analyze verify: FAILED"
        echo '{"name": "unit-verify", "result": "FAIL"}' >> "$results"
        status=1
fi
systemd-analyze security --offline=yes "$work/clusterboot.service" | tee "$work/security.txt" | tail -25
score=$(sed -n 's/.*Overall exposure level for clusterboot.service: \([0-9.]*\).*/\1/p' "$work/security.txt")
echo "exposure score: $score (target <= 1.0)"
if awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 1.0) }'; then
        echo '{"name": "unit-security", "result": "OK"}' >> "$results"
else
        echo '{"name": "unit-security", "result": "FAIL"}' >> "$results"
        status=1
fi
exit $status
