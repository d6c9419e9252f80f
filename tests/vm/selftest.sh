#!/bin/bash
# Tests of the VM harness itself (not of clusterboot): run-vm.sh must
#  - install a payload's root/ tree onto / the way `meson install` output
#    needs it (merged /usr kept, systemd and udev reloaded, sysusers run),
#  - pass the payload's exit code through and keep the guest journal,
#  - kill the VM and fail at its timeout.
# Run after build-image.sh. About a minute (three boots).
set -euo pipefail

LOG_TAG=vm-selftest
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d)
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT
RUN_VM=$VM_DIR/run-vm.sh
failures=0
check() { # check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		log "ok: $1"
	else
		log "FAIL: $1: expected $2, got $3"
		failures=$((failures + 1))
	fi
}

# --- 1. root/ tree install, as DESTDIR=payload/root meson install makes it.
p=$WORK/install
mkdir -p "$p/root/usr/bin" "$p/root/lib/systemd/system" \
	"$p/root/usr/lib/sysusers.d" "$p/root/lib/udev/rules.d"
cat > "$p/root/usr/bin/cbselftest-daemon" <<'EOF'
#!/bin/sh
echo started > /run/cbselftest.started
exec sleep infinity
EOF
chmod 755 "$p/root/usr/bin/cbselftest-daemon"
# Debian's systemd.pc puts units in /lib/systemd/system: the tree has lib/,
# which must not replace the guest's /lib -> usr/lib symlink.
printf '[Service]\nExecStart=/usr/bin/cbselftest-daemon\n' \
	> "$p/root/lib/systemd/system/cbselftest.service"
echo 'u cbselftest - "harness self-test"' > "$p/root/usr/lib/sysusers.d/cbselftest.conf"
echo '# harness self-test' > "$p/root/lib/udev/rules.d/99-cbselftest.rules"
# A binary built on the host against the daemon's libraries must run in the
# guest (same Debian 12 sonames): the plan for installing clusterboot.
LIBS="libusb-1.0 libsystemd libudev json-c"
# shellcheck disable=SC2086 # $LIBS is a list
if pkg-config --exists $LIBS; then
	cat > "$WORK/libs.c" <<'EOF'
#include <json-c/json.h>
#include <libudev.h>
#include <libusb-1.0/libusb.h>
#include <stdio.h>
#include <systemd/sd-event.h>
int main(void) {
	sd_event *e = NULL;
	struct udev *u = udev_new();
	json_object *o = json_object_new_object();
	if (sd_event_default(&e) < 0 || !u || !o || libusb_init(NULL) != 0)
		return 1;
	puts("libs ok");
	return 0;
}
EOF
	# shellcheck disable=SC2046,SC2086 # word splitting is intended
	cc -o "$p/root/usr/bin/cbselftest-libs" "$WORK/libs.c" $(pkg-config --cflags --libs $LIBS)
else
	log "(no -dev packages for $LIBS: the host-built binary check is skipped)"
	printf '#!/bin/sh\necho libs ok\n' > "$p/root/usr/bin/cbselftest-libs"
	chmod 755 "$p/root/usr/bin/cbselftest-libs"
fi
# A restrictive mode on root/ itself must not leak onto the guest's /.
chmod 700 "$p/root"
cat > "$p/run" <<'EOF'
#!/bin/bash
set -euo pipefail
test -L /lib
test "$(stat -c %a /)" = 755
test -f /usr/lib/udev/rules.d/99-cbselftest.rules
getent passwd cbselftest
systemctl start cbselftest.service
systemctl is-active cbselftest.service
test -f /run/cbselftest.started
cbselftest-libs
EOF
chmod 755 "$p/run"
rc=0
"$RUN_VM" -o "$WORK/out1" "$p" > /dev/null || rc=$?
check "root/ tree installed and usable" 0 "$rc"

# --- 2. exit code passed through, journal kept for post-mortem.
p=$WORK/fail
mkdir -p "$p"
printf '#!/bin/sh\necho failing on purpose\nexit 7\n' > "$p/run"
chmod 755 "$p/run"
rc=0
"$RUN_VM" -o "$WORK/out2" "$p" > /dev/null || rc=$?
check "exit code" 7 "$rc"
check "journal saved on failure" yes "$([ -s "$WORK/out2/guest/journal.txt" ] && echo yes || echo no)"

# --- 3. timeout: the VM is killed, the run fails with 124.
p=$WORK/hang
mkdir -p "$p"
printf '#!/bin/sh\nsleep 1000\n' > "$p/run"
chmod 755 "$p/run"
rc=0
t=$(now)
CBVM_TIMEOUT=30 "$RUN_VM" -o "$WORK/out3" "$p" > /dev/null || rc=$?
check "timeout exit code" 124 "$rc"
check "timeout enforced" yes "$(awk -v e="$(elapsed "$t")" 'BEGIN { print (e < 45) ? "yes" : "no" }')"

if [ "$failures" -ne 0 ]; then
	log "$failures check(s) failed"
	exit 1
fi
log "all checks passed"
