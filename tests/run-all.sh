#!/usr/bin/env bash
# The whole test suite, as the README and CI run it (as root, Debian 12):
#   1. packages            tests/install-deps.sh
#   2. build + unit + integration tests (umockdev tier, the daemon also under valgrind)
#   3. the systemd unit: systemd-analyze verify + security (exposure score)
#   4. unit and integration tiers under ASan + UBSan (the fault soak included)
#   5. the unit tests and the soak under valgrind
#   6. the Debian package (dpkg-buildpackage, tests/build-deb.sh)
#   7. the fuzz targets under libFuzzer (clang, ASan + UBSan), 72 s of fuzzing, ~2 min with the build
#   8. the end-to-end tier in a VM (real kernel USB stack), unless CB_SKIP_VM=1
#   9. the hub tier in a VM (boards behind QEMU's usb-hub and the kernel's hub
#      driver), unless CB_SKIP_VM=1 or CB_SKIP_HUB_VM=1
#   9. the .deb of phase 6 installed with apt in a VM, boards booted with it,
#      purged (tests/vm/deb/), unless CB_SKIP_VM=1
# Ends with one line "N passed, N failed[, N skipped]"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
results=$top/build-results
rm -rf "$results"; mkdir -p "$results"
started=$(date +%s)
failed_phases=()

phase() { echo; echo "=== $* ($(( $(date +%s) - started ))s)"; }

phase "installing packages"
./tests/install-deps.sh || { echo "package installation failed"; exit 1; }

run_meson() { # NAME BUILDDIR SETUP-ARGS... -- TEST-ARGS...
        local name=$1 dir=$2; shift 2
        local setup=() ; while [ $# -gt 0 ] && [ "$1" != -- ]; do setup+=("$1"); shift; done; shift
        if [ ! -f "$dir/build.ninja" ]; then
                meson setup "$dir" "${setup[@]}" >"$results/$name-setup.log" 2>&1 || { cat "$results/$name-setup.log"; failed_phases+=("$name: setup"); return; }
        fi
        if ! ninja -C "$dir" >"$results/$name-build.log" 2>&1; then
                tail -50 "$results/$name-build.log"; failed_phases+=("$name: build"); return
        fi
        meson test -C "$dir" --print-errorlogs --logbase "$name" "$@" || failed_phases+=("$name: tests")
        cp "$dir/meson-logs/$name.json" "$results/$name.json" 2>/dev/null || true
}

# werror only here: CI's compiler is known; a user's newer one must not fail the build (meson.build)
phase "build and test"
run_meson plain build -Dwerror=true -- --num-processes 2

phase "systemd unit checks"
tests/check-unit.sh build "$results/unit-checks.json" || failed_phases+=("unit checks")

phase "ASan + UBSan"
# verify_asan_link_order=0: the daemon runs under umockdev's LD_PRELOAD in the integration tier
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:verify_asan_link_order=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_meson asan build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -- --num-processes 2 \
        --suite unit --suite umockdev

phase "valgrind"
CB_SOAK_BOOTS=200 run_meson valgrind build -- --suite unit --no-suite scripts --num-processes 2 \
        --wrapper 'valgrind --error-exitcode=66 --leak-check=full --errors-for-leak-kinds=definite,indirect --quiet'

phase "Debian package (dpkg-buildpackage)"
# The .deb (README: "Installing on a machine with boards"); ~35 s. The script checks its contents and postinst.
if tests/build-deb.sh build-deb >"$results/deb.log" 2>&1; then
        echo '{"name": "deb-builds", "result": "OK"}' >"$results/deb.json"
        tail -n 1 "$results/deb.log"
else
        tail -n 20 "$results/deb.log"
        echo '{"name": "deb-builds", "result": "FAIL"}' >"$results/deb.json"
fi

# The corpora replay in every phase above (the unit suite); here libFuzzer looks for new inputs, bounded
# in time. A crash, a sanitizer report or a failed check fails CI and prints the input in base64.
phase "fuzzing (${CB_FUZZ_SECONDS:-12}s per target)"
CB_FUZZ_SECONDS=${CB_FUZZ_SECONDS:-12} tests/fuzz/run.sh build-fuzz "$results/fuzz.json" || failed_phases+=("fuzz")

phase "benchmarks (figures only)"
# Figures are not judged, but a benchmark whose boards do not come up, or come up with the wrong
# files, is a failure like any other.
meson test -C build --benchmark --verbose > "$results/benchmarks.log" 2>&1 || failed_phases+=("benchmarks")
grep -E "bench-(boot|mixed|flood)|BCM|plug -> up|serial|concurrent|speed-up|flood|boot, first plug|root's status|FAIL" \
        "$results/benchmarks.log" || true

if [ "${CB_SKIP_VM:-0}" != 1 ] && [ -x tests/vm/run-e2e.sh ]; then
        phase "end to end (VM)"
        tests/vm/run-e2e.sh --results "$results/vm.json" || failed_phases+=("vm")
fi

if [ "${CB_SKIP_VM:-0}" != 1 ] && [ "${CB_SKIP_HUB_VM:-0}" != 1 ] && [ -x tests/vm/hub/run-hub.sh ]; then
        phase "hub tier (VM: boards behind QEMU's usb-hub)"
        tests/vm/hub/run-hub.sh --results "$results/vm-hub.json" || failed_phases+=("vm-hub")
fi

if [ "${CB_SKIP_VM:-0}" != 1 ] && [ -x tests/vm/deb/run-deb.sh ]; then
        phase "the .deb in a VM (apt install, boards, apt purge)"
        # the package phase 6 built (its path is the log's last line); ~1.5 min warm
        deb=$(tail -n 1 "$results/deb.log")
        [ -f "$deb" ] || deb=
        CBVM_DEB=$deb tests/vm/deb/run-deb.sh --results "$results/vm-deb.json" || failed_phases+=("vm-deb")
fi

phase "summary"
python3 - "$results" <<'PY'
import json, os, sys
passed = failed = skipped = 0
for f in sorted(os.listdir(sys.argv[1])):
    if not f.endswith('.json'):
        continue
    for line in open(os.path.join(sys.argv[1], f)):
        line = line.strip()
        if not line:
            continue
        t = json.loads(line)
        r = t.get('result')
        name = f[:-5] + '/' + t.get('name', '?')
        if r in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif r == 'SKIP':
            skipped += 1
        else:
            failed += 1
            print('FAILED:', name, r)
open(os.path.join(sys.argv[1], 'counts'), 'w').write(f'{passed} {failed} {skipped}\n')
PY
read -r passed failed skipped < "$results/counts"
for p in "${failed_phases[@]}"; do echo "phase failed: $p"; done
[ ${#failed_phases[@]} -gt 0 ] && [ "$failed" = 0 ] && failed=${#failed_phases[@]}
echo "total time $(( $(date +%s) - started ))s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
