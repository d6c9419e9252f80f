#!/bin/bash
# A long-lived test VM for interactive experiments: boot it once, then run
# commands in it one at a time from the host.
#
#   sudo tests/vm/vm-shell.sh start [PAYLOAD_DIR]  # boots in the background (~30 s)
#   sudo tests/vm/vm-shell.sh run 'CMD' [SECONDS]  # runs CMD in the guest (bash, root,
#                                                  # cwd /opt/cbtest); prints its output,
#                                                  # exits with its code (default limit 120 s)
#   sudo tests/vm/vm-shell.sh stop                 # powers the guest off
#
# PAYLOAD_DIR (default build-vm/e2e-payload, left by tests/vm/run-e2e.sh)
# gives the guest its root/ tree (clusterboot installed as by `meson
# install`) and bin/ (gadget-boards); its `run` is replaced by a loop that
# executes the command files the host drops into the shared output
# directory. Nothing is loaded in the guest: start with e.g.
#   vm-shell.sh run 'modprobe dummy_hcd num=4 && modprobe raw_gadget'
# The host's STATE/out/guest/ is the guest's /opt/cbtest-out ($CBTEST_OUT):
# put a rebuilt gadget-boards there to run it without rebooting.
#
# Environment: CBVM_SHELL_DIR (state, default build-vm/vm-shell),
# CBVM_TIMEOUT (the VM's life, default 3600 s), the other CBVM_* of run-vm.sh.
set -euo pipefail

# shellcheck disable=SC2034 # used by lib.sh
LOG_TAG=vm-shell
export CBVM_CACHE=${CBVM_CACHE:-/var/cache/clusterboot-vm}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
TOP=$(cd "$VM_DIR/../.." && pwd)
STATE=${CBVM_SHELL_DIR:-$TOP/build-vm/vm-shell}
GUEST=$STATE/out/guest

running() { [ -s "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2> /dev/null; }

start() {
	local src=${1:-$TOP/build-vm/e2e-payload} i
	running && die "already running (pid $(cat "$STATE/pid")); stop it first"
	[ -d "$src" ] || die "no payload $src: run tests/vm/run-e2e.sh once, or name one"
	rm -rf "$STATE"
	mkdir -p "$STATE/payload" "$GUEST"
	for i in root bin; do
		[ -d "$src/$i" ] && cp -a "$src/$i" "$STATE/payload/"
	done
	cat > "$STATE/payload/run" << 'EOF'
#!/bin/bash
# vm-shell.sh's guest side: runs the command files the host drops into $CBTEST_OUT/cmd/.
Q=$CBTEST_OUT/cmd
mkdir -p "$Q"
touch "$CBTEST_OUT/ready"
echo "VM-SHELL-READY"
while [ ! -e "$CBTEST_OUT/stop" ]; do
	for f in "$Q"/*.sh; do
		[ -e "$f" ] && [ ! -e "${f%.sh}.rc" ] || continue
		bash "$f" > "${f%.sh}.out" 2>&1 < /dev/null
		echo $? > "${f%.sh}.rc.tmp" && mv "${f%.sh}.rc.tmp" "${f%.sh}.rc"
	done
	sleep 0.2
done
EOF
	chmod 755 "$STATE/payload/run"
	CBVM_TIMEOUT=${CBVM_TIMEOUT:-3600} setsid "$VM_DIR/run-vm.sh" -o "$STATE/out" "$STATE/payload" \
		> "$STATE/vm.log" 2>&1 < /dev/null &
	echo $! > "$STATE/pid"
	for i in $(seq 600); do
		[ -e "$GUEST/ready" ] && { log "guest ready (console: $STATE/out/console.log)"; return 0; }
		running || die "the VM ended before it was ready: see $STATE/vm.log"
		sleep 0.2
	done
	die "the guest did not get ready in 120 s: see $STATE/out/console.log"
}

run() {
	local cmd=$1 limit=${2:-120} id i
	running || die "not running: vm-shell.sh start first"
	id=$(date +%s%N)
	mkdir -p "$GUEST/cmd"
	printf 'cd /opt/cbtest\n%s\n' "$cmd" > "$GUEST/cmd/$id.tmp"
	mv "$GUEST/cmd/$id.tmp" "$GUEST/cmd/$id.sh"
	for ((i = 0; i < limit * 10; i++)); do
		if [ -e "$GUEST/cmd/$id.rc" ]; then
			cat "$GUEST/cmd/$id.out"
			return "$(cat "$GUEST/cmd/$id.rc")"
		fi
		sleep 0.1
	done
	die "no answer in ${limit}s (the command may still be running in the guest)"
}

stop() {
	local i
	running || { log "not running"; return 0; }
	touch "$GUEST/stop"
	for i in $(seq 150); do
		running || { log "stopped"; return 0; }
		sleep 0.2
	done
	kill -- "-$(cat "$STATE/pid")" 2> /dev/null || true
	log "killed"
}

[ "$(id -u)" -eq 0 ] || die "must run as root"
case ${1:-} in
start) shift; start "$@" ;;
run) shift; [ $# -ge 1 ] || die "usage: $0 run 'CMD' [SECONDS]"; run "$@" ;;
stop) stop ;;
*) sed -n '2,21p' "$0" >&2; exit 2 ;;
esac
