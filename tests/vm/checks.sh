# shellcheck shell=bash disable=SC2034,SC2004 # variables are for the sourcing script; RESULT and REASON are its associative arrays
# What the VM tiers' runners (run-e2e.sh, hub/run-hub.sh) share: the payload
# they build (image, clusterboot installed with DESTDIR, the emulated boards'
# sources and flags) and how they report their checks. Sourced after lib.sh;
# the runner sets TOP, BUILD, PAYLOAD, OUT, T0, CHECKS, RESULTS_FILE and
# declares the associative arrays RESULT and REASON.

# The board model every board program links, and the warnings it builds with (as meson's).
EMU_BOARD_SOURCES=("$TOP/tests/emu/board.c" "$TOP/tests/emu/board-desc.c" "$TOP/tests/emu/board-soc.c"
	"$TOP/tests/emu/board-spec.c" "$TOP/tests/emu/board-verify.c")
EMU_CFLAGS=(-std=gnu17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wpedantic -Werror -Wno-unused-parameter -Wshadow
	-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wimplicit-fallthrough -Wvla -I"$TOP/tests/emu")

# checks_finish: prints a line per check and the totals, writes --results, exits (non-zero on a failure).
checks_finish() {
	local name passed=0 failed=0 skipped=0 line r
	echo
	for name in "${CHECKS[@]}"; do
		case ${RESULT[$name]:-FAIL} in
		PASS) line="PASS $name${REASON[$name]:+ (${REASON[$name]})}"; passed=$((passed + 1)) ;;
		SKIP) line="SKIP $name: ${REASON[$name]}"; skipped=$((skipped + 1)) ;;
		*) line="FAIL $name: ${REASON[$name]:-no result}"; failed=$((failed + 1)) ;;
		esac
		echo "$line"
	done
	if [ -n "$RESULTS_FILE" ]; then
		mkdir -p "$(dirname "$RESULTS_FILE")"
		: > "$RESULTS_FILE"
		for name in "${CHECKS[@]}"; do
			r=${RESULT[$name]:-FAIL}
			[ "$r" = PASS ] && r=OK
			printf '{"name": "%s", "result": "%s"}\n' "$name" "$r" >> "$RESULTS_FILE"
		done
	fi
	log "total $(elapsed "$T0") s; logs in $OUT"
	[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# checks_fail_all REASON: nothing ran; every check fails for REASON.
checks_fail_all() {
	local name
	for name in "${CHECKS[@]}"; do
		RESULT[$name]=FAIL
		REASON[$name]=$1
	done
	checks_finish
}

# payload_start: root, a fresh OUT and PAYLOAD, the VM image built (or taken from the cache).
payload_start() {
	local t
	[ "$(id -u)" -eq 0 ] || die "must run as root (the VM image build uses apt-get, debootstrap, chroot)"
	rm -rf "$OUT" "$PAYLOAD"
	mkdir -p "$OUT" "$PAYLOAD"/{bin,root}
	t=$(now)
	if ! "$VM_DIR/build-image.sh" > "$OUT/build-image.log" 2>&1; then
		tail -n 30 "$OUT/build-image.log" >&2
		fail_all "the VM image could not be built (see $OUT/build-image.log)"
	fi
	log "VM image ready in $(elapsed "$t") s (cache $CBVM_CACHE)"
}

# payload_install_clusterboot [PKG...]: the build dependencies (and pkg-config modules PKG) installed,
# clusterboot built in BUILD (prefix /usr) and installed into PAYLOAD/root.
payload_install_clusterboot() {
	if ! command -v meson > /dev/null || ! pkg-config --exists libusb-1.0 libsystemd libudev json-c "$@"; then
		"$TOP/tests/install-deps.sh" > "$OUT/install-deps.log" 2>&1 ||
			fail_all "installing the build dependencies failed (see $OUT/install-deps.log)"
	fi
	{
		if [ -f "$BUILD/build.ninja" ]; then
			meson configure "$BUILD" -Dprefix=/usr
		else
			meson setup "$BUILD" "$TOP" --prefix=/usr
		fi && meson compile -C "$BUILD" &&
			DESTDIR="$PAYLOAD/root" meson install -C "$BUILD" --no-rebuild
	} > "$OUT/build.log" 2>&1 || {
		tail -n 40 "$OUT/build.log" >&2
		fail_all "building or installing clusterboot failed (see $OUT/build.log)"
	}
}

# checks_read_results FILE RC: the guest's "PASS|FAIL|SKIP name[: why| (note)]" lines into RESULT and
# REASON (a check the guest reports that is not in CHECKS still counts); a listed check with no line
# fails, saying whether the VM (exit code RC; 124: its time limit) ran out of time.
checks_read_results() {
	local file=$1 rc=$2 line word rest name note
	while IFS= read -r line; do
		case $line in
		PASS\ * | FAIL\ * | SKIP\ *)
			word=${line%% *}
			rest=${line#* }
			name=${rest%%[: ]*}
			note=${rest#"$name"}
			note=${note#: }
			note=${note# (}
			[ "$word" = PASS ] && note=${note%)}
			[[ " ${CHECKS[*]} " == *" $name "* ]] || CHECKS+=("$name")
			RESULT[$name]=$word
			REASON[$name]=$note
			;;
		esac
	done < <(cat "$file" 2> /dev/null)
	for name in "${CHECKS[@]}"; do
		if [ -z "${RESULT[$name]:-}" ]; then
			RESULT[$name]=FAIL
			if [ "$rc" -eq 124 ]; then
				REASON[$name]="not reached: the VM timed out (see $OUT/console.log)"
			else
				REASON[$name]="no result from the guest (VM exit code $rc; see $OUT/console.log)"
			fi
		fi
	done
}
