#!/usr/bin/env bash
# Builds the test suite with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, RelWithDebInfo, no
# -march=native, no benchmarks) and runs the whole ctest suite under them; any sanitizer report fails the run.
# The consumer-project tests (tests/consumers: they configure and build three small CMake projects, with no qamw code
# of their own to check) are excluded: under ASan they only cost time. Pass ctest arguments to override, e.g.
# scripts/sanitize.sh -R golden.
#
# Usage: scripts/sanitize.sh [CTEST ARGS...]      Environment: ASAN_BUILD_DIR (default build-asan), SANITIZE_NICE (10)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${ASAN_BUILD_DIR:-build-asan}
niceness=${SANITIZE_NICE:-10}
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQAMW_BUILD_BENCH=OFF -DQAMW_NATIVE=OFF \
  -DQAMW_BUILD_EXAMPLES=OFF -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
start=$(date +%s)
nice -n "$niceness" cmake --build "$build" -j"$(nproc)"
echo "sanitize: built in $(($(date +%s) - start)) s"

# Every report is fatal (-fno-sanitize-recover=all); leaks are reported at exit; a stack trace for UBSan findings.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-E consumer)
start=$(date +%s)
nice -n "$niceness" ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "${args[@]}"
echo "sanitize: ctest under ASan+UBSan passed in $(($(date +%s) - start)) s"
