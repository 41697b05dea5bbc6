#!/usr/bin/env bash
# Builds the test suite and the qamw tool with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, -O1 with
# line tables, no -march=native) and runs the Catch2 suite under them; any sanitizer report fails the run. Left out by
# default: the statistical quality tests ([quality]: 10^7-sample Monte-Carlo runs of code the other tests cover) and
# [slow] ones. Pass Catch2 test specs to choose others, e.g. scripts/sanitize.sh '[golden]'.
#
# Usage: scripts/sanitize.sh [CATCH2 TEST SPEC...]   Environment: ASAN_BUILD_DIR (default build-asan), SANITIZE_NICE (10)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${ASAN_BUILD_DIR:-build-asan}
niceness=${SANITIZE_NICE:-10}
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

scripts/require.sh build-essential cmake libeigen3-dev libxsimd-dev xtl-dev catch2 libcli11-dev nlohmann-json3-dev
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DQAMW_BUILD_BENCH=OFF -DQAMW_NATIVE=OFF -DQAMW_BUILD_EXAMPLES=OFF -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
start=$(date +%s)
nice -n "$niceness" cmake --build "$build" -j"$(nproc)" --target qamw_tests qamw_cli
echo "sanitize: built in $(($(date +%s) - start)) s"

# Every report is fatal (-fno-sanitize-recover=all); leaks are reported at exit; a stack trace for UBSan findings.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

spec=("$@")
[ ${#spec[@]} -gt 0 ] || spec=("~[quality]~[slow]")
start=$(date +%s)
nice -n "$niceness" "$build/tests/qamw_tests" "${spec[@]}"
echo "sanitize: the test suite (${spec[*]}) passed under ASan+UBSan in $(($(date +%s) - start)) s"
