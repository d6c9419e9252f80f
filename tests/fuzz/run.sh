#!/usr/bin/env bash
# Builds the libFuzzer targets with clang under ASan + UBSan and runs each for
# a bounded time, starting from its checked-in corpus (corpus/NAME, read
# only: new inputs go to a scratch directory). A crash, a leak, a sanitizer
# report, a failed check in a target or a hang (-timeout) fails the run; the
# input that did it is kept in BUILD_DIR/fuzz-artifacts/ and printed in base64.
#
# Usage: tests/fuzz/run.sh BUILD_DIR [RESULTS_JSON]
#   CB_FUZZ_SECONDS   time per run (default 12; six runs, as the lookup runs
#                     twice: with and without openat2)
# Without clang it says so and skips: the corpora still replay in the unit
# suite of every build (replay.c).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$1
results=${2:-/dev/null}
seconds=${CB_FUZZ_SECONDS:-12}
targets=(bootproto bootfiles config control tar)

if ! command -v clang >/dev/null; then
        echo "fuzz: no clang, skipped (install Debian's clang to fuzz; the corpora replay in the unit suite)"
        echo '{"name": "fuzz", "result": "SKIP"}' >>"$results"
        exit 0
fi
if [ ! -f "$build/build.ninja" ]; then
        CC=clang meson setup "$build" "$top" -Dfuzz=true -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
                -Dbuildtype=debugoptimized >"${TMPDIR:-/tmp}/cb-fuzz-setup.log" 2>&1 ||
                { cat "${TMPDIR:-/tmp}/cb-fuzz-setup.log"; echo '{"name": "fuzz-setup", "result": "FAIL"}' >>"$results"; exit 1; }
fi
build=$(cd "$build" && pwd)
ninja -C "$build" "${targets[@]/#/tests/fuzz/fuzz-}" >"$build/fuzz-build.log" 2>&1 ||
        { tail -40 "$build/fuzz-build.log"; echo '{"name": "fuzz-build", "result": "FAIL"}' >>"$results"; exit 1; }

artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0

run() { # NAME TARGET [ENV=VALUE...]
        local name=$1 target=$2; shift 2
        local scratch dict=() rc
        scratch=$(mktemp -d)
        [ -f "$here/$target.dict" ] && dict=(-dict="$here/$target.dict")
        env "$@" "$build/tests/fuzz/fuzz-$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
                -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "${dict[@]}" \
                "$scratch" "$here/corpus/$target" >"$build/$name.log" 2>&1
        rc=$?
        local runs
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$name.log")
        if [ $rc = 0 ]; then
                echo "$name: OK, ${runs:-?} inputs in ${seconds}s, $(ls "$scratch" | wc -l) new in the corpus"
                echo "{\"name\": \"$name\", \"result\": \"OK\"}" >>"$results"
        else
                echo "$name: FAILED (exit $rc)"
                grep -vE '^#[0-9]+' "$build/$name.log" | tail -60
                for a in "$artifacts/$name-"*; do
                        [ -f "$a" ] && echo "input $a: $(base64 -w0 <"$a")"
                done
                echo "{\"name\": \"$name\", \"result\": \"FAIL\"}" >>"$results"
                status=1
        fi
        rm -rf "$scratch"
}

run fuzz-bootproto bootproto
run fuzz-bootfiles bootfiles
run fuzz-bootfiles-no-openat2 bootfiles CB_FUZZ_NO_OPENAT2=1
run fuzz-config config
run fuzz-control control
run fuzz-tar tar
exit $status
